// Package sqlite is the embedded results.Store: one database file in WAL
// mode through modernc.org/sqlite (pure Go, no cgo), for `picket up` and
// small installs.
//
// One writer connection takes every write, serialised by a mutex, with
// prepared statements and one transaction per batch; readers use their own
// connections beside it. Ingest inserts the batch with ON CONFLICT DO
// NOTHING (so a stored id is a duplicate, also when the same id arrives
// concurrently: the writer is single), then reads, merges and rewrites the
// minute, hour and day rollups the new results touch, all before the
// commit, which is fsynced (synchronous=FULL).
//
// Retention deletes rows in slices. The Locker is in-process: SQLite has
// one collector process.
package sqlite
