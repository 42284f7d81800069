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
// transaction, each in a savepoint (group commit); each is acknowledged
// once that transaction is committed, and fsynced (synchronous=FULL).
//
// A background compaction folds pending deltas into the minute and hour
// rollups and the day and week packs (Store.Compact), and
// derives suffix packs for complete weeks (suffix.go); reads add what is
// still pending, so they are exact whenever compaction runs. Reports fold
// packs on every core (fold.go).
//
// Retention deletes rows in slices. The Locker is in-process: SQLite has
// one collector process.
package sqlite
