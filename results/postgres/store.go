package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/results/rollup"
)

// Store is the production store. Several collector replicas may share one
// database: ingest is safe concurrently across them, and Locker guards
// the work that must happen once.
type Store struct {
	pool *pgxpool.Pool
	url  string

	pmu        sync.Mutex
	partitions map[int64]bool // Unix day numbers with a results partition

	lmu    sync.Mutex
	lconn  *pgx.Conn // the dedicated session holding advisory locks
	locked map[string]bool

	cmu       sync.Mutex // one compaction at a time in this process
	compactor rollup.Compactor
}

var _ results.Store = (*Store)(nil)

// partitionLock serialises partition creation and dropping across replicas.
const partitionLock = 0x7069636b65740002

const resultColumns = `id, started_at, team, endpoint, check_id, kind, vantage, region, provider, asn,
	target, addr, duration_ms, ok, err_layer, err_code, err_message,
	dns_ms, connect_ms, tls_ms, ttfb_ms, transfer_ms, details`

var copyColumns = []string{"id", "started_at", "team", "endpoint", "check_id", "kind", "vantage",
	"region", "provider", "asn", "target", "addr", "duration_ms", "ok", "err_layer", "err_code",
	"err_message", "dns_ms", "connect_ms", "tls_ms", "ttfb_ms", "transfer_ms", "details"}

const rollupColumns = `bucket, check_id, vantage, team, endpoint, kind, region, provider, asn,
	count, failures, failed_minutes, down_minutes, errors, hist`

// Open connects to the database at url (a postgres:// URL or DSN),
// applies the migrations and returns the store.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	// Each connection stages batches in its own temporary table.
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, `CREATE TEMP TABLE IF NOT EXISTS results_staging
			(LIKE results INCLUDING DEFAULTS) ON COMMIT DELETE ROWS`)
		return err
	}
	if cfg.MaxConns < 8 {
		cfg.MaxConns = 8
	}
	// Migrations must exist before AfterConnect can work: run them on a
	// pool without the hook first.
	mcfg := cfg.Copy()
	mcfg.AfterConnect = nil
	mpool, err := pgxpool.NewWithConfig(ctx, mcfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	_, err = migrate(ctx, mpool)
	mpool.Close()
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	s := &Store{pool: pool, url: url, partitions: make(map[int64]bool), locked: make(map[string]bool)}
	s.compactor.Start(s.Compact)
	return s, nil
}

// Close closes the pool and the lock session, releasing its locks.
func (s *Store) Close() error {
	s.compactor.Stop()
	s.lmu.Lock()
	var err error
	if s.lconn != nil {
		err = s.lconn.Close(context.Background())
		s.lconn = nil
	}
	s.lmu.Unlock()
	s.pool.Close()
	return err
}

func hashKey(prefix, name string) int64 {
	h := fnv.New64a()
	h.Write([]byte(prefix))
	h.Write([]byte{0})
	h.Write([]byte(name))
	return int64(h.Sum64())
}

const day = 24 * time.Hour

func dayOf(t time.Time) int64 { return t.UTC().Truncate(day).Unix() / 86400 }

func partitionName(d int64) string {
	return "results_p" + time.Unix(d*86400, 0).UTC().Format("20060102")
}

// ensurePartitions creates the daily partitions the batch needs, and the
// next day's ahead of it, once per day per process.
func (s *Store) ensurePartitions(ctx context.Context, rs []results.Result) error {
	s.pmu.Lock()
	var missing []int64
	for i := range rs {
		d := dayOf(rs[i].StartedAt)
		if !s.partitions[d] && !slices.Contains(missing, d) {
			missing = append(missing, d)
		}
	}
	s.pmu.Unlock()
	if len(missing) == 0 {
		return nil
	}
	return s.createPartitions(ctx, missing)
}

