package postgres

import (
	"context"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/picketnet/picket/internal/intern"
	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/results/rollup"
)

// LoadRollups writes minute and hour rows as they are, replacing stored
// rows with the same key, and adds day rows (and hour rows of hours
// already derived) to the packs, without raw results; then it derives the
// hours that have ended. It is the bulk path that fills a store with
// generated history for report benchmarks (results/synth), for buckets
// not stored before. Hour rows are derived into the packs of their day
// like any others, so a day must come either as a day row or as hour
// rows, not both: it would count twice. It holds the compaction lock, as
// it writes what compaction writes.
func (s *Store) LoadRollups(ctx context.Context, rows []*rollup.Row) error {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	unlock, ok, err := s.compactionTurn(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("postgres: load rollups: another replica is compacting")
	}
	defer unlock()
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		w, err := readWatermark(ctx, tx, true)
		if err != nil {
			return err
		}
		var fine, coarse []*rollup.Row
		for _, r := range rows {
			switch r.Level {
			case rollup.Week:
				return errWeekRows
			case rollup.Day:
				coarse = append(coarse, r)
			case rollup.Hour:
				if r.Bucket < w.hours {
					coarse = append(coarse, r)
				}
				fine = append(fine, r)
			default:
				fine = append(fine, r)
			}
		}
		if err := writeRollups(ctx, tx, fine, nil); err != nil {
			return err
		}
		if err := bumpHourWrites(ctx, tx); err != nil {
			return err
		}
		return addToPacks(ctx, tx, sumDays(coarse))
	})
	if err != nil {
		return fmt.Errorf("postgres: load rollups: %w", err)
	}
	return s.derive(ctx, time.Now(), 0)
}

// readLoader is the rollup.Loader of a read at level l: stored minute and
// hour rows and, for a day or week key, what reads see as its row, the
// pack entry plus the hour rows not derived yet.
func readLoader(ctx context.Context, tx pgx.Tx, l rollup.Level, w watermark) rollup.Loader {
	return func(keys []rollup.Key) (map[rollup.Key]*rollup.Row, error) {
		found, err := loadRollups(ctx, tx, keys)
		if err != nil || l < rollup.Day {
			return found, err
		}
		var coarse []rollup.Key
		for _, k := range keys {
			if k.Level >= rollup.Day {
				coarse = append(coarse, k)
			}
		}
		if err := loadCoarse(ctx, tx, coarse, w, found); err != nil {
			return nil, err
		}
		return found, nil
	}
}

