// Package postgres is the production results.Store, on PostgreSQL through
// pgx/v5, shared by any number of collector replicas.
//
// Raw results live in a table partitioned by day on started_at; the
// partitions a batch needs (and the next day's) are created on demand
// under an advisory lock, and retention drops whole partitions. The
// primary key is (id, started_at): a partitioned table's unique keys must
// contain the partition key, and that is enough for idempotent ingest
// because an id is a UUIDv7 made when the run started, so a re-sent
// record carries the same started_at and conflicts in the same partition.
// (Two different records with one id and different start times would both
// be kept; probers never make those.)
//
// A batch is copied (COPY) into a per-connection temporary table, then
// inserted with INSERT ... ON CONFLICT DO NOTHING RETURNING id, ordered by
// id so that overlapping concurrent batches wait for one another instead
// of deadlocking; only the returned ids are rolled up. The minute, hour
// and day rollups they touch are read, merged in Go and written back in
// the same transaction, under a transaction-scoped advisory lock per
// vantage: rollup rows are per (check, vantage), so only batches of the
// same vantage contend, and they serialise. Ingest returns after the
// commit.
//
// Locker uses session-level advisory locks on one connection dedicated to
// them, so a lock dies with the process that held it.
package postgres
