// Package sqlite is the embedded results.Store: one database file in WAL
// mode through modernc.org/sqlite (pure Go, no cgo), for `picket up` and
// small installs.
//
// One writer connection takes every write, serialised by a mutex, with
// prepared statements; readers use their own connections beside it. What
// needs no database (statement arguments, rollup deltas, merging and
// encoding rollups) is done before taking the writer, so that two cores
// overlap it with the writer's work.
//
// Ingest appends each batch's raw results (INSERT OR IGNORE on the
// unique id: a stored id is a duplicate, also when the same id arrives
// concurrently, the writer being single) and one row of pending rollup
// deltas. Batches that wait for the writer are stored together in one
// transaction (group commit); each is acknowledged once that transaction
// is committed, and fsynced (synchronous=FULL).
//
// A background compaction folds pending deltas into the minute and hour
// rollups (Store.Compact). Day and week packs, one row per (bucket,
// check) holding every vantage, are derived from the hour rows once an
// hour has ended, and a watermark (rollup_state 'hours') moves past it;
// a late result, for an hour derived already, is added to its packs by
// compaction (derive.go). Suffix and multi-week packs are summed from
// them for complete weeks (suffix.go). Reads add to the packs the hour
// rows at or after the watermark, and what is still pending, so they are
// exact whenever compaction and derivation run. Reports fold packs on
// every core (fold.go).
//
// Retention deletes rows in slices. The Locker is in-process: SQLite has
// one collector process.
package sqlite
