package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the pure-Go driver, registered as "sqlite"

	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/results/rollup"
)

// Store is the embedded store. It is safe for concurrent use by one
// process; two processes must not open the same file (Locker is
// in-process).
type Store struct {
	w *sql.DB // the one writer connection
	r *sql.DB // readers; WAL lets them run beside the writer

	// wmu makes each Ingest one unit from insert to commit, so that the
	// rollup read-modify-write sees no other writer.
	wmu   sync.Mutex
	stmts writerStmts
	cache *rollupCache

	lmu   sync.Mutex
	locks map[string]bool

	compactor rollup.Compactor
}

type writerStmts struct {
	cache map[string]*sql.Stmt // by SQL text, on the writer connection
}

var _ results.Store = (*Store)(nil)

// Open opens (creating if needed) the database file at path and applies
// the migrations. The file is in WAL mode with synchronous=FULL, so a
// committed Ingest survives a power loss.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	dsn := func(readOnly bool) string {
		q := url.Values{}
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(FULL)")
		q.Add("_pragma", "cache_size(-65536)") // 64 MiB per connection
		q.Add("_pragma", "temp_store(MEMORY)")
		// Checkpoint every 64 MiB of WAL instead of 4 MiB: ingest rewrites
		// the same rollup pages batch after batch, and a page changed many
		// times between checkpoints is copied to the database once.
		q.Add("_pragma", "wal_autocheckpoint(16384)")
		q.Add("_pragma", "mmap_size(4294967296)") // reads without a syscall per page
		if readOnly {
			q.Add("_pragma", "query_only(1)")
		} else {
			q.Set("_txlock", "immediate")
		}
		return "file:" + path + "?" + q.Encode()
	}
	w, err := sql.Open("sqlite", dsn(false))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if _, err := migrate(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", dsn(true))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	n := max(2, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	s := &Store{w: w, r: r, locks: make(map[string]bool),
		stmts: writerStmts{cache: make(map[string]*sql.Stmt)}}
	if err := s.prepare(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if s.cache, err = newRollupCache(ctx, w); err != nil {
		s.Close()
		return nil, err
	}
	s.compactor.KickAfter = 32
	s.compactor.Start(s.Compact)
	return s, nil
}

const resultColumns = `id, team, endpoint, check_id, kind, vantage, region, provider, asn,
	target, addr, started_at, duration_ms, ok, err_layer, err_code, err_message,
	dns_ms, connect_ms, tls_ms, ttfb_ms, transfer_ms, details`

const rollupColumns = `bucket, check_id, vantage, team, endpoint, kind, region, provider, asn,
	count, failures, failed_minutes, down_minutes, errors, hist`

// Close closes the database.
func (s *Store) Close() error {
	s.compactor.Stop()
	return errors.Join(s.r.Close(), s.w.Close())
}

