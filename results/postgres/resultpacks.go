package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/picketnet/picket/results"
)

// resultPacksMigration stores raw results in packs (migration 14).
//
// A row of results cost the server 11–13 µs to store, most of it in its
// two B-trees (the primary key, and the index on (endpoint, started_at)
// whose thousand insertion points are spread over the tree). Now a
// result costs one entry in result_ids, a narrow key near the right edge
// (ids are UUIDv7, made when the run starts) that makes ingest
// idempotent, and a share of a result_packs row: one per (ingest
// transaction, UTC day, group of at most packEndpoints endpoints),
// holding its records in the feed's codec (feedcodec.go), compressed,
// with the columns reads select and order packs by. An endpoint's results
// are found through the GIN index on endpoints, the rest through the
// B-tree on started_max (resultquery.go). Storing a result costs the
// server about 8 µs instead of 16 (docs/stores.md, "Sixth round").
//
// The raw results of before stay readable where they are: results
// becomes results_legacy (legacy.go), which nothing writes any more, so
// that a replica of the previous version fails to ingest (and its probers
// deliver to another one) rather than writing where no one reads. A
// database without raw results yet drops it instead.
//
// Both tables are partitioned by day like results was, packs on
// started_min (a pack holds one day's records), so that retention drops
// whole partitions. The records are compressed by the store (S2, as
// rollup packs are) and kept as they are (STORAGE EXTERNAL: pglz would
// try again): they shrink to about a third (a pack's records repeat its
// endpoints, checks, targets and vantages), which stays in the row
// (packsStorage) where uncompressed they went to the TOAST table, and
// the server writes, and a read detoasts and sends, a third of the bytes:
// an endpoint's 1000 newest results cost the server 3 ms instead of 9, and
// ingest 2.3 µs of server CPU per result for the packs instead of 3.
//
// The GIN index keeps new entries in its pending list, merged into the
// index in bulk: inserting each pack's eight entries straight into the
// index (fastupdate off) cost the server 8 µs per result instead of 3.
// The list is kept to 256 kB instead of 4 MB, because every search reads
// all of it, and the planner, knowing that, turned from the index to
// scanning every pack of the window. Ids compare as bytes (COLLATE "C"),
// as the store sorts them before copying.
const resultPacksMigration = `
DO $$
BEGIN
	IF EXISTS (SELECT 1 FROM pg_inherits WHERE inhparent = 'results'::regclass) THEN
		ALTER TABLE results RENAME TO results_legacy;
		-- No one writes to it from now on, and collectors refuse records
		-- more than 5 minutes ahead of their clock (legacy.go).
		CREATE TABLE results_legacy_end AS SELECT now() + interval '1 hour' AS at;
	ELSE
		DROP TABLE results;
	END IF;
END $$;
CREATE TABLE result_ids (
	id         text COLLATE "C" NOT NULL,
	started_at timestamptz NOT NULL,
	PRIMARY KEY (id, started_at)
) PARTITION BY RANGE (started_at);
CREATE TABLE result_packs (
	started_min timestamptz NOT NULL,
	started_max timestamptz NOT NULL,
	n           integer     NOT NULL, -- results in records
	failed      integer     NOT NULL, -- of which not ok
	endpoints   text[]      NOT NULL, -- sorted, distinct
	records     bytea       NOT NULL, -- appendFeedRecord, S2
	-- The feed of ResultsAfter (feed.go): the transaction that stored
	-- the pack, and its order among that transaction's packs.
	xid         xid8        NOT NULL DEFAULT pg_current_xact_id(),
	seq         bigserial   NOT NULL
) PARTITION BY RANGE (started_min);
ALTER TABLE result_packs ALTER COLUMN records SET STORAGE EXTERNAL;
CREATE INDEX result_packs_endpoints ON result_packs USING gin (endpoints) WITH (gin_pending_list_limit = 256);
CREATE INDEX result_packs_started ON result_packs (started_max);
CREATE INDEX result_packs_feed ON result_packs (xid, seq);
-- The packs are the feed now; what the old one held unread, a new
-- evaluator reads from the packs when it takes over.
DROP TABLE result_feed;
`

