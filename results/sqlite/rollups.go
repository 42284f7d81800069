package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"slices"
	"time"

	"github.com/picketnet/picket/internal/intern"
	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/results/rollup"
)

// packKey identifies a packed day or week row.
type packKey struct {
	level  rollup.Level
	bucket int64
	check  string
}

// dayPacks holds, during one write, the stored entries of every packed
// day row read, so that rewriting a pack keeps the vantages not written.
type dayPacks map[packKey][]*rollup.Row

func loadSQL(l rollup.Level, n int) string {
	if l.Packed() {
		return `WITH k (b, c) AS (VALUES ` + placeholders(2, n) + `)
			SELECT r.bucket, r.check_id, r.team, r.endpoint, r.kind, r.series
			FROM k CROSS JOIN rollup_` + l.String() + ` r WHERE r.bucket = k.b AND r.check_id = k.c`
	}
	return `WITH k (b, c, v) AS (VALUES ` + placeholders(3, n) + `)
		SELECT r.bucket, r.check_id, r.vantage, r.team, r.endpoint, r.kind, r.region, r.provider,
		r.asn, r.count, r.failures, r.failed_minutes, r.down_minutes, r.errors, r.hist
		FROM k CROSS JOIN rollup_` + l.String() + ` r
		WHERE r.bucket = k.b AND r.check_id = k.c AND r.vantage = k.v`
}

// packUpsertSQL writes packs into table (rollup_day, rollup_week or
// rollup_suffix).
func packUpsertSQL(table string, n int) string {
	return `INSERT INTO ` + table + ` (bucket, check_id, team, endpoint, kind, series) VALUES ` +
		placeholders(packCols, n) + ` ON CONFLICT (bucket, check_id) DO UPDATE SET series = excluded.series`
}

func closeRows(rows *sql.Rows) error {
	err := rows.Close()
	if err == nil {
		err = rows.Err()
	}
	return err
}

// queryFunc runs a query: on a transaction, or on the readers.
type queryFunc func(ctx context.Context, q string, args ...any) (*sql.Rows, error)

// readQuery runs q on a reader, with a statement prepared at Open when
// there is one.
func (s *Store) readQuery(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st, ok := s.rload[q]; ok {
		return st.QueryContext(ctx, args...)
	}
	return s.r.QueryContext(ctx, q, args...)
}

// loadRollups returns the stored rows of keys, from the cache or else
// through query; day and week rows come from their packs, every entry of
// which is also kept in packs. The caller holds cmu.
func (s *Store) loadRollups(ctx context.Context, query queryFunc, keys []rollup.Key, packs dayPacks) (map[rollup.Key]*rollup.Row, error) {
	found := make(map[rollup.Key]*rollup.Row)
	keys = s.cache.lookup(keys, found, packs)
	if err := loadStored(ctx, query, keys, packs, found); err != nil {
		return nil, err
	}
	return found, nil
}

// readLoader loads rollup rows within a read transaction, for reads of
// level l that add pending deltas to what is stored: the stored minute
// and hour rows and, for a day or week key, what reads see as its row,
// its pack entry plus the hour rows at or after the watermark wm. A read
// of minutes or hours needs no day or week row: their keys are skipped.
func readLoader(ctx context.Context, tx *sql.Tx, l rollup.Level, wm int64) rollup.Loader {
	return func(keys []rollup.Key) (map[rollup.Key]*rollup.Row, error) {
		if !l.Packed() {
			keys = slices.DeleteFunc(slices.Clone(keys), func(k rollup.Key) bool { return k.Level.Packed() })
		}
		found := make(map[rollup.Key]*rollup.Row)
		if err := loadStored(ctx, tx.QueryContext, keys, make(dayPacks), found); err != nil {
			return nil, err
		}
		if err := underived(ctx, tx.QueryContext, keys, wm, found); err != nil {
			return nil, err
		}
		return found, nil
	}
}

