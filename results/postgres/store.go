package postgres

import (
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
	return &Store{pool: pool, url: url, partitions: make(map[int64]bool), locked: make(map[string]bool)}, nil
}

// Close closes the pool and the lock session, releasing its locks.
func (s *Store) Close() error {
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
// and rolls up what was new, in one transaction. A transaction-scoped
// advisory lock per vantage keeps concurrent batches of the same vantage
// (the only ones that touch the same rollup rows) from interleaving
// their rollup read-modify-write.
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

func (s *Store) ingest(ctx context.Context, rs []results.Result) (results.IngestOutcome, error) {
	var out results.IngestOutcome
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return out, fmt.Errorf("postgres: ingest: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit it is a no-op

	var locks []int64
	for i := range rs {
		k := hashKey("vantage", rs[i].Vantage)
		if !slices.Contains(locks, k) {
			locks = append(locks, k)
		}
	}
	slices.Sort(locks)
	for _, k := range locks {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, k); err != nil {
			return out, fmt.Errorf("postgres: ingest: lock: %w", err)
		}
	}
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"results_staging"}, copyColumns,
		pgx.CopyFromSlice(len(rs), func(i int) ([]any, error) {
			r := &rs[i]
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
				details}, nil
		}))
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
	ru, err := rollup.Apply(fresh, func(keys []rollup.Key) (map[rollup.Key]*rollup.Row, error) {
		return loadRollups(ctx, tx, keys)
	})
	if err != nil {
		return results.IngestOutcome{}, fmt.Errorf("postgres: ingest: rollups: %w", err)
	}
	if err := writeRollups(ctx, tx, ru); err != nil {
		return results.IngestOutcome{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return results.IngestOutcome{}, fmt.Errorf("postgres: ingest: commit: %w", err)
	}
	return out, nil
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

// LoadRollups writes rollup rows as they are, replacing stored rows with
// the same key, without raw results. It is the bulk path that fills a
// store with generated history for report benchmarks (results/synth).
func (s *Store) LoadRollups(ctx context.Context, rows []*rollup.Row) error {
	return writeRollups(ctx, s.pool, rows)
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
	rows, err := s.pool.Query(ctx, `SELECT `+rollupColumns+` FROM rollup_`+level.String()+
		w.String()+` ORDER BY bucket, check_id, vantage`, w.args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: query rollups: %w", err)
	}
	defer rows.Close()
	var out []results.Rollup
	for rows.Next() {
		row, err := scanRollup(rows, level)
		if err != nil {
			return nil, fmt.Errorf("postgres: query rollups: %w", err)
		}
		out = append(out, row.Rollup())
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: query rollups: %w", err)
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
	_, _, spans := rollup.Window(q.Since, until)
	row := rollup.ReportRow{HistFramed: true}
	// A read-only transaction, for the memory the aggregation needs: one
	// concatenated histogram per series, which would spill to disk at the
	// default work_mem.
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("postgres: availability: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read-only
	if _, err := tx.Exec(ctx, `SET LOCAL work_mem = '256MB'`); err != nil {
		return nil, fmt.Errorf("postgres: availability: %w", err)
	}
	for _, sp := range spans {
		var w where
		w.eq("team", q.Team)
		w.eq("endpoint", q.Endpoint)
		w.add("bucket >= $ AND bucket < $", sp.From, sp.To)
		// The server sums each series' rows and concatenates their
		// histograms and failure counts, so one row per series crosses the
		// wire however many buckets the window holds.
		rows, err := tx.Query(ctx, `SELECT team, endpoint, check_id, vantage, region, provider, asn,
			sum(count)::bigint, sum(failures)::bigint, sum(failed_minutes)::bigint, sum(down_minutes)::bigint,
			coalesce(string_agg(nullif(errors, ''), ','), ''),
			string_agg(int4send(length(hist)) || hist, ''::bytea)
			FROM rollup_`+sp.Level.String()+w.String()+`
			GROUP BY team, endpoint, check_id, vantage, region, provider, asn`, w.args...)
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
	return rep.Rows(), nil
}

// ApplyRetention implements results.ResultStore. Raw results go a whole
// daily partition at a time, once the partition's last instant is older
// than the raw retention (so up to a day more than asked is kept); rollups
// are deleted by bucket, day rollups with the hour ones. It also creates
// the partitions of today and the next two days ahead of need. A zero
// period keeps everything.
func (s *Store) ApplyRetention(ctx context.Context, r results.Retention, now time.Time) error {
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
	}{{"rollup_minute", r.Minute}, {"rollup_hour", r.Hour}, {"rollup_day", r.Hour}}
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