func (s *Store) createPartitions(ctx context.Context, days []int64) error {
	var want []int64
	for _, d := range days {
		want = append(want, d, d+1)
	}
	slices.Sort(want)
	want = slices.Compact(want)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(partitionLock)); err != nil {
			return err
		}
		for _, d := range want {
			from := time.Unix(d*86400, 0).UTC()
			q := fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s PARTITION OF results FOR VALUES FROM ('%s') TO ('%s')`,
				partitionName(d), from.Format(time.RFC3339), from.Add(day).Format(time.RFC3339))
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: create partitions: %w", err)
	}
	s.pmu.Lock()
	for _, d := range want {
		s.partitions[d] = true
	}
	s.pmu.Unlock()
	return nil
}

// Ingest implements results.ResultStore. It copies the batch into a
// temporary table, inserts it with ON CONFLICT DO NOTHING RETURNING id,
// and appends the rollup deltas of what was new as one rollup_pending
// row, in one transaction. It rewrites no rollup row, so concurrent
// batches never wait for each other's rollups: Compact folds the pending
// deltas into the rollup tables later.
func (s *Store) Ingest(ctx context.Context, rs []results.Result) (results.IngestOutcome, error) {
	if len(rs) == 0 {
		return results.IngestOutcome{}, nil
	}
	if err := s.ensurePartitions(ctx, rs); err != nil {
		return results.IngestOutcome{}, err
	}
	out, err := s.ingest(ctx, rs)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23514" {
		// "no partition of relation found": another replica's retention
		// dropped a partition this process believed in. Forget them all.
		s.pmu.Lock()
		clear(s.partitions)
		s.pmu.Unlock()
		if err := s.ensurePartitions(ctx, rs); err != nil {
			return results.IngestOutcome{}, err
		}
		out, err = s.ingest(ctx, rs)
	}
	return out, err
}

// ingest first tries the fast path, a COPY straight into results, which
// holds when no record of the batch is stored yet (nearly always: a
// duplicate is a prober's retry). A record already stored makes the COPY
// fail on the unique key, and then the batch goes the merging way.
func (s *Store) ingest(ctx context.Context, rs []results.Result) (results.IngestOutcome, error) {
	if !hasDuplicateIDs(rs) {
		out, err := s.ingestCopy(ctx, rs)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || (pgErr.Code != "23505" && pgErr.Code != "40P01") {
			return out, err
		}
	}
	return s.ingestMerge(ctx, rs)
}

func hasDuplicateIDs(rs []results.Result) bool {
	seen := make(map[string]struct{}, len(rs))
	for i := range rs {
		if _, ok := seen[rs[i].ID]; ok {
			return true
		}
		seen[rs[i].ID] = struct{}{}
	}
	return false
}

// ingestCopy copies the batch into results, in key order so that two
// overlapping batches wait for each other rather than deadlock; the later
// one then fails on the unique key.
func (s *Store) ingestCopy(ctx context.Context, rs []results.Result) (results.IngestOutcome, error) {
	var out results.IngestOutcome
	order := make([]int, len(rs))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		return cmp.Or(strings.Compare(rs[a].ID, rs[b].ID), rs[a].StartedAt.Compare(rs[b].StartedAt))
	})
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return out, fmt.Errorf("postgres: ingest: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit it is a no-op
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"results"}, copyColumns,
		pgx.CopyFromSlice(len(rs), func(i int) ([]any, error) { return copyRow(&rs[order[i]]), nil }))
	if err != nil {
		return out, fmt.Errorf("postgres: ingest: copy: %w", err)
	}
	if err := appendPending(ctx, tx, rs); err != nil {
		return out, err
	}
	if err := tx.Commit(ctx); err != nil {
		return out, fmt.Errorf("postgres: ingest: commit: %w", err)
	}
	s.compactor.Added()
	out.Accepted = make([]string, len(rs))
	for i := range rs {
		out.Accepted[i] = rs[i].ID
	}
	return out, nil
}

// appendPending appends the rollup deltas of fresh, results stored for
// the first time, as one rollup_pending row.
func appendPending(ctx context.Context, tx pgx.Tx, fresh []results.Result) error {
	blob, err := rollup.AppendDeltas(nil, rollup.Deltas(fresh))
	if err != nil {
		return fmt.Errorf("postgres: ingest: rollups: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO rollup_pending (deltas) VALUES ($1)`, blob); err != nil {
		return fmt.Errorf("postgres: ingest: rollups: %w", err)
	}
	return nil
}