// loadCoarse adds to found the day and week rows of keys as reads see
// them.
func loadCoarse(ctx context.Context, tx pgx.Tx, keys []rollup.Key, w watermark, found map[rollup.Key]*rollup.Row) error {
	if len(keys) == 0 {
		return nil
	}
	packs := make(map[packKey]*packRows)
	var pks []packKey
	for _, k := range keys {
		pk := packKey{packDays(k.Level), k.Bucket, k.Check}
		if packs[pk] == nil {
			packs[pk] = &packRows{rows: make(map[string]*rollup.Row)}
			pks = append(pks, pk)
		}
	}
	if err := loadPacks(ctx, tx, pks, packs); err != nil {
		return err
	}
	var checks, vantages []string
	var los, his []time.Time
	var idx []int
	for i, k := range keys {
		if r := packs[packKey{packDays(k.Level), k.Bucket, k.Check}].rows[k.Vantage]; r != nil {
			r.Key = k
			found[k] = r
		}
		end := k.Bucket + int64(k.Level.Step()/time.Second)
		if lo := max(k.Bucket, w.hours); lo < end {
			checks, vantages = append(checks, k.Check), append(vantages, k.Vantage)
			los, his = append(los, time.Unix(lo, 0)), append(his, time.Unix(end, 0))
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return nil
	}
	rows, err := tx.Query(ctx, `SELECT k.i, `+prefixed("r.", rollupColumns)+` FROM rollup_hour r
		JOIN unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[]) WITH ORDINALITY AS k(c, v, lo, hi, i)
		ON r.check_id = k.c AND r.vantage = k.v AND r.bucket >= k.lo AND r.bucket < k.hi`,
		checks, vantages, los, his)
	if err != nil {
		return fmt.Errorf("load hours not derived: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var i int64
		h := &rollup.Row{Key: rollup.Key{Level: rollup.Hour}}
		if err := scanRollupInto(rows, h, &i); err != nil {
			return fmt.Errorf("load hours not derived: %w", err)
		}
		k := keys[idx[i-1]]
		r := found[k]
		if r == nil {
			r = &rollup.Row{Key: k}
			found[k] = r
		}
		r.Merge(h)
	}
	return rows.Err()
}

// packDays is the pack span of a day or week row.
func packDays(l rollup.Level) int64 {
	if l == rollup.Week {
		return weekDays
	}
	return 1
}

// Rollups implements results.ResultStore. Besides minute and hour it
// answers the "day" and "week" resolutions, from packs and the hour rows
// not derived into them yet.
func (s *Store) Rollups(ctx context.Context, q results.RollupQuery) ([]results.Rollup, error) {
	level, err := rollup.LevelOf(q.Resolution)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	tx, err := s.readTx(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: query rollups: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read-only
	w, err := readWatermark(ctx, tx, false)
	if err != nil {
		return nil, fmt.Errorf("postgres: query rollups: %w", err)
	}
	var stored []*rollup.Row
	if level < rollup.Day {
		stored, err = fineRows(ctx, tx, level, q)
	} else {
		stored, err = coarseRows(ctx, tx, level, q, w)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: query rollups: %w", err)
	}
	f := rollup.RollupFilter(level, q)
	deltas, err := pending(ctx, tx, &f)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	all, err := rollup.Overlay(level, stored, deltas, readLoader(ctx, tx, level, w),
		func(r *rollup.Row) bool { return q.Region == "" || r.Region == q.Region })
	if err != nil {
		return nil, fmt.Errorf("postgres: query rollups: %w", err)
	}
	return all, nil
}

// rollupWhere is the filter of q on rollup rows of level l.
func rollupWhere(q results.RollupQuery, l rollup.Level, region bool) *where {
	var w where
	w.eq("team", q.Team)
	w.eq("endpoint", q.Endpoint)
	w.eq("check_id", q.Check)
	if region {
		w.eq("vantage", q.Vantage)
		w.eq("region", q.Region)
	}
	if !q.Since.IsZero() {
		w.add("bucket >= $", l.Truncate(q.Since))
	}
	if !q.Until.IsZero() {
		w.add("bucket < $", q.Until)
	}
	return &w
}

// fineRows reads the stored minute or hour rows q selects.
func fineRows(ctx context.Context, tx pgx.Tx, l rollup.Level, q results.RollupQuery) ([]*rollup.Row, error) {
	w := rollupWhere(q, l, true)
	rows, err := tx.Query(ctx, `SELECT `+rollupColumns+` FROM rollup_`+l.String()+
		w.String()+` ORDER BY bucket, check_id, vantage`, w.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*rollup.Row
	for rows.Next() {
		row, err := scanRollup(rows, l)
		if err != nil {
			return nil, err
		}
		out = append(out, row)
	}
	return out, rows.Err()
}

// coarseRows reads the day or week rows q selects: the packs' entries plus
// the hour rows at or after the watermark, summed into their buckets.
func coarseRows(ctx context.Context, tx pgx.Tx, l rollup.Level, q results.RollupQuery, wm watermark) ([]*rollup.Row, error) {
	byKey := make(map[rollup.Key]*rollup.Row)
	w := rollupWhere(q, l, false)
	w.add("days = $", packDays(l))
	rows, err := tx.Query(ctx, `SELECT bucket, check_id, team, endpoint, kind, pack FROM rollup_pack`+w.String(), w.args...)
	if err != nil {
		return nil, err
	}
	var bucket time.Time
	var check, team, endpoint, kind string
	var pack []byte
	var plain []byte
	_, err = pgx.ForEachRow(rows, []any{&bucket, &check, &team, &endpoint, &kind, &pack}, func() error {
		var err error
		if plain, err = decodePack(plain, pack); err != nil {
			return err
		}
		entries, err := rollup.UnpackRows(l, bucket.Unix(), check, team, endpoint, kind, plain)
		for _, r := range entries {
			if (q.Vantage == "" || r.Vantage == q.Vantage) && (q.Region == "" || r.Region == q.Region) {
				byKey[r.Key] = r
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	// The hours not derived yet, of every bucket the query selects.
	hq := q
	if !q.Since.IsZero() {
		hq.Since = l.Truncate(q.Since)
	}
	if wm.hours != noWatermark && (hq.Since.IsZero() || hq.Since.Unix() < wm.hours) {
		hq.Since = time.Unix(wm.hours, 0)
	}
	if !q.Until.IsZero() {
		hq.Until = time.Unix(rollup.LevelBucket(l, q.Until.Unix()-1), 0).Add(l.Step())
	}
	hours, err := fineRows(ctx, tx, rollup.Hour, hq)
	if err != nil {
		return nil, err
	}
	for _, h := range hours {
		k := h.Key.Within(l)
		r := byKey[k]
		if r == nil {
			r = &rollup.Row{Key: k}
			byKey[k] = r
		}
		r.Merge(h)
	}
	return slices.SortedFunc(maps.Values(byKey), func(a, b *rollup.Row) int { return rollup.CompareKeys(a.Key, b.Key) }), nil
}

// Availability implements results.ResultStore; see package rollup for
// the window alignment and the definitions of the numbers.
//
// The whole days of the window come from packs, read in one query and
// folded on every core as they arrive; the hours not derived into packs
// yet and the hours and minutes at the window's edges come from one query
// that sums each series on the server; then the window's pending deltas
// are added.
func (s *Store) Availability(ctx context.Context, q results.ReportQuery) ([]results.AvailabilityRow, error) {
	until := q.Until
	if until.IsZero() {
		until = time.Now()
	}
	from, to, spans := rollup.Window(q.Since, until)
	tx, err := s.readTx(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: availability: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read-only
	// Parallel workers cost more to start and feed than the few thousand
	// packs a report reads, and the cores are busy folding them.
	if _, err := tx.Exec(ctx, `SET LOCAL max_parallel_workers_per_gather = 0`); err != nil {
		return nil, fmt.Errorf("postgres: availability: %w", err)
	}
	rep, err := report(ctx, tx, q, from, to, spans)
	if err != nil {
		return nil, fmt.Errorf("postgres: availability: %w", err)
	}
	return rep.Rows(), nil
}

func report(ctx context.Context, tx pgx.Tx, q results.ReportQuery, from, to time.Time, spans []rollup.Span) (*rollup.Report, error) {
	rep, err := rollup.NewReport(q.By)
	if err != nil || len(spans) == 0 {
		return rep, err
	}
	w, err := readWatermark(ctx, tx, false)
	if err != nil {
		return nil, err
	}
	// Window puts day and week spans together in the middle.
	var fine []rollup.Span
	lo, hi := int64(0), int64(0)
	for _, sp := range spans {
		switch {
		case sp.Level < rollup.Day:
			fine = append(fine, sp)
		case lo == hi:
			lo, hi = sp.From.Unix(), sp.To.Unix()
		default:
			lo, hi = min(lo, sp.From.Unix()), max(hi, sp.To.Unix())
		}
	}
	if lo < hi {
		if err := foldPacks(ctx, tx, q, rep, coverDays(lo, hi, w.spansFrom)); err != nil {
			return nil, err
		}
		if h := max(lo, w.hours); h < hi {
			fine = append(fine, rollup.Span{Level: rollup.Hour, From: time.Unix(h, 0), To: time.Unix(hi, 0)})
		}
	}
	if err := foldFine(ctx, tx, q, rep, fine); err != nil {
		return nil, err
	}
	f := rollup.DeltaFilter{Team: q.Team, Endpoint: q.Endpoint, Level: rollup.Minute,
		Since: from.Unix(), Until: to.Unix(), HasSince: true, HasUntil: true}
	deltas, err := pending(ctx, tx, &f)
	if err != nil {
		return nil, err
	}
	err = rep.AddPending(deltas, func(keys []rollup.Key) (map[rollup.Key]*rollup.Row, error) {
		return loadRollups(ctx, tx, keys)
	})
	return rep, err
}

// reportFilter is the SQL condition of q's team and endpoint, its
// arguments numbered through arg.
func reportFilter(q results.ReportQuery, arg func(any) string) string {
	var filter string
	if q.Team != "" {
		filter += " AND team = " + arg(q.Team)
	}
	if q.Endpoint != "" {
		filter += " AND endpoint = " + arg(q.Endpoint)
	}
	return filter
}

// foldPacks folds the packs of spans into rep, which must be empty.
func foldPacks(ctx context.Context, tx pgx.Tx, q results.ReportQuery, rep *rollup.Report, spans []packSpan) error {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	parts := make([]string, len(spans))
	for i, sp := range spans {
		parts[i] = `SELECT team, endpoint, check_id, pack FROM rollup_pack WHERE days = ` + arg(sp.days) +
			` AND bucket >= ` + arg(time.Unix(sp.from, 0)) + ` AND bucket < ` + arg(time.Unix(sp.to, 0)) +
			reportFilter(q, arg)
	}
	folder, err := rollup.NewPackFolder(q.By, min(runtime.GOMAXPROCS(0), 8), decodePack)
	if err != nil {
		return err
	}
	defer folder.Stop()
	rows, err := tx.Query(ctx, strings.Join(parts, " UNION ALL "), args...)
	if err != nil {
		return err
	}
	// The raw values, to copy each pack once into a buffer the folder
	// recycles and to allocate each team, endpoint and check name once.
	var names intern.Strings
	name := names.Of
	for rows.Next() {
		v := rows.RawValues()
		if len(v) != 4 {
			rows.Close()
			return fmt.Errorf("pack query returned %d columns", len(v))
		}
		folder.Add(name(v[0]), name(v[1]), name(v[2]), v[3])
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	return folder.Finish(rep)
}

// foldFine adds the hour and minute rows of spans to rep. The server sums
// each series' rows and concatenates their histograms and failure counts,
// so one row per series crosses the wire however many buckets the spans
// hold.
func foldFine(ctx context.Context, tx pgx.Tx, q results.ReportQuery, rep *rollup.Report, spans []rollup.Span) error {
	if len(spans) == 0 {
		return nil
	}
	// The memory the aggregation needs (one concatenated histogram per
	// series would spill to disk at the default work_mem).
	if _, err := tx.Exec(ctx, `SET LOCAL work_mem = '256MB'`); err != nil {
		return err
	}
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	parts := make([]string, len(spans))
	for i, sp := range spans {
		parts[i] = `SELECT team, endpoint, check_id, vantage, region, provider, asn, count, failures,
			failed_minutes, down_minutes, errors, hist FROM rollup_` + sp.Level.String() +
			` WHERE bucket >= ` + arg(sp.From) + ` AND bucket < ` + arg(sp.To) + reportFilter(q, arg)
	}
	rows, err := tx.Query(ctx, `SELECT team, endpoint, check_id, vantage, region, provider, asn,
		sum(count)::bigint, sum(failures)::bigint, sum(failed_minutes)::bigint, sum(down_minutes)::bigint,
		coalesce(string_agg(nullif(errors, ''), ','), ''),
		string_agg(int4send(length(hist)) || hist, ''::bytea)
		FROM (`+strings.Join(parts, " UNION ALL ")+`) r
		GROUP BY team, endpoint, check_id, vantage, region, provider, asn`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	row := rollup.ReportRow{HistFramed: true}
	var asn int64
	for rows.Next() {
		if err := rows.Scan(&row.Team, &row.Endpoint, &row.Check, &row.Vantage, &row.Region,
			&row.Provider, &asn, &row.Count, &row.Failures, &row.FailedMinutes,
			&row.DownMinutes, &row.Errors, &row.Hist); err != nil {
			return err
		}
		row.ASN = uint32(asn)
		if err := rep.Add(&row); err != nil {
			return err
		}
	}
	return rows.Err()
}
