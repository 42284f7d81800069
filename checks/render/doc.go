// Package render writes result records for a human at a terminal: the
// summary `picket check` prints, and the mtr-like table `picket trace`
// prints. It reads only the record (results.Result), never a check, so
// the same text can be made from a record that came from anywhere: a run
// on this machine or one a prober shipped.
//
// Machine-readable output is the record's own JSON; nothing here is meant
// to be parsed.
package render
