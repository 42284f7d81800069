// Package postgres is the production results.Store, on PostgreSQL through
// pgx/v5, shared by any number of collector replicas.
//
// Raw results are stored in packs (resultpacks.go): a row of
// result_packs holds the records of one ingest transaction, one UTC day
// and at most eight endpoints, in the feed's binary form (feedcodec.go)
// compressed (S2), with the columns reads select packs by (the first and
// last start, the sorted endpoints under a GIN index, a B-tree on the
// last start). Beside them result_ids holds one narrow row per result,
// (id, started_at), whose primary key makes ingest idempotent. Both are partitioned by day;
// the partitions a batch needs (and the next day's) are created on demand
// under an advisory lock, and retention drops whole partitions. The key
// is (id, started_at): a partitioned table's unique keys must contain the
// partition key, and that is enough because an id is a UUIDv7 made when
// the run started, so a re-sent record carries the same started_at and
// conflicts in the same partition. (Two different records with one id and
// different start times would both be kept; probers never make those.)
//
// Ingest copies a batch's ids (COPY, binary format built directly,
// copy.go) into result_ids, sorted, then its packs into result_packs, and
// appends one rollup_pending row holding the minute rollups of its
// results (rollup.Deltas), in one transaction that returns after the
// commit; the alert evaluator reads the packs (ResultsAfter). A
// batch holding a record already stored fails on the unique key and takes
// the merging path instead: its ids are copied into a per-connection
// temporary table, then INSERT ... ON CONFLICT DO NOTHING RETURNING says
// which are new, ordered by id so that overlapping batches wait for one
// another instead of deadlocking, and only those are packed.
//
// Query reads packs newest first (by their last start) and stops at the
// first one older than every result it keeps once it has its limit
// (resultquery.go): an endpoint's through the GIN index, in windows of
// time going back from now, each twice as long as the one before; all
// endpoints' through the B-tree, with a cursor. The raw results of a
// database from before packs stay in results_legacy, read and
// deduplicated against until retention has dropped them (legacy.go).
//
// Compaction (Store.Compact, in the background, one replica at a time
// under TryLock "rollup-compaction", which the replica keeps through the
// rest after each round) folds pending deltas into minute rows (copied in
// when new, updated otherwise) and hour rows (foldDeltas). It looks up
// only the minute rows an hour row says exist (minutes.go) and keeps the
// hour rows and the newest minute rows it wrote in memory while no one
// else writes any (rowcache.go). Day and longer rollups are not written
// per batch: once an hour has ended its rows are derived into packs, one
// row per (span, bucket, check) holding every vantage, for spans of 1, 2,
// 4, 8, 16 and 32 days and Monday weeks, compressed by the store (S2) and
// kept in their row (packs.go); a late result for an hour already derived
// is added to the packs by compaction.
//
// Reads are exact whatever compaction and derivation have done: they add
// to the packs the hour rows not derived yet, and to everything the
// pending deltas, all in one REPEATABLE READ snapshot (reads.go). An
// availability report covers the whole days of its window with a few
// packs per check (coverDays), folded on every core as the server sends
// them (fold.go), and the rest with one query summed on the server.
//
// Locker uses session-level advisory locks on one connection dedicated to
// them, so a lock dies with the process that held it.
package postgres
