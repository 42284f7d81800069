package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the pure-Go driver, registered as "sqlite"

	"github.com/picketnet/picket/internal/intern"
	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/results/rollup"
)

// Store is the embedded store. It is safe for concurrent use by one
// process; two processes must not open the same file (Locker is
// in-process).
type Store struct {
	w *sql.DB // the one writer connection
	r *sql.DB // readers; WAL lets them run beside the writer

	// wmu serialises the users of the writer connection: each holds it
	// from its transaction's begin to its commit, and prepares what needs
	// no database before taking it, so that two cores overlap the Go work
	// of one batch or compaction with the SQLite work of another.
	wmu   sync.Mutex
	stmts writerStmts
	// queue holds the batches waiting for the writer (see Ingest).
	qmu   sync.Mutex
	queue []*batch
	// cmu makes compactions (and the other writers of rollup rows,
	// LoadRollups and ApplyRetention) one at a time, from reading the
	// stored rows to the commit of the new ones: they are the only
	// writers of rollup rows, so what they read, also outside wmu and
	// through a reader connection, is what they overwrite. It guards
	// cache and the watermarks.
	cmu      sync.Mutex
	cache    *rollupCache
	suffixWM int64                // see suffix.go
	hoursWM  int64                // see derive.go
	now      func() time.Time     // says which hours have ended (derive.go)
	rload    map[string]*sql.Stmt // loadSQL of each chunk size, on the readers

	lmu   sync.Mutex
	locks map[string]bool

	compactor rollup.Compactor
	recent    recentFeed // see feed.go
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
	s := &Store{w: w, r: r, locks: make(map[string]bool), now: time.Now,
		stmts: writerStmts{cache: make(map[string]*sql.Stmt)}, rload: make(map[string]*sql.Stmt)}
	if err := s.prepare(ctx); err != nil {
		s.Close()
		return nil, err
	}
	for _, l := range rollup.Levels {
		for _, n := range chunkSizes {
			q := loadSQL(l, n)
			if s.rload[q], err = r.PrepareContext(ctx, q); err != nil {
				s.Close()
				return nil, fmt.Errorf("sqlite: prepare: %w", err)
			}
		}
	}
	var last int64
	if err := r.QueryRowContext(ctx, lastRowidSQL).Scan(&last); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	s.recent.from = last
	if s.cache, err = newRollupCache(ctx, w); err != nil {
		s.Close()
		return nil, err
	}
	if s.suffixWM, err = suffixWM(ctx, w.QueryContext); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if s.hoursWM, err = hoursWM(ctx, w.QueryContext); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	// Each compaction rewrites the minute and hour rows of what it folds:
	// fewer, larger compactions rewrite an hour row once for more
	// results, and reads add at most about 64 batches of pending deltas.
	s.compactor.KickAfter = 64
	s.compactor.Every = 4 * time.Second
	s.compactor.Start(func(ctx context.Context) (func(), error) { return nil, s.Compact(ctx) })
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

// Ingest implements results.ResultStore. Batches that arrive while the
// writer is busy are stored together, in one transaction (group commit):
// one commit, one fsync and one write of the index pages they share
// instead of one each. Ingest returns once its batch is committed.
func (s *Store) Ingest(ctx context.Context, rs []results.Result) (results.IngestOutcome, error) {
	if len(rs) == 0 {
		return results.IngestOutcome{}, nil
	}
	// The statement arguments and the batch's rollups are made before
	// taking the writer. The rollups are of every record: a duplicate
	// (a prober's retry) is rare, and then they are made again.
	b := &batch{rs: rs, chunks: resultArgs(rs), done: make(chan struct{})}
	var err error
	if b.deltas, err = rollup.AppendDeltas(nil, rollup.Deltas(rs)); err != nil {
		return results.IngestOutcome{}, fmt.Errorf("sqlite: ingest: rollups: %w", err)
	}
	s.qmu.Lock()
	s.queue = append(s.queue, b)
	s.qmu.Unlock()
	s.wmu.Lock()
	for !b.committed() {
		// Not cancelled with this caller: the group holds other batches.
		s.commitQueued(context.WithoutCancel(ctx))
	}
	s.wmu.Unlock()
	if b.err != nil {
		return results.IngestOutcome{}, b.err
	}
	if len(b.out.Accepted) > 0 {
		s.compactor.Added()
	}
	return b.out, nil
}

// batch is what Ingest prepares before taking the writer, and what it
// learns.
type batch struct {
	rs     []results.Result
	chunks [][]any          // resultArgs(rs)
	deltas []byte           // the rollups of rs, rollup.AppendDeltas
	fresh  []results.Result // what the insert stored: rs less duplicates

	done chan struct{} // closed once committed or failed
	out  results.IngestOutcome
	err  error
}

func (b *batch) committed() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

// groupBatches is how many queued batches one transaction stores at most.
const groupBatches = 16

// commitQueued stores the oldest queued batches in one transaction. The
// caller holds wmu.
func (s *Store) commitQueued(ctx context.Context) {
	s.qmu.Lock()
	n := min(len(s.queue), groupBatches)
	group := slices.Clone(s.queue[:n])
	s.queue = append(s.queue[:0], s.queue[n:]...)
	s.qmu.Unlock()
	var last int64 // the rowid of the last result stored
	err := s.writeTx(ctx, "ingest", func(tx *sql.Tx) error {
		for _, b := range group {
			if err := s.insertBatch(ctx, tx, b); err != nil {
				return err
			}
		}
		return tx.QueryRowContext(ctx, lastRowidSQL).Scan(&last)
	})
	if err == nil {
		var fresh []results.Result
		for _, b := range group {
			fresh = append(fresh, b.fresh...)
		}
		s.recent.add(last, fresh)
	}
	for _, b := range group {
		if err != nil {
			b.out, b.err = results.IngestOutcome{}, err
		}
		close(b.done)
	}
}

// insertBatch stores b within tx and sets b.out. It presumes that no
// record is stored yet, which holds nearly always, and inserts them all
// with INSERT OR IGNORE and without RETURNING, which costs a fifth of the
// insert. When a statement inserts fewer rows than it has, it learns
// which records are new from the rows stored since it began: a new row's
// rowid is larger than any before it (the largest plus one). Neither a
// savepoint per batch nor a second insert is needed: in a transaction of
// several batches a savepoint made SQLite copy every page the batch
// changed to its statement journal first, a tenth of ingest's CPU.
func (s *Store) insertBatch(ctx context.Context, tx *sql.Tx, b *batch) error {
	b.out = results.IngestOutcome{}
	var before int64
	if err := tx.StmtContext(ctx, s.stmts.cache[lastRowidSQL]).QueryRowContext(ctx).Scan(&before); err != nil {
		return fmt.Errorf("insert: %w", err)
	}
	short, err := s.insertNew(ctx, tx, b.chunks)
	if err != nil {
		return err
	}
	if !short {
		for i := range b.rs {
			b.out.Accepted = append(b.out.Accepted, b.rs[i].ID)
		}
		b.fresh = b.rs
	} else {
		inserted, err := s.storedSince(ctx, tx, before, len(b.rs))
		if err != nil {
			return err
		}
		fresh := make([]results.Result, 0, len(inserted))
		for i := range b.rs {
			if id := b.rs[i].ID; inserted[id] {
				delete(inserted, id) // a second copy in the batch is a duplicate
				b.out.Accepted = append(b.out.Accepted, id)
				fresh = append(fresh, b.rs[i])
			} else {
				b.out.Duplicate = append(b.out.Duplicate, id)
			}
		}
		b.fresh = fresh
		if len(fresh) == 0 {
			return nil
		}
		if b.deltas, err = rollup.AppendDeltas(nil, rollup.Deltas(fresh)); err != nil {
			return fmt.Errorf("rollups: %w", err)
		}
	}
	// The rollups of the batch, as one pending row; compaction folds it
	// into the rollup tables (see Compact).
	if _, err := tx.StmtContext(ctx, s.stmts.cache[pendingSQL]).ExecContext(ctx, b.deltas); err != nil {
		return fmt.Errorf("rollups: %w", err)
	}
	return nil
}

const pendingSQL = `INSERT INTO rollup_pending (deltas) VALUES (?)`

// compactBatches is how many pending batches one compaction transaction
// folds at most: more share more hour and day row writes, fewer hold the
// writer for less time.
const compactBatches = 256

// PendingRollups returns how many committed batches of rollup deltas
// wait for compaction: its backlog, which the collector exposes as a
// metric.
func (s *Store) PendingRollups(ctx context.Context) (int64, error) {
	var n int64
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM rollup_pending`).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: pending rollups: %w", err)
	}
	return n, nil
}

// Compact folds every pending rollup delta into the rollup tables, then
// derives the packs of the hours that have ended (derive.go). A
// background loop calls it as batches arrive; reads do not depend on it
// (they add what is pending, and the hours not derived), so calling it
// only changes how fast they are.
func (s *Store) Compact(ctx context.Context) error {
	for {
		n, err := s.compactOnce(ctx)
		if err != nil {
			return err
		}
		if n < compactBatches {
			break
		}
	}
	s.cmu.Lock()
	defer s.cmu.Unlock()
	return s.derive(ctx)
}

// compactOnce folds up to compactBatches pending batches. Everything but
// the writes is done before taking the writer (see cmu).
//
// The deltas of hours not derived yet, nearly all, change minute and hour
// rows only. Those of hours derived already (late results) change their
// day and week packs too, and the suffix and multi-week packs above:
// applied to the packs' entries, which hold the hours before the
// watermark, rollup.ApplyDeltas returns what the packs must hold.
func (s *Store) compactOnce(ctx context.Context) (int, error) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	deltas, last, n, err := s.readPending(ctx)
	if err != nil || n == 0 {
		return 0, err
	}
	current := make([]*rollup.Row, 0, len(deltas))
	var late []*rollup.Row
	for _, d := range deltas {
		if d.Bucket < s.hoursWM {
			late = append(late, d)
		} else {
			current = append(current, d)
		}
	}
	packs := make(dayPacks)
	load := func(keys []rollup.Key) (map[rollup.Key]*rollup.Row, error) {
		return s.loadRollups(ctx, s.readQuery, keys, packs)
	}
	ru, err := rollup.ApplyMinutesHours(current, load)
	if err != nil {
		return 0, fmt.Errorf("sqlite: compact: %w", err)
	}
	lateRows, err := rollup.ApplyDeltas(late, load)
	if err != nil {
		return 0, fmt.Errorf("sqlite: compact: %w", err)
	}
	ru = append(ru, lateRows...)
	writes, err := encodeRollups(ru, packs)
	if err != nil {
		return 0, err
	}
	suffixes, err := s.suffixWrites(ctx, s.readQuery, s.lateWeeks(lateRows), packs)
	if err != nil {
		return 0, fmt.Errorf("sqlite: compact: %w", err)
	}
	writes = append(writes, suffixes...)
	s.wmu.Lock()
	err = s.writeTx(ctx, "compact", func(tx *sql.Tx) error {
		if err := s.execWrites(ctx, tx, writes); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM rollup_pending WHERE seq <= ?`, last)
		return err
	})
	s.wmu.Unlock()
	if err != nil {
		return 0, err
	}
	s.cache.remember(ru, packs)
	return n, nil
}

