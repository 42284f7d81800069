// Package outagelog logs a failure that repeats with every operation (a
// store that does not answer, a full disk, a collector refusing records)
// as one line when it starts, optional reminders while it lasts, and one
// line when it ends, instead of one line per failed operation: the line
// that says what is wrong, and since when, is not buried under copies of
// itself.
package outagelog