// packsStorage keeps a pack's records in its row up to a full page
// instead of from 2 kB, so that reading a pack reads no TOAST table.
const packsStorage = ` WITH (toast_tuple_target = 8160)`

// packEndpoints is how many distinct endpoints a pack holds at most.
// Reading one endpoint decodes up to this many times the records it
// needs; fewer means more packs, and each costs the server a heap row
// and entries in both indexes (a batch of 1000 endpoints is 125 packs).
const packEndpoints = 8

// The daily partitions of the raw results' tables, named
// <parent>_pYYYYMMDD. results_legacy's keep the names they had.
var (
	idsPartitions   = partitioned{parent: "result_ids", prefix: "result_ids_p"}
	packsPartitions = partitioned{parent: "result_packs", prefix: "result_packs_p", with: packsStorage}
	legacyPartition = partitioned{parent: "results_legacy", prefix: "results_p"}
)

// partitioned is a table partitioned by day; with is the storage
// parameters of a partition, which a partitioned table cannot hold.
type partitioned struct{ parent, prefix, with string }

func (p partitioned) name(d int64) string {
	return p.prefix + time.Unix(d*86400, 0).UTC().Format("20060102")
}

// create creates the partition of day d unless it exists.
func (p partitioned) create(ctx context.Context, tx pgx.Tx, d int64) error {
	from := time.Unix(d*86400, 0).UTC()
	_, err := tx.Exec(ctx, fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s PARTITION OF %s FOR VALUES FROM ('%s') TO ('%s')%s`,
		p.name(d), p.parent, from.Format(time.RFC3339), from.Add(day).Format(time.RFC3339), p.with))
	return err
}

// days lists the partitions of p, by day, oldest first. A table of
// another name among them is not one of ours and is left out.
func (p partitioned) days(ctx context.Context, tx pgx.Tx) ([]int64, error) {
	rows, err := tx.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = to_regclass($1)`, p.parent)
	if err != nil {
		return nil, err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	var days []int64
	for _, name := range names {
		d, err := time.Parse("20060102", strings.TrimPrefix(name, p.prefix))
		if err != nil || !strings.HasPrefix(name, p.prefix) {
			continue
		}
		days = append(days, dayOf(d))
	}
	slices.Sort(days)
	return days, nil
}

// dropBefore drops the partitions whose last instant is before cutoff and
// returns their days.
func (p partitioned) dropBefore(ctx context.Context, tx pgx.Tx, cutoff time.Time) ([]int64, error) {
	days, err := p.days(ctx, tx)
	if err != nil {
		return nil, err
	}
	var dropped []int64
	for _, d := range days {
		if time.Unix((d+1)*86400, 0).After(cutoff) {
			continue
		}
		if _, err := tx.Exec(ctx, `DROP TABLE `+pgx.Identifier{p.name(d)}.Sanitize()); err != nil {
			return nil, err
		}
		dropped = append(dropped, d)
	}
	return dropped, nil
}

// idKey is a result's key in result_ids: its id and its start to the
// microsecond, the server's precision.
type idKey struct {
	id string
	at int64 // Unix microseconds
}

func keyOf(r *results.Result) idKey { return idKey{r.ID, r.StartedAt.UnixMicro()} }

// byKey orders rs by key, as the unique index holds them: overlapping
// batches that insert in this order wait for each other instead of
// deadlocking.
func byKey(rs []results.Result) []int {
	order := make([]int, len(rs))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		return cmp.Or(strings.Compare(rs[a].ID, rs[b].ID), cmp.Compare(rs[a].StartedAt.UnixMicro(), rs[b].StartedAt.UnixMicro()))
	})
	return order
}

// copyIDs copies the keys of rs, in the order of order, into table
// (result_ids or its staging table).
func copyIDs(ctx context.Context, tx pgx.Tx, table string, rs []results.Result, order []int) error {
	size := 0
	for i := range rs {
		size += 2 + 4 + len(rs[i].ID) + 4 + 8
	}
	c := newCopyBuf(size)
	for _, i := range order {
		c.row(2)
		c.text(rs[i].ID)
		c.timestamptz(rs[i].StartedAt)
	}
	return c.send(ctx, tx, table, []string{"id", "started_at"})
}