// Ingest implements results.ResultStore.
func (s *Store) Ingest(ctx context.Context, rs []results.Result) (results.IngestOutcome, error) {
	var out results.IngestOutcome
	if len(rs) == 0 {
		return out, nil
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return out, fmt.Errorf("sqlite: ingest: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	inserted, err := s.insertResults(ctx, tx, rs)
	if err != nil {
		return results.IngestOutcome{}, err
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
		// The rollups of the batch, as one pending row; compaction folds
		// it into the rollup tables (see Compact).
		blob, err := rollup.AppendDeltas(nil, rollup.Deltas(fresh))
		if err != nil {
			return results.IngestOutcome{}, fmt.Errorf("sqlite: ingest: rollups: %w", err)
		}
		if _, err := tx.StmtContext(ctx, s.stmts.cache[pendingSQL]).ExecContext(ctx, blob); err != nil {
			return results.IngestOutcome{}, fmt.Errorf("sqlite: ingest: rollups: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return results.IngestOutcome{}, fmt.Errorf("sqlite: ingest: commit: %w", err)
	}
	if len(fresh) > 0 {
		s.compactor.Added()
	}
	return out, nil
}

const pendingSQL = `INSERT INTO rollup_pending (deltas) VALUES (?)`

// compactBatches is how many pending batches one compaction transaction
// folds at most: more share more hour and day row writes, fewer hold the
// writer for less time.
const compactBatches = 256

// Compact folds every pending rollup delta into the rollup tables. A
// background loop calls it as batches arrive; reads do not depend on it
// (they add what is pending), so calling it only changes how fast they are.
func (s *Store) Compact(ctx context.Context) error {
	for {
		n, err := s.compactOnce(ctx)
		if err != nil || n < compactBatches {
			return err
		}
	}
}

func (s *Store) compactOnce(ctx context.Context) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("sqlite: compact: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	var deltas []*rollup.Row
	var last int64
	n := 0
	rows, err := tx.QueryContext(ctx, `SELECT seq, deltas FROM rollup_pending ORDER BY seq LIMIT ?`, compactBatches)
	if err != nil {
		return 0, fmt.Errorf("sqlite: compact: %w", err)
	}
	for rows.Next() {
		var blob sql.RawBytes
		if err := rows.Scan(&last, &blob); err != nil {
			rows.Close()
			return 0, fmt.Errorf("sqlite: compact: %w", err)
		}
		if deltas, err = rollup.DecodeDeltas(deltas, blob); err != nil {
			rows.Close()
			return 0, fmt.Errorf("sqlite: compact: pending batch %d: %w", last, err)
		}
		n++
	}
	if err := closeRows(rows); err != nil {
		return 0, fmt.Errorf("sqlite: compact: %w", err)
	}
	if n == 0 {
		return 0, nil
	}
	packs := make(dayPacks)
	ru, err := rollup.ApplyDeltas(deltas, func(keys []rollup.Key) (map[rollup.Key]*rollup.Row, error) {
		return s.loadRollups(ctx, tx, keys, packs)
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: compact: %w", err)
	}
	if err := s.writeRollups(ctx, tx, ru, packs); err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM rollup_pending WHERE seq <= ?`, last); err != nil {
		return 0, fmt.Errorf("sqlite: compact: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("sqlite: compact: commit: %w", err)
	}
	s.cache.remember(ru, packs)
	return n, nil
}

// Statements take many rows at once: the per-statement cost of
// database/sql and the driver, not SQLite, is what bounds ingest.
const (
	resultChunk = 400 // 23 columns: 9200 variables
	rollupChunk = 500 // 15 columns: 7500 variables
	keyChunk    = 500
)

func insertSQL(n int) string {
	return `INSERT INTO results (` + resultColumns + `) VALUES ` + placeholders(23, n) +
		` ON CONFLICT (id) DO NOTHING RETURNING id`
}

// upsertSQL writes rollup rows. It leaves team, endpoint and kind (a
// check's, fixed) alone on update, so that the team index is not touched.
func upsertSQL(l rollup.Level, n int) string {
	return `INSERT INTO rollup_` + l.String() + ` (` + rollupColumns + `) VALUES ` +
		placeholders(15, n) + `
		ON CONFLICT (bucket, check_id, vantage) DO UPDATE SET
		region = excluded.region, provider = excluded.provider, asn = excluded.asn,
		count = excluded.count, failures = excluded.failures,
		failed_minutes = excluded.failed_minutes, down_minutes = excluded.down_minutes,
		errors = excluded.errors, hist = excluded.hist`
}

// prepare prepares the statements of full chunks on the writer, once, at
// Open: the writer's one connection is busy inside a transaction later.
func (s *Store) prepare(ctx context.Context) error {
	qs := []string{insertSQL(resultChunk), pendingSQL}
	for _, l := range rollup.Levels {
		qs = append(qs, loadSQL(l, keyChunk))
		if !l.Packed() {
			qs = append(qs, upsertSQL(l, rollupChunk))
		}
	}
	for _, q := range qs {
		st, err := s.w.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("sqlite: prepare: %w", err)
		}
		s.stmts.cache[q] = st
	}
	return nil
}

// stmt returns the statement for q within tx: the prepared one for a full
// chunk, else one prepared in the transaction.
func (s *Store) stmt(ctx context.Context, tx *sql.Tx, q string) (*sql.Stmt, error) {
	if st, ok := s.stmts.cache[q]; ok {
		return tx.StmtContext(ctx, st), nil
	}
	return tx.PrepareContext(ctx, q)
}

func placeholders(cols, rows int) string {
	one := "(" + strings.Repeat("?,", cols-1) + "?)"
	return strings.Repeat(one+",", rows-1) + one
}

func (s *Store) insertResults(ctx context.Context, tx *sql.Tx, rs []results.Result) (map[string]bool, error) {
	inserted := make(map[string]bool, len(rs))
	args := make([]any, 0, resultChunk*23)
	for lo := 0; lo < len(rs); lo += resultChunk {
		chunk := rs[lo:min(lo+resultChunk, len(rs))]
		args = args[:0]
		for i := range chunk {
			r := &chunk[i]
			var layer, code, msg string
			if r.Error != nil {
				layer, code, msg = string(r.Error.Layer), string(r.Error.Code), r.Error.Message
			}
			var details []byte
			if len(r.Details) > 0 {
				details = r.Details
			}
			args = append(args, r.ID, r.Team, r.Endpoint, r.Check, r.Kind, r.Vantage,
				r.Region, r.Provider, int64(r.ASN), r.Target, r.Addr, r.StartedAt.UnixNano(),
				r.DurationMS, r.OK, layer, code, msg, r.Phases.DNSMS, r.Phases.ConnectMS,
				r.Phases.TLSMS, r.Phases.TTFBMS, r.Phases.TransferMS, details)
		}
		q := insertSQL(len(chunk))
		st, err := s.stmt(ctx, tx, q)
		if err != nil {
			return nil, fmt.Errorf("sqlite: ingest: %w", err)
		}
		rows, err := st.QueryContext(ctx, args...)
		if err != nil {
			return nil, fmt.Errorf("sqlite: ingest: insert: %w", err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("sqlite: ingest: insert: %w", err)
			}
			inserted[id] = true
		}
		err = rows.Close()
		if err == nil {
			err = rows.Err()
		}
		if err != nil {
			return nil, fmt.Errorf("sqlite: ingest: insert: %w", err)
		}
	}
	return inserted, nil
}

// where builds a WHERE clause from optional equality filters.
type where struct {
	conds []string
	args  []any
}

func (w *where) eq(col, v string) {
	if v != "" {
		w.conds = append(w.conds, col+" = ?")
		w.args = append(w.args, v)
	}
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
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
		w.add("ok = 0")
	}
	if !q.Since.IsZero() {
		w.add("started_at >= ?", q.Since.UnixNano())
	}
	if !q.Until.IsZero() {
		w.add("started_at < ?", q.Until.UnixNano())
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 1000
	}
	limit = min(limit, 100000)
	rows, err := s.r.QueryContext(ctx, `SELECT `+resultColumns+` FROM results`+w.String()+
		` ORDER BY started_at DESC, id DESC LIMIT `+fmt.Sprint(limit), w.args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: query results: %w", err)
	}
	defer rows.Close()
	var out []results.Result
	for rows.Next() {
		var r results.Result
		var asn int64
		var started int64
		var layer, code, msg string
		var details []byte
		if err := rows.Scan(&r.ID, &r.Team, &r.Endpoint, &r.Check, &r.Kind, &r.Vantage, &r.Region,
			&r.Provider, &asn, &r.Target, &r.Addr, &started, &r.DurationMS, &r.OK, &layer, &code, &msg,
			&r.Phases.DNSMS, &r.Phases.ConnectMS, &r.Phases.TLSMS, &r.Phases.TTFBMS,
			&r.Phases.TransferMS, &details); err != nil {
			return nil, fmt.Errorf("sqlite: query results: %w", err)
		}
		r.ASN = uint32(asn)
		r.StartedAt = time.Unix(0, started).UTC()
		if layer != "" || code != "" {
			r.Error = &results.Error{Layer: results.Layer(layer), Code: results.Code(code), Message: msg}
		}
		if len(details) > 0 {
			r.Details = details
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: query results: %w", err)
	}
	return out, nil
}

// ApplyRetention implements results.ResultStore. Day rollups are kept as
// long as hour rollups. A zero period keeps everything.
func (s *Store) ApplyRetention(ctx context.Context, r results.Retention, now time.Time) error {
	// Pending deltas of old results would bring back the rows deleted.
	if err := s.Compact(ctx); err != nil {
		return err
	}
	type cut struct {
		table, col, key string
		before          int64
	}
	const rollupKey = "bucket, check_id, vantage"
	var cuts []cut
	if r.Raw > 0 {
		cuts = append(cuts, cut{"results", "started_at", "rowid", now.Add(-r.Raw).UnixNano()})
	}
	if r.Minute > 0 {
		cuts = append(cuts, cut{"rollup_minute", "bucket", rollupKey, now.Add(-r.Minute).Unix()})
	}
	if r.Hour > 0 {
		cuts = append(cuts, cut{"rollup_hour", "bucket", rollupKey, now.Add(-r.Hour).Unix()})
		cuts = append(cuts, cut{"rollup_day", "bucket", "bucket, check_id", now.Add(-r.Hour).Unix()})
		cuts = append(cuts, cut{"rollup_week", "bucket", "bucket, check_id", now.Add(-r.Hour).Unix()})
	}
	s.wmu.Lock()
	if r.Minute > 0 {
		s.cache.evictBefore(rollup.Minute, now.Add(-r.Minute).Unix())
	}
	if r.Hour > 0 {
		s.cache.evictBefore(rollup.Hour, now.Add(-r.Hour).Unix())
		s.cache.evictBefore(rollup.Day, now.Add(-r.Hour).Unix())
		s.cache.evictBefore(rollup.Week, now.Add(-r.Hour).Unix())
	}
	s.wmu.Unlock()
	const slice = 10000
	for _, c := range cuts {
		// In slices, so that a large purge does not hold the writer for long.
		q := `DELETE FROM ` + c.table + ` WHERE (` + c.key + `) IN (SELECT ` + c.key + ` FROM ` +
			c.table + ` WHERE ` + c.col + ` < ? LIMIT ` + fmt.Sprint(slice) + `)`
		for {
			s.wmu.Lock()
			res, err := s.w.ExecContext(ctx, q, c.before)
			s.wmu.Unlock()
			if err != nil {
				return fmt.Errorf("sqlite: retention of %s: %w", c.table, err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return fmt.Errorf("sqlite: retention of %s: %w", c.table, err)
			} else if n < slice {
				break
			}
		}
	}
	return nil
}

// TryLock implements results.Locker within this process: SQLite has one
// process, so a mutex-guarded set of held names is enough.
func (s *Store) TryLock(ctx context.Context, name string) (func(), bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	s.lmu.Lock()
	defer s.lmu.Unlock()
	if s.locks[name] {
		return nil, false, nil
	}
	s.locks[name] = true
	var once sync.Once
	return func() {
		once.Do(func() {
			s.lmu.Lock()
			delete(s.locks, name)
			s.lmu.Unlock()
		})
	}, true, nil
}