// loadStored reads the rows of keys from the database into found.
func loadStored(ctx context.Context, query queryFunc, keys []rollup.Key, packs dayPacks, found map[rollup.Key]*rollup.Row) error {
	for _, l := range rollup.Levels {
		var args []any
		seen := make(map[packKey]bool)
		for _, k := range keys {
			switch {
			case k.Level != l:
			case l.Packed():
				pk := packKey{l, k.Bucket, k.Check}
				if _, ok := packs[pk]; !ok && !seen[pk] {
					seen[pk] = true
					args = append(args, k.Bucket, k.Check)
				}
			default:
				args = append(args, k.Bucket, k.Check, k.Vantage)
			}
		}
		cols := 3
		if l.Packed() {
			cols = 2
		}
		err := chunks(len(args)/cols, func(lo, size int) error {
			rows, err := query(ctx, loadSQL(l, size), args[lo*cols:(lo+size)*cols]...)
			if err != nil {
				return fmt.Errorf("load %s rollups: %w", l, err)
			}
			for rows.Next() {
				var loaded []*rollup.Row
				if l.Packed() {
					var bucket int64
					var check, team, endpoint, kind string
					var series []byte
					if err := rows.Scan(&bucket, &check, &team, &endpoint, &kind, &series); err != nil {
						rows.Close()
						return fmt.Errorf("load day rollups: %w", err)
					}
					loaded, err = rollup.UnpackRows(l, bucket, check, team, endpoint, kind, series)
					packs[packKey{l, bucket, check}] = loaded
				} else {
					var r *rollup.Row
					r, err = scanRollup(rows, l)
					loaded = []*rollup.Row{r}
				}
				if err != nil {
					rows.Close()
					return fmt.Errorf("load %s rollups: %w", l, err)
				}
				for _, r := range loaded {
					found[r.Key] = r
				}
			}
			if err := closeRows(rows); err != nil {
				return fmt.Errorf("load %s rollups: %w", l, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for pk := range seen {
			if _, ok := packs[pk]; !ok {
				packs[pk] = nil // known empty
			}
		}
	}
	return nil
}

func scanRollup(sc scanner, l rollup.Level) (*rollup.Row, error) {
	row := &rollup.Row{Key: rollup.Key{Level: l}}
	var errs string
	var hist []byte
	if err := sc.Scan(&row.Bucket, &row.Check, &row.Vantage, &row.Team, &row.Endpoint,
		&row.Kind, &row.Region, &row.Provider, &row.ASN, &row.Count, &row.Failures,
		&row.FailedMinutes, &row.DownMinutes, &errs, &hist); err != nil {
		return nil, err
	}
	var err error
	if row.Errors, err = rollup.DecodeErrorMap(errs); err != nil {
		return nil, err
	}
	if err := row.Hist.UnmarshalBinary(hist); err != nil {
		return nil, err
	}
	return row, nil
}

// rollupWrite is one statement writing rollup rows or packs, with its
// arguments.
type rollupWrite struct {
	q    string
	args []any
}

// encodeRollups makes the statements that write rows over the stored
// ones. Day and week rows are merged into their packs, which loadRollups
// must have read into packs.
func encodeRollups(rows []*rollup.Row, packs dayPacks) ([]rollupWrite, error) {
	var out []rollupWrite
	for _, l := range rollup.Levels {
		var args []any
		var err error
		cols := rollupCols
		if l.Packed() {
			cols = packCols
			args, err = packArgs(l, rows, packs)
		} else {
			args, err = rowArgs(l, rows)
		}
		if err != nil {
			return nil, err
		}
		_ = chunks(len(args)/cols, func(lo, size int) error {
			q := upsertSQL(l, size)
			if l.Packed() {
				q = packUpsertSQL("rollup_"+l.String(), size)
			}
			out = append(out, rollupWrite{q, args[lo*cols : (lo+size)*cols]})
			return nil
		})
	}
	return out, nil
}

// rowArgs returns the upsert arguments of the rows of level l.
func rowArgs(l rollup.Level, rows []*rollup.Row) ([]any, error) {
	n := 0
	for _, r := range rows {
		if r.Level == l {
			n++
		}
	}
	// Sized once: growing it row by row was a good part of compaction.
	args := make([]any, 0, n*rollupCols)
	for _, r := range rows {
		if r.Level != l {
			continue
		}
		hist, err := r.Hist.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("sqlite: encode histogram: %w", err)
		}
		args = append(args, r.Bucket, r.Check, r.Vantage, r.Team, r.Endpoint, r.Kind, r.Region,
			r.Provider, int64(r.ASN), r.Count, r.Failures, r.FailedMinutes, r.DownMinutes,
			rollup.EncodeErrors(r.Errors), hist)
	}
	return args, nil
}

// packArgs merges the rows of packed level l into their packs and returns
// the upsert arguments of the packs changed, in key order.
func packArgs(l rollup.Level, rows []*rollup.Row, packs dayPacks) ([]any, error) {
	changed := make(map[packKey]bool)
	for _, r := range rows {
		if r.Level != l {
			continue
		}
		pk := packKey{l, r.Bucket, r.Check}
		entries := packs[pk]
		i := slices.IndexFunc(entries, func(e *rollup.Row) bool { return e.Vantage == r.Vantage })
		if i >= 0 {
			entries[i] = r
		} else {
			entries = append(entries, r)
		}
		packs[pk] = entries
		changed[pk] = true
	}
	keys := make([]packKey, 0, len(changed))
	for pk := range changed {
		keys = append(keys, pk)
	}
	slices.SortFunc(keys, func(a, b packKey) int { return cmp.Or(cmp.Compare(a.bucket, b.bucket), cmp.Compare(a.check, b.check)) })
	var args []any
	for _, pk := range keys {
		entries := packs[pk]
		slices.SortFunc(entries, func(a, b *rollup.Row) int { return cmp.Compare(a.Vantage, b.Vantage) })
		blob, err := rollup.AppendPack(nil, entries)
		if err != nil {
			return nil, fmt.Errorf("sqlite: pack %s rollup: %w", l, err)
		}
		last := entries[len(entries)-1]
		args = append(args, pk.bucket, pk.check, last.Team, last.Endpoint, last.Kind, blob)
	}
	return args, nil
}

// execWrites runs writes (from encodeRollups) in tx.
func (s *Store) execWrites(ctx context.Context, tx *sql.Tx, writes []rollupWrite) error {
	for _, w := range writes {
		st, err := s.stmt(ctx, tx, w.q)
		if err != nil {
			return fmt.Errorf("write rollups: %w", err)
		}
		if _, err := st.ExecContext(ctx, w.args...); err != nil {
			return fmt.Errorf("write rollups: %w", err)
		}
	}
	return nil
}

// LoadRollups writes rollup rows as they are, replacing stored rows with
// the same key, without raw results; it adds day rows, and hour rows of
// hours derived already, to the week packs (and the latter to the day
// packs), keeps suffix and multi-week packs up to date, then derives the
// hours that have ended. It is the bulk path that fills a store with
// generated history for report benchmarks (results/synth), for buckets
// not stored before. A day must come either as a day row or as hour
// rows, not both: it would count twice.
func (s *Store) LoadRollups(ctx context.Context, rows []*rollup.Row) error {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	s.wmu.Lock()
	packs := make(dayPacks)
	err := s.writeTx(ctx, "load rollups", func(tx *sql.Tx) error {
		load := func(keys []rollup.Key) (map[rollup.Key]*rollup.Row, error) {
			return s.loadRollups(ctx, tx.QueryContext, keys, packs)
		}
		// The packs hold the hours before the watermark: those loaded
		// are added to them now, the others are derived later.
		var derived, days []*rollup.Row
		for _, r := range rows {
			switch {
			case r.Level == rollup.Hour && r.Bucket < s.hoursWM:
				derived = append(derived, r)
			case r.Level == rollup.Day:
				days = append(days, r)
			}
		}
		hourDays, err := rollup.RollUp(derived, rollup.Hour, rollup.Day, func([]rollup.Key) (map[rollup.Key]*rollup.Row, error) { return nil, nil })
		if err != nil {
			return err
		}
		weeks, err := rollup.RollUp(append(days, hourDays...), rollup.Day, rollup.Week, load)
		if err != nil {
			return err
		}
		if hourDays, err = rollup.RollUp(derived, rollup.Hour, rollup.Day, load); err != nil {
			return err
		}
		rows = append(append(slices.Clip(rows), hourDays...), weeks...)
		var dayKeys []rollup.Key
		for _, r := range rows {
			if r.Level.Packed() {
				dayKeys = append(dayKeys, r.Key)
			}
		}
		if _, err := s.loadRollups(ctx, tx.QueryContext, dayKeys, packs); err != nil {
			return err
		}
		writes, err := encodeRollups(rows, packs)
		if err != nil {
			return err
		}
		suffixes, err := s.suffixWrites(ctx, tx.QueryContext, s.lateWeeks(rows), packs)
		if err != nil {
			return err
		}
		return s.execWrites(ctx, tx, append(writes, suffixes...))
	})
	s.wmu.Unlock()
	if err != nil {
		return err
	}
	s.cache.remember(rows, packs)
	if err := s.derive(ctx); err != nil {
		return err
	}
	return s.deriveSuffixes(ctx)
}

// pending reads the pending deltas that f selects, oldest first.
func pending(ctx context.Context, tx *sql.Tx, f *rollup.DeltaFilter) ([]*rollup.Row, error) {
	rows, err := tx.QueryContext(ctx, `SELECT deltas FROM rollup_pending ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("pending rollups: %w", err)
	}
	var out, all []*rollup.Row
	var names intern.Strings
	for rows.Next() {
		var blob sql.RawBytes
		if err := rows.Scan(&blob); err != nil {
			rows.Close()
			return nil, fmt.Errorf("pending rollups: %w", err)
		}
		if all, err = rollup.DecodeDeltas(all[:0], blob, &names); err != nil {
			rows.Close()
			return nil, fmt.Errorf("pending rollups: %w", err)
		}
		for _, d := range all {
			if f.Match(d) {
				out = append(out, d)
			}
		}
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("pending rollups: %w", err)
	}
	return out, nil
}

// readTx starts a transaction on a reader connection: its reads see one
// snapshot, so stored rollups and pending deltas agree.
func (s *Store) readTx(ctx context.Context) (*sql.Tx, error) {
	return s.r.BeginTx(ctx, nil)
}

// Rollups implements results.ResultStore. Besides minute and hour it
// answers the "day" and "week" resolutions, from packs and the hour rows
// not derived into them yet.
func (s *Store) Rollups(ctx context.Context, q results.RollupQuery) ([]results.Rollup, error) {
	level, err := rollup.LevelOf(q.Resolution)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	f := rollup.RollupFilter(level, q)
	tx, err := s.readTx(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlite: query rollups: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	wm, err := hoursWM(ctx, tx.QueryContext)
	if err != nil {
		return nil, fmt.Errorf("sqlite: query rollups: %w", err)
	}
	keep := func(r *rollup.Row) bool {
		return (q.Vantage == "" || r.Vantage == q.Vantage) && (q.Region == "" || r.Region == q.Region)
	}
	var stored []*rollup.Row
	if level.Packed() {
		stored, err = coarseRows(ctx, tx, level, q, &f, wm)
	} else {
		stored, err = fineRows(ctx, tx, level, q, &f)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: query rollups: %w", err)
	}
	stored = slices.DeleteFunc(stored, func(r *rollup.Row) bool { return !keep(r) })
	deltas, err := pending(ctx, tx, &f)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	all, err := rollup.Overlay(level, stored, deltas, readLoader(ctx, tx, level, wm), keep)
	if err != nil {
		return nil, fmt.Errorf("sqlite: query rollups: %w", err)
	}
	return all, nil
}

// rollupWhere is the filter of q on the rows of a rollup table, for the
// buckets [f.Since, f.Until); series says whether the table has a row per
// series (not a pack per check).
func rollupWhere(q results.RollupQuery, f *rollup.DeltaFilter, series bool) *where {
	var w where
	w.eq("team", q.Team)
	w.eq("endpoint", q.Endpoint)
	w.eq("check_id", q.Check)
	if series {
		w.eq("vantage", q.Vantage)
	}
	if f.HasSince {
		w.add("bucket >= ?", f.Since)
	}
	if f.HasUntil {
		w.add("bucket < ?", f.Until)
	}
	return &w
}

// fineRows reads the stored minute or hour rows q selects, in key order.
func fineRows(ctx context.Context, tx *sql.Tx, l rollup.Level, q results.RollupQuery, f *rollup.DeltaFilter) ([]*rollup.Row, error) {
	w := rollupWhere(q, f, true)
	rows, err := tx.QueryContext(ctx, `SELECT `+rollupColumns+` FROM rollup_`+l.String()+w.String()+
		` ORDER BY bucket, check_id, vantage`, w.args...)
	if err != nil {
		return nil, err
	}
	var out []*rollup.Row
	for rows.Next() {
		r, err := scanRollup(rows, l)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, r)
	}
	return out, closeRows(rows)
}

// coarseRows reads the day or week rows q selects, in key order: the
// packs' entries plus the hour rows at or after the watermark wm, summed
// into their buckets.
func coarseRows(ctx context.Context, tx *sql.Tx, l rollup.Level, q results.RollupQuery, f *rollup.DeltaFilter, wm int64) ([]*rollup.Row, error) {
	w := rollupWhere(q, f, false)
	rows, err := tx.QueryContext(ctx, `SELECT bucket, check_id, team, endpoint, kind, series FROM rollup_`+
		l.String()+w.String()+` ORDER BY bucket, check_id`, w.args...)
	if err != nil {
		return nil, err
	}
	byKey := make(map[rollup.Key]*rollup.Row)
	var out []*rollup.Row
	for rows.Next() {
		var bucket int64
		var check, team, endpoint, kind string
		var series []byte
		if err := rows.Scan(&bucket, &check, &team, &endpoint, &kind, &series); err != nil {
			rows.Close()
			return nil, err
		}
		entries, err := rollup.UnpackRows(l, bucket, check, team, endpoint, kind, series)
		if err != nil {
			rows.Close()
			return nil, err
		}
		for _, r := range entries {
			if q.Vantage == "" || r.Vantage == q.Vantage {
				byKey[r.Key] = r
				out = append(out, r)
			}
		}
	}
	if err := closeRows(rows); err != nil {
		return nil, err
	}
	// The hours not derived yet, of every bucket the query selects.
	hf := *f
	if !hf.HasSince || hf.Since < wm {
		hf.Since, hf.HasSince = wm, true
	}
	if hf.HasUntil {
		hf.Until = rollup.LevelBucket(l, hf.Until-1) + int64(l.Step()/time.Second)
	}
	hours, err := fineRows(ctx, tx, rollup.Hour, q, &hf)
	if err != nil {
		return nil, err
	}
	if len(hours) == 0 {
		return out, nil
	}
	for _, h := range hours {
		k := h.Key.Within(l)
		r := byKey[k]
		if r == nil {
			r = &rollup.Row{Key: k}
			byKey[k] = r
			out = append(out, r)
		}
		r.Merge(h)
	}
	slices.SortFunc(out, func(a, b *rollup.Row) int { return rollup.CompareKeys(a.Key, b.Key) })
	return out, nil
}

// Availability implements results.ResultStore; see package rollup for
// the window alignment and the definitions of the numbers.
func (s *Store) Availability(ctx context.Context, q results.ReportQuery) ([]results.AvailabilityRow, error) {
	rep, err := rollup.NewReport(q.By)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	until := q.Until
	if until.IsZero() {
		until = time.Now()
	}
	from, to, spans := rollup.Window(q.Since, until)
	tx, err := s.readTx(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlite: availability: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	wm, err := hoursWM(ctx, tx.QueryContext)
	if err != nil {
		return nil, fmt.Errorf("sqlite: availability: %w", err)
	}
	reads, err := reportSpans(ctx, tx, spans, wm)
	if err != nil {
		return nil, fmt.Errorf("sqlite: availability: %w", err)
	}
	// Packs (day, week and suffix rollups) are folded on every core while
	// this goroutine reads them; the rest is little.
	var folder *rollup.PackFolder
	if n := min(runtime.GOMAXPROCS(0), 4); n > 1 && slices.ContainsFunc(reads, func(sp readSpan) bool { return sp.packed }) {
		if folder, err = rollup.NewPackFolder(q.By, n, nil); err != nil {
			return nil, fmt.Errorf("sqlite: %w", err)
		}
	}
	var folded bool
	finish := func() error {
		if folder == nil || folded {
			return nil
		}
		folded = true
		return folder.Finish(rep)
	}
	defer finish() //nolint:errcheck // on an error path, only to stop the workers
	// Packed spans first: the parts merge into an empty report, which
	// Merge needs (a series is in one part only).
	for _, packed := range []bool{true, false} {
		for _, sp := range reads {
			if sp.packed != packed {
				continue
			}
			var w where
			w.eq("team", q.Team)
			w.eq("endpoint", q.Endpoint)
			w.add("bucket >= ? AND bucket < ?", sp.from, sp.to)
			if err := report(ctx, tx, rep, sp, &w, folder); err != nil {
				return nil, fmt.Errorf("sqlite: availability: %w", err)
			}
		}
		if err := finish(); err != nil {
			return nil, fmt.Errorf("sqlite: availability: %w", err)
		}
	}
	if len(spans) > 0 {
		f := rollup.DeltaFilter{Team: q.Team, Endpoint: q.Endpoint, Level: rollup.Minute,
			Since: from.Unix(), Until: to.Unix(), HasSince: true, HasUntil: true}
		deltas, err := pending(ctx, tx, &f)
		if err != nil {
			return nil, fmt.Errorf("sqlite: availability: %w", err)
		}
		if err := rep.AddPending(deltas, readLoader(ctx, tx, rollup.Minute, wm)); err != nil {
			return nil, fmt.Errorf("sqlite: availability: %w", err)
		}
	}
	return rep.Rows(), nil
}

func report(ctx context.Context, tx *sql.Tx, rep *rollup.Report, sp readSpan, w *where, folder *rollup.PackFolder) error {
	if sp.packed {
		rows, err := tx.QueryContext(ctx, `SELECT team, endpoint, check_id, series FROM `+sp.table+w.String(), w.args...)
		if err != nil {
			return err
		}
		var team, endpoint, check string
		var series sql.RawBytes
		for rows.Next() {
			if err := rows.Scan(&team, &endpoint, &check, &series); err != nil {
				rows.Close()
				return err
			}
			if folder != nil {
				folder.Add(team, endpoint, check, series)
			} else if err := rep.AddPack(team, endpoint, check, series); err != nil {
				rows.Close()
				return err
			}
		}
		return closeRows(rows)
	}
	rows, err := tx.QueryContext(ctx, `SELECT team, endpoint, check_id, vantage, region, provider, asn,
		count, failures, failed_minutes, down_minutes, errors, hist FROM `+sp.table+w.String(), w.args...)
	if err != nil {
		return err
	}
	var row rollup.ReportRow
	for rows.Next() {
		if err := rows.Scan(&row.Team, &row.Endpoint, &row.Check, &row.Vantage, &row.Region,
			&row.Provider, &row.ASN, &row.Count, &row.Failures, &row.FailedMinutes,
			&row.DownMinutes, &row.Errors, &row.Hist); err != nil {
			rows.Close()
			return err
		}
		if err := rep.Add(&row); err != nil {
			rows.Close()
			return err
		}
	}
	return closeRows(rows)
}