// pack is one row of result_packs: records of one UTC day and at most
// packEndpoints endpoints.
type pack struct {
	recs      []*results.Result // into the batch
	endpoints []string          // sorted, distinct
}

// makePacks groups rs into packs: per UTC day, in the order of their
// endpoints, packEndpoints endpoints at a time. The packs point into rs,
// reordered: copying the records (hundreds of bytes each) cost the
// collector a tenth of its allocations under load.
func makePacks(rs []results.Result) []pack {
	type key struct {
		day      int64
		endpoint string
		i        int
	}
	keys := make([]key, len(rs))
	for i := range rs {
		keys[i] = key{dayOf(rs[i].StartedAt), rs[i].Endpoint, i}
	}
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(cmp.Compare(a.day, b.day), strings.Compare(a.endpoint, b.endpoint), cmp.Compare(a.i, b.i))
	})
	sorted := make([]*results.Result, len(rs))
	for j, k := range keys {
		sorted[j] = &rs[k.i]
	}
	var packs []pack
	start := 0
	var endpoints []string
	for j, k := range keys {
		newEndpoint := len(endpoints) == 0 || k.endpoint != endpoints[len(endpoints)-1]
		if j > start && (k.day != keys[start].day || newEndpoint && len(endpoints) == packEndpoints) {
			packs = append(packs, pack{recs: sorted[start:j:j], endpoints: endpoints})
			start, endpoints, newEndpoint = j, nil, true
		}
		if newEndpoint {
			endpoints = append(endpoints, k.endpoint)
		}
	}
	if start < len(sorted) {
		packs = append(packs, pack{recs: sorted[start:], endpoints: endpoints})
	}
	return packs
}

// span is the first and last start of p's records, to the microsecond.
func (p *pack) span() (first, last time.Time) {
	first, last = p.recs[0].StartedAt, p.recs[0].StartedAt
	for i := range p.recs {
		at := p.recs[i].StartedAt
		if at.Before(first) {
			first = at
		}
		if at.After(last) {
			last = at
		}
	}
	return first.Truncate(time.Microsecond), last.Truncate(time.Microsecond)
}

func (p *pack) failed() int {
	n := 0
	for i := range p.recs {
		if !p.recs[i].OK {
			n++
		}
	}
	return n
}

// copyPacks packs rs and copies the packs into result_packs, their
// records compressed (S2), and returns the packs. A pack's seq is its
// place in what it returns, so that the feed's reader in this process
// knows which of them a page names (recent.go). (Before, seq came from
// its column's sequence; only the order within a transaction matters.)
func copyPacks(ctx context.Context, tx pgx.Tx, rs []results.Result) ([]pack, error) {
	packs := makePacks(rs)
	size := 0
	for i := range rs {
		size += feedRecordSize(&rs[i])
	}
	// Records compress to a third or less; a buffer sized for them raw
	// was the largest allocation of an ingest.
	size /= 2
	for _, p := range packs {
		size += 2 + 6*4 + 4*8 + 4 + 20 + 16
		for _, e := range p.endpoints {
			size += 4 + len(e)
		}
	}
	c := newCopyBuf(size)
	var raw []byte
	for seq, p := range packs {
		first, last := p.span()
		c.row(7)
		c.timestamptz(first)
		c.timestamptz(last)
		c.int4(int32(len(p.recs)))
		c.int4(int32(p.failed()))
		c.textArray(p.endpoints)
		raw = appendFeedHeader(raw[:0], len(p.recs))
		for _, r := range p.recs {
			raw = appendFeedRecord(raw, r)
		}
		c.s2Bytea(raw)
		c.int8(int64(seq))
	}
	return packs, c.send(ctx, tx, "result_packs", []string{"started_min", "started_max", "n", "failed", "endpoints", "records", "seq"})
}
