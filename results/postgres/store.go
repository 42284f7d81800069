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

	"github.com/picketnet/picket/internal/intern"
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
	partitions map[int64]bool // Unix day numbers with result_ids and result_packs partitions
	legacy     time.Time      // see legacyEnd

	lmu    sync.Mutex
	lconn  *pgx.Conn // the dedicated session holding advisory locks
	locked map[string]bool

	recent recentPacks // for the feed's reader in this process

	cmu       sync.Mutex // one compaction at a time in this process
	resting   bool       // the compaction loop holds the lock through its rest; guarded by cmu
	cache     rowCache   // guarded by cmu
	compactor rollup.Compactor
}

var _ results.Store = (*Store)(nil)

// partitionLock serialises partition creation and dropping across replicas.
const partitionLock = 0x7069636b65740002

const rollupColumns = `bucket, check_id, vantage, team, endpoint, kind, region, provider, asn,
	count, failures, failed_minutes, down_minutes, errors, hist`

// Open connects to the database at url (a postgres:// URL or DSN),
// applies the migrations and returns the store.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	// Each connection stages the ids of batches that hold duplicates in
	// its own temporary table.
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, `CREATE TEMP TABLE IF NOT EXISTS result_ids_staging
			(LIKE result_ids) ON COMMIT DELETE ROWS`)
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
	if err != nil {
		mpool.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	// On the migrations' pool too, so that the store's starts empty: a
	// connection left idle in it would be the first handed out, however
	// long ago the database last answered it.
	legacy, err := loadLegacyEnd(ctx, mpool)
	mpool.Close()
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	s := &Store{pool: pool, url: url, partitions: make(map[int64]bool), legacy: legacy, locked: make(map[string]bool)}
	s.compactor.Start(s.compactInTurn)
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

// LockKey is the advisory lock key of TryLock(name), for an operator
// looking for the session that holds it: in pg_locks, classid holds its
// high 32 bits and objid its low 32 bits.
func LockKey(name string) int64 { return hashKey("lock", name) }

func hashKey(prefix, name string) int64 {
	h := fnv.New64a()
	h.Write([]byte(prefix))
	h.Write([]byte{0})
	h.Write([]byte(name))
	return int64(h.Sum64())
}

const day = 24 * time.Hour

func dayOf(t time.Time) int64 { return t.UTC().Truncate(day).Unix() / 86400 }

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
			if err := idsPartitions.create(ctx, tx, d); err != nil {
				return err
			}
			if err := packsPartitions.create(ctx, tx, d); err != nil {
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

// Ingest implements results.ResultStore. In one transaction it records
// the ids of the batch's new results in result_ids, which makes ingest
// idempotent, stores the results in packs (resultpacks.go), which are
// also the alert evaluator's feed, and appends their rollup deltas as one
// rollup_pending row. It rewrites no rollup row, so concurrent batches never
// wait for each other's rollups: Compact folds the pending deltas into
// the rollup tables later.
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

// ingest first tries the fast path, a COPY of the ids straight into
// result_ids, which holds when no record of the batch is stored yet
// (nearly always: a duplicate is a prober's retry). A record already
// stored makes the COPY fail on the unique key, and then the batch goes
// the merging way. So does a batch holding results stored before the
// upgrade to packs (legacy.go).
func (s *Store) ingest(ctx context.Context, rs []results.Result) (results.IngestOutcome, error) {
	legacy, err := s.legacyDuplicates(ctx, rs)
	if err != nil {
		return results.IngestOutcome{}, err
	}
	if len(legacy) == 0 && !hasDuplicateIDs(rs) {
		out, err := s.ingestCopy(ctx, rs)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || (pgErr.Code != "23505" && pgErr.Code != "40P01") {
			return out, err
		}
	}
	return s.ingestMerge(ctx, rs, legacy)
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

// ingestCopy copies the batch's ids into result_ids, in key order so that
// two overlapping batches wait for each other rather than deadlock; the
// later one then fails on the unique key.
func (s *Store) ingestCopy(ctx context.Context, rs []results.Result) (results.IngestOutcome, error) {
	var out results.IngestOutcome
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return out, fmt.Errorf("postgres: ingest: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit it is a no-op
	if err := copyIDs(ctx, tx, "result_ids", rs, byKey(rs)); err != nil {
		return out, fmt.Errorf("postgres: ingest: copy ids: %w", err)
	}
	st, err := s.storeFresh(ctx, tx, rs)
	if err != nil {
		return out, err
	}
	if err := tx.Commit(ctx); err != nil {
		return out, fmt.Errorf("postgres: ingest: commit: %w", err)
	}
	s.committed(st)
	out.Accepted = make([]string, len(rs))
	for i := range rs {
		out.Accepted[i] = rs[i].ID
	}
	return out, nil
}

// storeFresh stores, in the ingest transaction, the results whose ids it
// has just recorded (fresh): in packs, and what they need once committed
// (appendPending). It returns what to hand to committed.
func (s *Store) storeFresh(ctx context.Context, tx pgx.Tx, fresh []results.Result) (stored, error) {
	packs, err := copyPacks(ctx, tx, fresh)
	if err != nil {
		return stored{}, fmt.Errorf("postgres: ingest: copy packs: %w", err)
	}
	xid, err := appendPending(ctx, tx, fresh)
	if err != nil || !s.recent.wanted(time.Now()) {
		return stored{}, err
	}
	return stored{xid: xid, packs: packs}, nil
}

// stored is what an ingest transaction stored that the feed's reader in
// this process may take from memory (recent.go): the packs of
// transaction xid, or nothing when xid is "".
type stored struct {
	xid   string
	packs []pack
}

// committed is called once the ingest transaction that stored st has
// committed.
func (s *Store) committed(st stored) {
	if st.xid != "" {
		s.recent.add(st.xid, st.packs)
	}
	s.compactor.Added()
}

// appendPending records, in the ingest transaction, the rollup deltas of
// the results stored for the first time (fresh), as one rollup_pending
// row for compaction, and returns the transaction's id. (Alert evaluation
// reads the results themselves from their packs.)
func appendPending(ctx context.Context, tx pgx.Tx, fresh []results.Result) (xid string, err error) {
	blob, err := rollup.AppendDeltas(nil, rollup.Deltas(fresh))
	if err != nil {
		return "", fmt.Errorf("postgres: ingest: rollups: %w", err)
	}
	err = tx.QueryRow(ctx, `INSERT INTO rollup_pending (deltas) VALUES ($1) RETURNING pg_current_xact_id()::text`, blob).Scan(&xid)
	if err != nil {
		return "", fmt.Errorf("postgres: ingest: pending rollups: %w", err)
	}
	return xid, nil
}

// ingestMerge stages the batch's ids in a temporary table, inserts those
// not stored yet, and stores their results. The records of legacy, which
// results_legacy holds, are duplicates from the start.
func (s *Store) ingestMerge(ctx context.Context, rs []results.Result, legacy map[idKey]bool) (results.IngestOutcome, error) {
	var out results.IngestOutcome
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return out, fmt.Errorf("postgres: ingest: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit it is a no-op

	var order []int
	for i := range rs {
		if !legacy[keyOf(&rs[i])] {
			order = append(order, i)
		}
	}
	inserted := make(map[idKey]bool, len(order))
	if len(order) > 0 {
		if err := copyIDs(ctx, tx, "result_ids_staging", rs, order); err != nil {
			return out, fmt.Errorf("postgres: ingest: copy ids: %w", err)
		}
		// ORDER BY takes the unique-index entries in one order in every
		// transaction, so overlapping batches wait for each other instead
		// of deadlocking.
		rows, err := tx.Query(ctx, `INSERT INTO result_ids (id, started_at)
			SELECT DISTINCT id, started_at FROM result_ids_staging ORDER BY id, started_at
			ON CONFLICT (id, started_at) DO NOTHING RETURNING id, started_at`)
		if err != nil {
			return out, fmt.Errorf("postgres: ingest: insert ids: %w", err)
		}
		var k idKey
		var at time.Time
		_, err = pgx.ForEachRow(rows, []any{&k.id, &at}, func() error {
			k.at = at.UnixMicro()
			inserted[k] = true
			return nil
		})
		if err != nil {
			return out, fmt.Errorf("postgres: ingest: insert ids: %w", err)
		}
	}
	fresh := make([]results.Result, 0, len(inserted))
	for i := range rs {
		if k := keyOf(&rs[i]); inserted[k] {
			delete(inserted, k) // a second copy in the batch is a duplicate
			out.Accepted = append(out.Accepted, rs[i].ID)
			fresh = append(fresh, rs[i])
		} else {
			out.Duplicate = append(out.Duplicate, rs[i].ID)
		}
	}
	var st stored
	if len(fresh) > 0 {
		if st, err = s.storeFresh(ctx, tx, fresh); err != nil {
			return results.IngestOutcome{}, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return results.IngestOutcome{}, fmt.Errorf("postgres: ingest: commit: %w", err)
	}
	if len(fresh) > 0 {
		s.committed(st)
	}
	return out, nil
}

// compactBatches is how many pending batches one compaction transaction
// folds at most: the more minutes of a series one compaction holds, the
// fewer times its hour row is rewritten.
const compactBatches = 256

// PendingRollups returns how many committed batches of rollup deltas
// wait for compaction, whichever replica stored them: the backlog, which
// the collector exposes as a metric.
func (s *Store) PendingRollups(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM rollup_pending`).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: pending rollups: %w", err)
	}
	return n, nil
}

// Compact folds every pending rollup delta into the minute and hour
// rows, then derives the packs of the hours that have ended (packs.go).
// It runs in one replica at a time (TryLock "rollup-compaction"); when
// another replica holds the lock, that replica does the work and Compact
// returns at once. Reads add what is pending and what is not derived yet,
// so they are exact whatever compaction has done.
//
// While this process's background loop rests after a compaction, it
// keeps the lock (compactInTurn), and Compact uses it.
func (s *Store) Compact(ctx context.Context) error {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	unlock, ok, err := s.compactionTurn(ctx)
	if err != nil || !ok {
		return err
	}
	defer unlock()
	return s.compactLocked(ctx)
}

// compactionLock is the lock a replica compacts under.
const compactionLock = "rollup-compaction"

// compactInTurn is the background loop's compaction. It keeps the lock
// through the rest that follows (rollup.Compactor), until the loop calls
// release, so that the other replicas do not compact while this one
// rests: the rest would be for nothing, and the server as busy as
// before.
func (s *Store) compactInTurn(ctx context.Context) (release func(), err error) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	unlock, ok, err := s.TryLock(ctx, compactionLock)
	if err != nil || !ok {
		return nil, err
	}
	err = s.compactLocked(ctx)
	s.resting = true
	return func() {
		s.cmu.Lock()
		s.resting = false
		s.cmu.Unlock()
		unlock()
	}, err
}

// compactionTurn takes the compaction lock for a caller in this process,
// under cmu; ok is false when another replica holds it. While the
// background loop rests holding the lock, the caller uses it (unlock then
// leaves it to the loop), unless the loop's session was lost meanwhile,
// and the lock with it.
func (s *Store) compactionTurn(ctx context.Context) (unlock func(), ok bool, err error) {
	if s.resting {
		if held, err := s.HoldsLock(ctx, compactionLock); err == nil && held {
			return func() {}, true, nil
		}
	}
	return s.TryLock(ctx, compactionLock)
}

// compactLocked is Compact under the lock.
func (s *Store) compactLocked(ctx context.Context) error {
	for {
		n, err := s.compactOnce(ctx, false)
		if isUniqueViolation(err) || errors.Is(err, errRollupGone) {
			n, err = s.compactOnce(ctx, true)
		}
		if err != nil {
			return err
		}
		if n < compactBatches {
			return s.derive(ctx, time.Now(), deriveChunks)
		}
	}
}

// compactOnce folds the oldest pending batches. Unless careful, it looks
// up only the minute rows that the hour rows say exist (minutes.go).
func (s *Store) compactOnce(ctx context.Context, careful bool) (int, error) {
	n := 0
	var written []*rollup.Row
	var masks map[rollup.Key]*int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT seq, deltas FROM rollup_pending ORDER BY seq LIMIT $1`, compactBatches)
		if err != nil {
			return err
		}
		var deltas []*rollup.Row
		var seqs []int64
		var names intern.Strings
		err = eachPending(rows, func(seq int64, blob []byte) error {
			var err error
			if deltas, err = rollup.DecodeDeltas(deltas, blob, &names); err != nil {
				return fmt.Errorf("pending batch %d: %w", seq, err)
			}
			seqs = append(seqs, seq)
			return nil
		})
		if err != nil || len(seqs) == 0 {
			return err
		}
		n = len(seqs)
		if err := asyncCommit(ctx, tx); err != nil {
			return err
		}
		if err := s.cache.begin(ctx, tx); err != nil {
			return err
		}
		w, err := readWatermark(ctx, tx, false)
		if err != nil {
			return err
		}
		if written, masks, err = foldDeltas(ctx, tx, deltas, w, &s.cache, careful); err != nil {
			return err
		}
		if err := bumpHourWrites(ctx, tx); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM rollup_pending WHERE seq = ANY($1)`, seqs)
		return err
	})
	if err != nil {
		s.cache.valid = false
		return 0, fmt.Errorf("postgres: compact: %w", err)
	}
	if n > 0 {
		s.cache.committed(written, masks)
	}
	return n, nil
}

// foldDeltas writes the minute and hour rows that deltas change. Deltas
// of hours already derived (late results) also go to the packs: applied
// with no day row loaded, rollup.ApplyDeltas returns as day rows exactly
// what they add to their days, failed and down minutes included.
//
// It returns the rows it wrote and the minutes of the hour rows among
// them.
func foldDeltas(ctx context.Context, tx pgx.Tx, deltas []*rollup.Row, w watermark, cache *rowCache, careful bool) ([]*rollup.Row, map[rollup.Key]*int64, error) {
	var current, late []*rollup.Row
	for _, d := range deltas {
		if d.Bucket < w.hours {
			late = append(late, d)
		} else {
			current = append(current, d)
		}
	}
	loader := newCompactLoader(ctx, tx, cache, careful)
	// Rows not stored yet (most minutes) are copied in, which costs the
	// server far less than an upsert, and the stored ones updated; only
	// compaction writes rollups, under its lock, so none appears or goes
	// meanwhile (if one did, the copy would fail on the key, or the update
	// miss a row, and Compact retry, looking every row up).
	ru, err := rollup.ApplyMinutesHours(current, loader.load)
	if err != nil {
		return nil, nil, err
	}
	lateRows, err := rollup.ApplyDeltas(late, loader.load)
	if err != nil {
		return nil, nil, err
	}
	var fresh, changed, days []*rollup.Row
	for _, r := range append(ru, lateRows...) {
		switch {
		case r.Level == rollup.Day:
			days = append(days, r) // only late rows have days
		case r.Level > rollup.Hour:
		case loader.stored[r.Key] == nil:
			fresh = append(fresh, r)
		default:
			changed = append(changed, r)
		}
	}
	written := append(slices.Clip(fresh), changed...)
	masks := loader.newMasks(written)
	if err := copyRollups(ctx, tx, fresh, masks); err != nil {
		return nil, nil, err
	}
	if err := updateRollups(ctx, tx, changed, masks); err != nil {
		return nil, nil, err
	}
	return written, masks, addToPacks(ctx, tx, days)
}

// asyncCommit lets a transaction that only reorganises what is stored
// commit without waiting for its WAL to reach disk: lost in a crash, it
// is lost whole, and its work is done again (the pending deltas it would
// have deleted are still there).
func asyncCommit(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `SET LOCAL synchronous_commit = off`)
	return err
}

// pending reads the pending deltas that f selects, oldest first.
func pending(ctx context.Context, tx pgx.Tx, f *rollup.DeltaFilter) ([]*rollup.Row, error) {
	rows, err := tx.Query(ctx, `SELECT seq, deltas FROM rollup_pending ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("pending rollups: %w", err)
	}
	var out, all []*rollup.Row
	var names intern.Strings
	err = eachPending(rows, func(_ int64, blob []byte) error {
		var err error
		if all, err = rollup.DecodeDeltas(all[:0], blob, &names); err != nil {
			return err
		}
		for _, d := range all {
			if f.Match(d) {
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

// eachPending calls fn with each row of rows (seq, deltas of
// rollup_pending), the deltas as the server sent them: valid until fn
// returns, and not copied first (they are megabytes a compaction).
func eachPending(rows pgx.Rows, fn func(seq int64, deltas []byte) error) error {
	defer rows.Close()
	for rows.Next() {
		var seq int64
		if err := rows.Scan(&seq, nil); err != nil { // nil: not scanned
			return err
		}
		if err := fn(seq, rows.RawValues()[1]); err != nil {
			return err
		}
	}
	return rows.Err()
}

// readTx starts a read-only transaction whose reads all see one snapshot,
// so that stored rollups and pending deltas agree.
func (s *Store) readTx(ctx context.Context) (pgx.Tx, error) {
	return s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
}

// loadRollups reads the stored minute and hour rows of keys. Day and week
// rows are not stored as such (they are packed, see packs.go): their keys
// are not found.
func loadRollups(ctx context.Context, tx pgx.Tx, keys []rollup.Key) (map[rollup.Key]*rollup.Row, error) {
	found := make(map[rollup.Key]*rollup.Row)
	for _, l := range []rollup.Level{rollup.Minute, rollup.Hour} {
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
	if err := scanRollupInto(rows, row); err != nil {
		return nil, err
	}
	return row, nil
}

// scanRollupInto scans the rollupColumns of a row, after the columns
// before it selects, into row.
func scanRollupInto(rows pgx.Rows, row *rollup.Row, before ...any) error {
	var bucket time.Time
	var asn int64
	var errs string
	var hist []byte
	dst := append(before, &bucket, &row.Check, &row.Vantage, &row.Team, &row.Endpoint, &row.Kind,
		&row.Region, &row.Provider, &asn, &row.Count, &row.Failures, &row.FailedMinutes,
		&row.DownMinutes, &errs, &hist)
	if err := rows.Scan(dst...); err != nil {
		return err
	}
	row.Bucket = bucket.Unix()
	row.ASN = uint32(asn)
	var err error
	if row.Errors, err = rollup.DecodeErrorMap(errs); err != nil {
		return err
	}
	return row.Hist.UnmarshalBinary(hist)
}

// querier is what both a pool and a transaction offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// writeRollups writes rows over the stored ones, and stores those that
// are not (LoadRollups). An update leaves the indexed team and endpoint
// (a check's, fixed) alone, so that it can be a HOT update that touches
// no index.
//
// Hour rows get their minutes from masks (minutes.go); without an entry
// there, the minutes are not known (NULL).
func writeRollups(ctx context.Context, q querier, rows []*rollup.Row, masks map[rollup.Key]*int64) error {
	for _, l := range []rollup.Level{rollup.Minute, rollup.Hour} {
		c, err := rollupArrays(rows, l, masks, true)
		if err != nil {
			return err
		}
		if c.n == 0 {
			continue
		}
		args := []any{c.buckets, c.checks, c.vantages, c.teams, c.endpoints, c.kinds, c.regions, c.providers,
			c.asns, c.counts, c.failures, c.failedMinutes, c.downMinutes, c.errs, c.hists}
		cols, types, sets := rollupColumns, "", ""
		if l == rollup.Hour {
			args = append(args, c.minutes)
			cols, types, sets = cols+", minutes", ", $16::bigint[]", ", minutes = excluded.minutes"
		}
		_, err = q.Exec(ctx, `INSERT INTO rollup_`+l.String()+` (`+cols+`)
			SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[],
				$6::text[], $7::text[], $8::text[], $9::bigint[], $10::bigint[], $11::bigint[],
				$12::bigint[], $13::bigint[], $14::text[], $15::bytea[]`+types+`)
			ON CONFLICT (bucket, check_id, vantage) DO UPDATE SET
			region = excluded.region, provider = excluded.provider, asn = excluded.asn,
			count = excluded.count, failures = excluded.failures,
			failed_minutes = excluded.failed_minutes, down_minutes = excluded.down_minutes,
			errors = excluded.errors, hist = excluded.hist`+sets, args...)
		if err != nil {
			return fmt.Errorf("postgres: write %s rollups: %w", l, err)
		}
	}
	return nil
}

// errRollupGone is a rollup row that compaction found stored, and whose
// update found none.
var errRollupGone = errors.New("rollup rows gone while compacting")

// updateRollups writes rows over stored ones: compaction's rows that it
// found stored. An UPDATE costs the server less than writeRollups's
// upsert, which also takes a row lock, logged, before it updates: 1.3–1.5
// s instead of 1.6–1.9 for 72,000 hour rows. Masks are as in
// writeRollups.
func updateRollups(ctx context.Context, tx pgx.Tx, rows []*rollup.Row, masks map[rollup.Key]*int64) error {
	for _, l := range []rollup.Level{rollup.Minute, rollup.Hour} {
		c, err := rollupArrays(rows, l, masks, false)
		if err != nil {
			return err
		}
		if c.n == 0 {
			continue
		}
		args := []any{c.buckets, c.checks, c.vantages, c.regions, c.providers, c.asns, c.counts,
			c.failures, c.failedMinutes, c.downMinutes, c.errs, c.hists}
		cols, types, sets := "", "", ""
		if l == rollup.Hour {
			args = append(args, c.minutes)
			cols, types, sets = ", minutes", ", $13::bigint[]", ", minutes = k.minutes"
		}
		tag, err := tx.Exec(ctx, `UPDATE rollup_`+l.String()+` r SET
			region = k.region, provider = k.provider, asn = k.asn, count = k.count, failures = k.failures,
			failed_minutes = k.failed_minutes, down_minutes = k.down_minutes, errors = k.errors, hist = k.hist`+sets+`
			FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[],
				$7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::text[], $12::bytea[]`+types+`)
				AS k(bucket, check_id, vantage, region, provider, asn, count, failures, failed_minutes,
					down_minutes, errors, hist`+cols+`)
			WHERE r.bucket = k.bucket AND r.check_id = k.check_id AND r.vantage = k.vantage`, args...)
		if err != nil {
			return fmt.Errorf("postgres: update %s rollups: %w", l, err)
		}
		if tag.RowsAffected() != int64(c.n) {
			return fmt.Errorf("postgres: update %s rollups: %w: %d of %d", l, errRollupGone, int64(c.n)-tag.RowsAffected(), c.n)
		}
	}
	return nil
}

// rollupColumnArrays are the columns of rollup rows of one level, a
// statement argument each.
type rollupColumnArrays struct {
	n                                                  int
	buckets                                            []time.Time
	checks, vantages, teams, endpoints, kinds          []string
	regions, providers, errs                           []string
	asns, counts, failures, failedMinutes, downMinutes []int64
	hists                                              [][]byte
	minutes                                            []*int64
}

// rollupArrays makes the column arrays of rows of level l, with the
// check's team, endpoint and kind only if names.
func rollupArrays(rows []*rollup.Row, l rollup.Level, masks map[rollup.Key]*int64, names bool) (rollupColumnArrays, error) {
	var c rollupColumnArrays
	for _, r := range rows {
		if r.Level != l {
			continue
		}
		h, err := r.Hist.MarshalBinary()
		if err != nil {
			return c, fmt.Errorf("postgres: encode histogram: %w", err)
		}
		c.n++
		c.buckets = append(c.buckets, r.Time())
		c.checks = append(c.checks, r.Check)
		c.vantages = append(c.vantages, r.Vantage)
		if names {
			c.teams = append(c.teams, r.Team)
			c.endpoints = append(c.endpoints, r.Endpoint)
			c.kinds = append(c.kinds, r.Kind)
		}
		c.regions = append(c.regions, r.Region)
		c.providers = append(c.providers, r.Provider)
		c.asns = append(c.asns, int64(r.ASN))
		c.counts = append(c.counts, r.Count)
		c.failures = append(c.failures, r.Failures)
		c.failedMinutes = append(c.failedMinutes, r.FailedMinutes)
		c.downMinutes = append(c.downMinutes, r.DownMinutes)
		c.errs = append(c.errs, rollup.EncodeErrors(r.Errors))
		c.hists = append(c.hists, h)
		c.minutes = append(c.minutes, masks[r.Key])
	}
	return c, nil
}

// copyRollups copies rows that are not stored yet into their tables.
// Hour rows get their minutes from masks, as in writeRollups.
func copyRollups(ctx context.Context, tx pgx.Tx, rows []*rollup.Row, masks map[rollup.Key]*int64) error {
	for _, l := range []rollup.Level{rollup.Minute, rollup.Hour} {
		var level []*rollup.Row
		for _, r := range rows {
			if r.Level == l {
				level = append(level, r)
			}
		}
		if len(level) == 0 {
			continue
		}
		if err := copyRollupRows(ctx, tx, l, level, masks); err != nil {
			return fmt.Errorf("postgres: copy %s rollups: %w", l, err)
		}
	}
	return nil
}

var rollupCopyColumns = []string{"bucket", "check_id", "vantage", "team", "endpoint", "kind", "region",
	"provider", "asn", "count", "failures", "failed_minutes", "down_minutes", "errors", "hist"}

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

// ApplyRetention implements results.ResultStore. Raw results go a whole
// daily partition at a time, once the partition's last instant is older
// than the raw retention (so up to a day more than asked is kept): their
// ids, their packs and the legacy rows of before packs; rollups are
// deleted by bucket, rollup packs with the hour rows. It also creates the
// partitions of today and tomorrow ahead of need. A zero period keeps
// everything.
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
		if err := s.dropRaw(ctx, now.Add(-r.Raw)); err != nil {
			return fmt.Errorf("postgres: retention of results: %w", err)
		}
	}
	if r.Minute > 0 {
		// Counted as a write of hour rows: compaction's copy of recent
		// minute rows (rowcache.go) is trusted on the same terms.
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `DELETE FROM rollup_minute WHERE bucket < $1`, now.Add(-r.Minute)); err != nil {
				return err
			}
			return bumpHourWrites(ctx, tx)
		})
		if err != nil {
			return fmt.Errorf("postgres: retention of rollup_minute: %w", err)
		}
	}
	if r.Hour > 0 {
		if err := s.expireHours(ctx, now.Add(-r.Hour)); err != nil {
			return fmt.Errorf("postgres: retention of hour rollups: %w", err)
		}
	}
	return nil
}

// dropRaw drops the partitions of raw results whose last instant is
// before cutoff.
func (s *Store) dropRaw(ctx context.Context, cutoff time.Time) error {
	var gone, legacyGone []int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(partitionLock)); err != nil {
			return err
		}
		gone, legacyGone = nil, nil
		for _, p := range []partitioned{idsPartitions, packsPartitions} {
			days, err := p.dropBefore(ctx, tx, cutoff)
			if err != nil {
				return err
			}
			gone = append(gone, days...)
		}
		var err error
		legacyGone, err = legacyPartition.dropBefore(ctx, tx, cutoff)
		return err
	})
	if err != nil {
		return err
	}
	s.pmu.Lock()
	defer s.pmu.Unlock()
	for _, d := range gone {
		delete(s.partitions, d)
	}
	if len(legacyGone) > 0 && !s.legacy.After(time.Unix((slices.Max(legacyGone)+1)*86400, 0)) {
		s.legacy = time.Time{} // nothing left in results_legacy
	}
	return nil
}

// expireHours deletes hour rows and packs starting before cutoff. Packs
// longer than a day that straddle it go too, and reads then cover the
// time from cutoff to the first whole one with day packs (spans_from).
func (s *Store) expireHours(ctx context.Context, cutoff time.Time) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM rollup_hour WHERE bucket < $1`, cutoff); err != nil {
			return err
		}
		if err := bumpHourWrites(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM rollup_pack WHERE bucket < $1`, cutoff); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE rollup_derived SET spans_from = greatest(spans_from, $1)`, cutoff)
		return err
	})
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
		c, err := connectLockSession(ctx, s.url)
		if err != nil {
			return nil, false, fmt.Errorf("postgres: lock %q: %w", name, err)
		}
		s.lconn = c
	}
	key := LockKey(name)
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