// readPending decodes the oldest compactBatches pending batches, through
// a reader: batches commit in seq order, and only compaction deletes them.
func (s *Store) readPending(ctx context.Context) (deltas []*rollup.Row, last int64, n int, err error) {
	rows, err := s.r.QueryContext(ctx, `SELECT seq, deltas FROM rollup_pending ORDER BY seq LIMIT ?`, compactBatches)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("sqlite: compact: %w", err)
	}
	var names intern.Strings
	for rows.Next() {
		var blob sql.RawBytes
		if err := rows.Scan(&last, &blob); err != nil {
			rows.Close()
			return nil, 0, 0, fmt.Errorf("sqlite: compact: %w", err)
		}
		if deltas, err = rollup.DecodeDeltas(deltas, blob, &names); err != nil {
			rows.Close()
			return nil, 0, 0, fmt.Errorf("sqlite: compact: pending batch %d: %w", last, err)
		}
		n++
	}
	if err := closeRows(rows); err != nil {
		return nil, 0, 0, fmt.Errorf("sqlite: compact: %w", err)
	}
	return deltas, last, n, nil
}

// writeTx runs fn in a transaction on the writer and commits it; the
// caller holds wmu. what names the work in errors.
func (s *Store) writeTx(ctx context.Context, what string, fn func(*sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: %s: begin: %w", what, err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	if err := fn(tx); err != nil {
		return fmt.Errorf("sqlite: %s: %w", what, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: %s: commit: %w", what, err)
	}
	return nil
}

// Statements take many rows at once: the per-statement cost of
// database/sql and the driver, not SQLite, is what bounds ingest. Each
// takes a number of rows from chunkSizes, so that every statement run is
// one prepared at Open: preparing one with thousands of variables costs
// about as much as running it.
var chunkSizes = [...]int{400, 100, 20, 5, 1} // 400 x 23 columns: 9200 variables

const (
	resultCols = 23
	rollupCols = 15
	packCols   = 6
)

// chunks splits n rows into statements of chunkSizes rows, largest first,
// and calls fn with each one's first row and size.
func chunks(n int, fn func(lo, size int) error) error {
	lo := 0
	for _, size := range chunkSizes {
		for ; n-lo >= size; lo += size {
			if err := fn(lo, size); err != nil {
				return err
			}
		}
	}
	return nil
}

// insertNewSQL inserts results, skipping those whose id is stored. OR
// IGNORE rather than ON CONFLICT (id) DO NOTHING: with no constraint left
// that could abort the statement midway, SQLite keeps no statement
// journal (every column is bound, never NULL where NOT NULL).
func insertNewSQL(n int) string {
	return `INSERT OR IGNORE INTO results (` + resultColumns + `) VALUES ` + placeholders(resultCols, n)
}

// upsertSQL writes rollup rows. It leaves team, endpoint and kind (a
// check's, fixed) alone on update, so that the team index is not touched.
func upsertSQL(l rollup.Level, n int) string {
	return `INSERT INTO rollup_` + l.String() + ` (` + rollupColumns + `) VALUES ` +
		placeholders(rollupCols, n) + `
		ON CONFLICT (bucket, check_id, vantage) DO UPDATE SET
		region = excluded.region, provider = excluded.provider, asn = excluded.asn,
		count = excluded.count, failures = excluded.failures,
		failed_minutes = excluded.failed_minutes, down_minutes = excluded.down_minutes,
		errors = excluded.errors, hist = excluded.hist`
}

// prepare prepares the statements of full chunks on the writer, once, at
// Open: the writer's one connection is busy inside a transaction later.
func (s *Store) prepare(ctx context.Context) error {
	qs := []string{pendingSQL, lastRowidSQL}
	for _, n := range chunkSizes {
		qs = append(qs, insertNewSQL(n), packUpsertSQL("rollup_suffix", n), packUpsertSQL("rollup_weeks", n))
		for _, l := range rollup.Levels {
			if l.Packed() {
				qs = append(qs, packUpsertSQL("rollup_"+l.String(), n))
			} else {
				qs = append(qs, upsertSQL(l, n))
			}
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

// resultArgs returns the arguments of the insert statements of rs, one
// slice per statement (see chunks).
func resultArgs(rs []results.Result) [][]any {
	var out [][]any
	_ = chunks(len(rs), func(lo, size int) error {
		chunk := rs[lo : lo+size]
		args := make([]any, 0, len(chunk)*resultCols)
		for i := range chunk {
			r := &chunk[i]
			layer, code, msg := r.ErrorColumns()
			var details []byte
			if len(r.Details) > 0 {
				details = r.Details
			}
			args = append(args, r.ID, r.Team, r.Endpoint, r.Check, r.Kind, r.Vantage,
				r.Region, r.Provider, int64(r.ASN), r.Target, r.Addr, r.StartedAt.UnixNano(),
				r.DurationMS, r.OK, layer, code, msg, r.Phases.DNSMS, r.Phases.ConnectMS,
				r.Phases.TLSMS, r.Phases.TTFBMS, r.Phases.TransferMS, details)
		}
		out = append(out, args)
		return nil
	})
	return out
}

// insertNew runs the inserts of chunks (from resultArgs), and reports
// whether one of them inserted fewer rows than it had: a record was
// stored before, or twice in the batch.
func (s *Store) insertNew(ctx context.Context, tx *sql.Tx, chunks [][]any) (short bool, err error) {
	for _, args := range chunks {
		n := len(args) / resultCols
		st, err := s.stmt(ctx, tx, insertNewSQL(n))
		if err != nil {
			return false, err
		}
		res, err := st.ExecContext(ctx, args...)
		if err != nil {
			return false, fmt.Errorf("insert: %w", err)
		}
		if done, err := res.RowsAffected(); err != nil {
			return false, fmt.Errorf("insert: %w", err)
		} else if done < int64(n) {
			short = true
		}
	}
	return short, nil
}

// storedSince returns the ids of the results stored after rowid.
func (s *Store) storedSince(ctx context.Context, tx *sql.Tx, rowid int64, n int) (map[string]bool, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id FROM results WHERE rowid > ?`, rowid)
	if err != nil {
		return nil, fmt.Errorf("insert: %w", err)
	}
	inserted := make(map[string]bool, n)
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("insert: %w", err)
		}
		inserted[id] = true
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("insert: %w", err)
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

// resultQuery is the statement and arguments of Query(q). An index on
// (endpoint, started_at) serves what the dashboard asks: an
// endpoint's newest results, or one of its checks'.
func resultQuery(q results.ResultQuery) (string, []any) {
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
	limit := results.RowLimit(q.Limit)
	return `SELECT ` + resultColumns + ` FROM results` + w.String() +
		` ORDER BY started_at DESC, id DESC LIMIT ` + fmt.Sprint(limit), w.args
}

// Query implements results.ResultStore.
func (s *Store) Query(ctx context.Context, q results.ResultQuery) ([]results.Result, error) {
	query, args := resultQuery(q)
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: query results: %w", err)
	}
	defer rows.Close()
	var out []results.Result
	for rows.Next() {
		r, err := scanResult(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: query results: %w", err)
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
		cuts = append(cuts, cut{"rollup_suffix", "bucket", "bucket, check_id", now.Add(-r.Hour).Unix()})
		cuts = append(cuts, cut{"rollup_weeks", "bucket", "bucket, check_id", now.Add(-r.Hour).Unix()})
	}
	// No compaction in between: it could write back a row just deleted.
	s.cmu.Lock()
	defer s.cmu.Unlock()
	if r.Minute > 0 {
		s.cache.evictBefore(rollup.Minute, now.Add(-r.Minute).Unix())
	}
	if r.Hour > 0 {
		s.cache.evictBefore(rollup.Hour, now.Add(-r.Hour).Unix())
		s.cache.evictBefore(rollup.Day, now.Add(-r.Hour).Unix())
		s.cache.evictBefore(rollup.Week, now.Add(-r.Hour).Unix())
	}
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