func copyRow(r *results.Result) []any {
	var layer, code, msg string
	if r.Error != nil {
		layer, code, msg = string(r.Error.Layer), string(r.Error.Code), r.Error.Message
	}
	var details []byte
	if len(r.Details) > 0 {
		details = r.Details
	}
	return []any{r.ID, r.StartedAt, r.Team, r.Endpoint, r.Check, r.Kind, r.Vantage, r.Region,
		r.Provider, int64(r.ASN), r.Target, r.Addr, r.DurationMS, r.OK, layer, code, msg,
		r.Phases.DNSMS, r.Phases.ConnectMS, r.Phases.TLSMS, r.Phases.TTFBMS, r.Phases.TransferMS,
		details}
}

// ingestMerge stages the batch in a temporary table and inserts what is
// not stored yet.
func (s *Store) ingestMerge(ctx context.Context, rs []results.Result) (results.IngestOutcome, error) {
	var out results.IngestOutcome
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return out, fmt.Errorf("postgres: ingest: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit it is a no-op

	_, err = tx.CopyFrom(ctx, pgx.Identifier{"results_staging"}, copyColumns,
		pgx.CopyFromSlice(len(rs), func(i int) ([]any, error) { return copyRow(&rs[i]), nil }))
	if err != nil {
		return out, fmt.Errorf("postgres: ingest: copy: %w", err)
	}
	// ORDER BY id takes the unique-index entries in one order in every
	// transaction, so overlapping batches wait for each other instead of
	// deadlocking.
	rows, err := tx.Query(ctx, `INSERT INTO results (`+resultColumns+`)
		SELECT DISTINCT ON (id, started_at) `+resultColumns+` FROM results_staging ORDER BY id, started_at
		ON CONFLICT (id, started_at) DO NOTHING RETURNING id`)
	if err != nil {
		return out, fmt.Errorf("postgres: ingest: insert: %w", err)
	}
	inserted := make(map[string]bool, len(rs))
	var id string
	_, err = pgx.ForEachRow(rows, []any{&id}, func() error {
		inserted[id] = true
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("postgres: ingest: insert: %w", err)
	}
	fresh := make([]results.Result, 0, len(inserted))
	for i := range rs {
		if inserted[rs[i].ID] {
			delete(inserted, rs[i].ID) // a second copy in the batch is a duplicate
			out.Accepted = append(out.Accepted, rs[i].ID)
			fresh = append(fresh, rs[i])
		} else {
			out.Duplicate = append(out.Duplicate, rs[i].ID)
		}
	}
	if len(fresh) > 0 {
		if err := appendPending(ctx, tx, fresh); err != nil {
			return results.IngestOutcome{}, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return results.IngestOutcome{}, fmt.Errorf("postgres: ingest: commit: %w", err)
	}
	if len(fresh) > 0 {
		s.compactor.Added()
	}
	return out, nil
}

// compactBatches is how many pending batches one compaction transaction
// folds at most.
const compactBatches = 64

// Compact folds every pending rollup delta into the rollup tables. It
// runs in one replica at a time (TryLock "rollup-compaction"); when
// another replica holds the lock, that replica does the work and Compact
// returns at once. Reads add what is pending, so they are exact whatever
// compaction has done.
func (s *Store) Compact(ctx context.Context) error {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	unlock, ok, err := s.TryLock(ctx, "rollup-compaction")
	if err != nil || !ok {
		return err
	}
	defer unlock()
	for {
		n, err := s.compactOnce(ctx)
		if err != nil || n < compactBatches {
			return err
		}
	}
}

func (s *Store) compactOnce(ctx context.Context) (int, error) {
	n := 0
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT seq, deltas FROM rollup_pending ORDER BY seq LIMIT $1`, compactBatches)
		if err != nil {
			return err
		}
		var deltas []*rollup.Row
		var seqs []int64
		var seq int64
		var blob []byte
		_, err = pgx.ForEachRow(rows, []any{&seq, &blob}, func() error {
			var err error
			if deltas, err = rollup.DecodeDeltas(deltas, blob); err != nil {
				return fmt.Errorf("pending batch %d: %w", seq, err)
			}
			seqs = append(seqs, seq)
			return nil
		})
		if err != nil || len(seqs) == 0 {
			return err
		}
		n = len(seqs)
		var stored map[rollup.Key]*rollup.Row
		ru, err := rollup.ApplyDeltas(deltas, func(keys []rollup.Key) (map[rollup.Key]*rollup.Row, error) {
			stored, err = loadRollups(ctx, tx, keys)
			return stored, err
		})
		if err != nil {
			return err
		}
		// Rows not stored yet (most minutes) are copied in, which costs the
		// server far less than an upsert; only compaction writes rollups,
		// under its lock, so none appears meanwhile (if one did, the copy
		// would fail on the key and the compaction be retried).
		var fresh, changed []*rollup.Row
		for _, r := range ru {
			if stored[r.Key] == nil {
				fresh = append(fresh, r)
			} else {
				changed = append(changed, r)
			}
		}
		if err := copyRollups(ctx, tx, fresh); err != nil {
			return err
		}
		if err := writeRollups(ctx, tx, changed); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM rollup_pending WHERE seq = ANY($1)`, seqs)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: compact: %w", err)
	}
	return n, nil
}

// pendingFilter selects pending deltas for a read.
type pendingFilter struct {
	team, endpoint, check, vantage string
	level                          rollup.Level
	since, until                   int64 // level buckets [since, until)
	hasSince, hasUntil             bool
}

func (f *pendingFilter) match(d *rollup.Row) bool {
	if (f.team != "" && d.Team != f.team) || (f.endpoint != "" && d.Endpoint != f.endpoint) ||
		(f.check != "" && d.Check != f.check) || (f.vantage != "" && d.Vantage != f.vantage) {
		return false
	}
	b := rollup.LevelBucket(f.level, d.Bucket)
	return (!f.hasSince || b >= f.since) && (!f.hasUntil || b < f.until)
}

// pending reads the pending deltas that f selects, oldest first.
func pending(ctx context.Context, tx pgx.Tx, f *pendingFilter) ([]*rollup.Row, error) {
	rows, err := tx.Query(ctx, `SELECT deltas FROM rollup_pending ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("pending rollups: %w", err)
	}
	var out, all []*rollup.Row
	var blob []byte
	_, err = pgx.ForEachRow(rows, []any{&blob}, func() error {
		var err error
		if all, err = rollup.DecodeDeltas(all[:0], blob); err != nil {
			return err
		}
		for _, d := range all {
			if f.match(d) {
				out = append(out, d)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pending rollups: %w", err)
	}
	return out, nil
}

// readTx starts a read-only transaction whose reads all see one snapshot,
// so that stored rollups and pending deltas agree.
func (s *Store) readTx(ctx context.Context) (pgx.Tx, error) {
	return s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
}

func loadRollups(ctx context.Context, tx pgx.Tx, keys []rollup.Key) (map[rollup.Key]*rollup.Row, error) {
	found := make(map[rollup.Key]*rollup.Row)
	for _, l := range rollup.Levels {
		var buckets []time.Time
		var checks, vantages []string
		for _, k := range keys {
			if k.Level == l {
				buckets = append(buckets, time.Unix(k.Bucket, 0))
				checks = append(checks, k.Check)
				vantages = append(vantages, k.Vantage)
			}
		}
		if len(buckets) == 0 {
			continue
		}
		rows, err := tx.Query(ctx, `SELECT `+prefixed("r.", rollupColumns)+` FROM rollup_`+l.String()+` r
			JOIN unnest($1::timestamptz[], $2::text[], $3::text[]) AS k(b, c, v)
			ON r.bucket = k.b AND r.check_id = k.c AND r.vantage = k.v`, buckets, checks, vantages)
		if err != nil {
			return nil, fmt.Errorf("load %s rollups: %w", l, err)
		}
		for rows.Next() {
			row, err := scanRollup(rows, l)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("load %s rollups: %w", l, err)
			}
			found[row.Key] = row
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("load %s rollups: %w", l, err)
		}
	}
	return found, nil
}

func prefixed(p, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = p + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

func scanRollup(rows pgx.Rows, l rollup.Level) (*rollup.Row, error) {
	row := &rollup.Row{Key: rollup.Key{Level: l}}
	var bucket time.Time
	var asn int64
	var errs string
	var hist []byte
	if err := rows.Scan(&bucket, &row.Check, &row.Vantage, &row.Team, &row.Endpoint, &row.Kind,
		&row.Region, &row.Provider, &asn, &row.Count, &row.Failures, &row.FailedMinutes,
		&row.DownMinutes, &errs, &hist); err != nil {
		return nil, err
	}
	row.Bucket = bucket.Unix()
	row.ASN = uint32(asn)
	var err error
	if row.Errors, err = rollup.DecodeErrorMap(errs); err != nil {
		return nil, err
	}
	if err := row.Hist.UnmarshalBinary(hist); err != nil {
		return nil, err
	}
	return row, nil
}

// querier is what both a pool and a transaction offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// writeRollups writes rows over the stored ones. An update leaves the
// indexed team and endpoint (a check's, fixed) alone, so that it can be a
// HOT update that touches no index.
func writeRollups(ctx context.Context, q querier, rows []*rollup.Row) error {
	for _, l := range rollup.Levels {
		var (
			buckets                                         []time.Time
			checks, vantages, teams, endpoints, kinds       []string
			regions, providers, errs                        []string
			asns, counts, failures, failedMinutes, downMins []int64
			hists                                           [][]byte
		)
		for _, r := range rows {
			if r.Level != l {
				continue
			}
			h, err := r.Hist.MarshalBinary()
			if err != nil {
				return fmt.Errorf("postgres: encode histogram: %w", err)
			}
			buckets = append(buckets, r.Time())
			checks = append(checks, r.Check)
			vantages = append(vantages, r.Vantage)
			teams = append(teams, r.Team)
			endpoints = append(endpoints, r.Endpoint)
			kinds = append(kinds, r.Kind)
			regions = append(regions, r.Region)
			providers = append(providers, r.Provider)
			asns = append(asns, int64(r.ASN))
			counts = append(counts, r.Count)
			failures = append(failures, r.Failures)
			failedMinutes = append(failedMinutes, r.FailedMinutes)
			downMins = append(downMins, r.DownMinutes)
			errs = append(errs, rollup.EncodeErrors(r.Errors))
			hists = append(hists, h)
		}
		if len(buckets) == 0 {
			continue
		}
		_, err := q.Exec(ctx, `INSERT INTO rollup_`+l.String()+` (`+rollupColumns+`)
			SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[],
				$6::text[], $7::text[], $8::text[], $9::bigint[], $10::bigint[], $11::bigint[],
				$12::bigint[], $13::bigint[], $14::text[], $15::bytea[])
			ON CONFLICT (bucket, check_id, vantage) DO UPDATE SET
			region = excluded.region, provider = excluded.provider, asn = excluded.asn,
			count = excluded.count, failures = excluded.failures,
			failed_minutes = excluded.failed_minutes, down_minutes = excluded.down_minutes,
			errors = excluded.errors, hist = excluded.hist`,
			buckets, checks, vantages, teams, endpoints, kinds, regions, providers, asns, counts,
			failures, failedMinutes, downMins, errs, hists)
		if err != nil {
			return fmt.Errorf("postgres: write %s rollups: %w", l, err)
		}
	}
	return nil
}

// copyRollups copies rows that are not stored yet into their tables.
func copyRollups(ctx context.Context, tx pgx.Tx, rows []*rollup.Row) error {
	for _, l := range rollup.Levels {
		var level []*rollup.Row
		for _, r := range rows {
			if r.Level == l {
				level = append(level, r)
			}
		}
		if len(level) == 0 {
			continue
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"rollup_" + l.String()}, rollupCopyColumns,
			pgx.CopyFromSlice(len(level), func(i int) ([]any, error) {
				r := level[i]
				h, err := r.Hist.MarshalBinary()
				if err != nil {
					return nil, err
				}
				return []any{r.Time(), r.Check, r.Vantage, r.Team, r.Endpoint, r.Kind, r.Region,
					r.Provider, int64(r.ASN), r.Count, r.Failures, r.FailedMinutes, r.DownMinutes,
					rollup.EncodeErrors(r.Errors), h}, nil
			}))
		if err != nil {
			return fmt.Errorf("postgres: copy %s rollups: %w", l, err)
		}
	}
	return nil
}

var rollupCopyColumns = []string{"bucket", "check_id", "vantage", "team", "endpoint", "kind", "region",
	"provider", "asn", "count", "failures", "failed_minutes", "down_minutes", "errors", "hist"}

// LoadRollups writes rollup rows as they are, replacing stored rows with
// the same key, without raw results, and adds day rows to their week
// rows. It is the bulk path that fills a store with generated history for
// report benchmarks (results/synth), for buckets not stored before.
func (s *Store) LoadRollups(ctx context.Context, rows []*rollup.Row) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		weeks, err := rollup.RollUp(rows, rollup.Day, rollup.Week, func(keys []rollup.Key) (map[rollup.Key]*rollup.Row, error) {
			return loadRollups(ctx, tx, keys)
		})
		if err != nil {
			return fmt.Errorf("postgres: load rollups: %w", err)
		}
		return writeRollups(ctx, tx, append(slices.Clip(rows), weeks...))
	})
}

// where builds a WHERE clause with numbered placeholders.
type where struct {
	conds []string
	args  []any
}

func (w *where) eq(col, v string) {
	if v != "" {
		w.add(col+" = $", v)
	}
}

// add appends cond, whose "$" marks (one per arg) become numbered.
func (w *where) add(cond string, args ...any) {
	var b strings.Builder
	n := 0
	for _, r := range cond {
		b.WriteRune(r)
		if r == '$' && n < len(args) {
			w.args = append(w.args, args[n])
			fmt.Fprint(&b, len(w.args))
			n++
		}
	}
	w.conds = append(w.conds, b.String())
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// Query implements results.ResultStore.
func (s *Store) Query(ctx context.Context, q results.ResultQuery) ([]results.Result, error) {
	var w where
	w.eq("team", q.Team)
	w.eq("endpoint", q.Endpoint)
	w.eq("check_id", q.Check)
	w.eq("vantage", q.Vantage)
	w.eq("region", q.Region)
	w.eq("kind", q.Kind)
	if q.OnlyFailed {
		w.add("NOT ok")
	}
	if !q.Since.IsZero() {
		w.add("started_at >= $", q.Since)
	}
	if !q.Until.IsZero() {
		w.add("started_at < $", q.Until)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 1000
	}
	limit = min(limit, 100000)
	rows, err := s.pool.Query(ctx, `SELECT `+resultColumns+` FROM results`+w.String()+
		fmt.Sprintf(` ORDER BY started_at DESC, id DESC LIMIT %d`, limit), w.args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: query results: %w", err)
	}
	defer rows.Close()
	var out []results.Result
	for rows.Next() {
		var r results.Result
		var asn int64
		var layer, code, msg string
		var details []byte
		if err := rows.Scan(&r.ID, &r.StartedAt, &r.Team, &r.Endpoint, &r.Check, &r.Kind, &r.Vantage,
			&r.Region, &r.Provider, &asn, &r.Target, &r.Addr, &r.DurationMS, &r.OK, &layer, &code, &msg,
			&r.Phases.DNSMS, &r.Phases.ConnectMS, &r.Phases.TLSMS, &r.Phases.TTFBMS,
			&r.Phases.TransferMS, &details); err != nil {
			return nil, fmt.Errorf("postgres: query results: %w", err)
		}
		r.ASN = uint32(asn)
		r.StartedAt = r.StartedAt.UTC()
		if layer != "" || code != "" {
			r.Error = &results.Error{Layer: results.Layer(layer), Code: results.Code(code), Message: msg}
		}
		if len(details) > 0 {
			r.Details = details
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: query results: %w", err)
	}
	return out, nil
}

// Rollups implements results.ResultStore. Besides minute and hour it
// answers the "day" resolution.
func (s *Store) Rollups(ctx context.Context, q results.RollupQuery) ([]results.Rollup, error) {
	level, err := rollup.LevelOf(q.Resolution)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	var w where
	w.eq("team", q.Team)
	w.eq("endpoint", q.Endpoint)
	w.eq("check_id", q.Check)
	w.eq("vantage", q.Vantage)
	w.eq("region", q.Region)
	if !q.Since.IsZero() {
		w.add("bucket >= $", level.Truncate(q.Since))
	}
	if !q.Until.IsZero() {
		w.add("bucket < $", q.Until)
	}
	tx, err := s.readTx(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: query rollups: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read-only
	rows, err := tx.Query(ctx, `SELECT `+rollupColumns+` FROM rollup_`+level.String()+
		w.String()+` ORDER BY bucket, check_id, vantage`, w.args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: query rollups: %w", err)
	}
	var stored []*rollup.Row
	for rows.Next() {
		row, err := scanRollup(rows, level)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("postgres: query rollups: %w", err)
		}
		stored = append(stored, row)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: query rollups: %w", err)
	}
	f := pendingFilter{team: q.Team, endpoint: q.Endpoint, check: q.Check, vantage: q.Vantage, level: level}
	if !q.Since.IsZero() {
		f.since, f.hasSince = level.Truncate(q.Since).Unix(), true
	}
	if !q.Until.IsZero() {
		f.until, f.hasUntil = q.Until.Unix(), true
	}
	deltas, err := pending(ctx, tx, &f)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	all, err := rollup.Overlay(level, stored, deltas, func(keys []rollup.Key) (map[rollup.Key]*rollup.Row, error) {
		return loadRollups(ctx, tx, keys)
	}, func(r *rollup.Row) bool { return q.Region == "" || r.Region == q.Region })
	if err != nil {
		return nil, fmt.Errorf("postgres: query rollups: %w", err)
	}
	out := make([]results.Rollup, len(all))
	for i, r := range all {
		out[i] = r.Rollup()
	}
	return out, nil
}

// Availability implements results.ResultStore; see package rollup for
// the window alignment and the definitions of the numbers.
func (s *Store) Availability(ctx context.Context, q results.ReportQuery) ([]results.AvailabilityRow, error) {
	rep, err := rollup.NewReport(q.By)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	until := q.Until
	if until.IsZero() {
		until = time.Now()
	}
	from, to, spans := rollup.Window(q.Since, until)
	row := rollup.ReportRow{HistFramed: true}
	// A read-only transaction: one snapshot for stored rows and pending
	// deltas, and the memory the aggregation needs (one concatenated
	// histogram per series, which would spill to disk at the default
	// work_mem).
	tx, err := s.readTx(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: availability: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read-only
	if _, err := tx.Exec(ctx, `SET LOCAL work_mem = '256MB'`); err != nil {
		return nil, fmt.Errorf("postgres: availability: %w", err)
	}
	if len(spans) > 0 {
		// One query for every span, in which the server sums each series'
		// rows and concatenates their histograms and failure counts, so
		// one row per series crosses the wire however many buckets and
		// levels the window holds.
		var args []any
		arg := func(v any) string {
			args = append(args, v)
			return fmt.Sprintf("$%d", len(args))
		}
		var filter string
		if q.Team != "" {
			filter += " AND team = " + arg(q.Team)
		}
		if q.Endpoint != "" {
			filter += " AND endpoint = " + arg(q.Endpoint)
		}
		parts := make([]string, len(spans))
		for i, sp := range spans {
			parts[i] = `SELECT team, endpoint, check_id, vantage, region, provider, asn, count, failures,
				failed_minutes, down_minutes, errors, hist FROM rollup_` + sp.Level.String() +
				` WHERE bucket >= ` + arg(sp.From) + ` AND bucket < ` + arg(sp.To) + filter
		}
		rows, err := tx.Query(ctx, `SELECT team, endpoint, check_id, vantage, region, provider, asn,
			sum(count)::bigint, sum(failures)::bigint, sum(failed_minutes)::bigint, sum(down_minutes)::bigint,
			coalesce(string_agg(nullif(errors, ''), ','), ''),
			string_agg(int4send(length(hist)) || hist, ''::bytea)
			FROM (`+strings.Join(parts, " UNION ALL ")+`) r
			GROUP BY team, endpoint, check_id, vantage, region, provider, asn`, args...)
		if err != nil {
			return nil, fmt.Errorf("postgres: availability: %w", err)
		}
		var asn int64
		for rows.Next() {
			if err := rows.Scan(&row.Team, &row.Endpoint, &row.Check, &row.Vantage, &row.Region,
				&row.Provider, &asn, &row.Count, &row.Failures, &row.FailedMinutes,
				&row.DownMinutes, &row.Errors, &row.Hist); err != nil {
				rows.Close()
				return nil, fmt.Errorf("postgres: availability: %w", err)
			}
			row.ASN = uint32(asn)
			if err := rep.Add(&row); err != nil {
				rows.Close()
				return nil, fmt.Errorf("postgres: availability: %w", err)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("postgres: availability: %w", err)
		}
	}
	if len(spans) > 0 {
		f := pendingFilter{team: q.Team, endpoint: q.Endpoint, level: rollup.Minute,
			since: from.Unix(), until: to.Unix(), hasSince: true, hasUntil: true}
		deltas, err := pending(ctx, tx, &f)
		if err != nil {
			return nil, fmt.Errorf("postgres: availability: %w", err)
		}
		err = rep.AddPending(deltas, func(keys []rollup.Key) (map[rollup.Key]*rollup.Row, error) {
			return loadRollups(ctx, tx, keys)
		})
		if err != nil {
			return nil, fmt.Errorf("postgres: availability: %w", err)
		}
	}
	return rep.Rows(), nil
}

// ApplyRetention implements results.ResultStore. Raw results go a whole
// daily partition at a time, once the partition's last instant is older
// than the raw retention (so up to a day more than asked is kept); rollups
// are deleted by bucket, day and week rollups with the hour ones. It also creates
// the partitions of today and the next two days ahead of need. A zero
// period keeps everything.
func (s *Store) ApplyRetention(ctx context.Context, r results.Retention, now time.Time) error {
	// Pending deltas of old results would bring back the rows deleted.
	if err := s.Compact(ctx); err != nil {
		return err
	}
	today := dayOf(now)
	if err := s.createPartitions(ctx, []int64{today, today + 1}); err != nil {
		return err
	}
	if r.Raw > 0 {
		cutoff := now.Add(-r.Raw)
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(partitionLock)); err != nil {
				return err
			}
			rows, err := tx.Query(ctx, `SELECT c.relname FROM pg_inherits i
				JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
				WHERE p.relname = 'results' AND p.relnamespace = c.relnamespace`)
			if err != nil {
				return err
			}
			names, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return err
			}
			for _, name := range names {
				d, err := time.Parse("20060102", strings.TrimPrefix(name, "results_p"))
				if err != nil {
					continue // not one of ours
				}
				if d.Add(day).After(cutoff) {
					continue
				}
				if _, err := tx.Exec(ctx, `DROP TABLE `+pgx.Identifier{name}.Sanitize()); err != nil {
					return err
				}
				s.pmu.Lock()
				delete(s.partitions, dayOf(d))
				s.pmu.Unlock()
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("postgres: retention of results: %w", err)
		}
	}
	cuts := []struct {
		table string
		keep  time.Duration
	}{{"rollup_minute", r.Minute}, {"rollup_hour", r.Hour}, {"rollup_day", r.Hour}, {"rollup_week", r.Hour}}
	for _, c := range cuts {
		if c.keep <= 0 {
			continue
		}
		if _, err := s.pool.Exec(ctx, `DELETE FROM `+c.table+` WHERE bucket < $1`, now.Add(-c.keep)); err != nil {
			return fmt.Errorf("postgres: retention of %s: %w", c.table, err)
		}
	}
	return nil
}

// TryLock implements results.Locker with a session-level advisory lock on
// a connection dedicated to locks: the server releases it when that
// session ends, also when this process dies. Within the process a name is
// held at most once (advisory locks are re-entrant per session).
func (s *Store) TryLock(ctx context.Context, name string) (func(), bool, error) {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	if s.locked[name] {
		return nil, false, nil
	}
	if s.lconn == nil || s.lconn.IsClosed() {
		// A lost session lost its locks with it.
		clear(s.locked)
		c, err := pgx.Connect(ctx, s.url)
		if err != nil {
			return nil, false, fmt.Errorf("postgres: lock %q: connect: %w", name, err)
		}
		s.lconn = c
	}
	key := hashKey("lock", name)
	var ok bool
	if err := s.lconn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&ok); err != nil {
		s.lconn.Close(context.Background())
		s.lconn = nil
		return nil, false, fmt.Errorf("postgres: lock %q: %w", name, err)
	}
	if !ok {
		return nil, false, nil
	}
	s.locked[name] = true
	conn := s.lconn
	var once sync.Once
	return func() {
		once.Do(func() {
			s.lmu.Lock()
			defer s.lmu.Unlock()
			if s.lconn != conn || !s.locked[name] {
				return // the session is gone, and the lock with it
			}
			delete(s.locked, name)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, key); err != nil {
				conn.Close(ctx)
				s.lconn = nil
			}
		})
	}, true, nil
}
