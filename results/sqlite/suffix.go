package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"

	"github.com/picketnet/picket/results/rollup"
)

// Suffix packs cut what a report over weeks reads at the start of its
// window. A window of more than a week, aligned to days, is covered by
// the days up to its first Monday, whole weeks, and the days from its last
// Monday: up to 12 day packs per check at the edges. A suffix pack holds
// the sum of one check's day rollups from its day D to the end of D's
// week (rollup_suffix, bucket D, packed like day rollups), so the start
// edge is one pack. The end edge, when no later day of its week is stored
// (always, for a window that ends now), is the week pack itself: a week
// pack is the sum of its day packs. Likewise a multi-week pack (rollup_weeks,
// bucket W) holds the sum of one check's weeks from W up to four weeks,
// but not past the watermark below, so that the whole weeks in the middle
// of a window are one pack. A 30-day report then reads about 3 packs per
// check instead of 13.
//
// Suffix and multi-week packs exist for the weeks before a watermark
// (rollup_state 'suffix', a Monday): every such week has all its suffix
// packs, equal to the sums of its day packs, and its multi-week packs,
// equal to the sums of the week packs up to min(W + 4 weeks, watermark);
// reads use them only there. Compaction
// derives the packs of each week once a later week has data
// (deriveSuffixes), and whenever it writes a day pack of a week before
// the watermark (a late result, or hours derived after that week's
// packs, derive.go), it rewrites that week's suffix packs and the
// multi-week packs holding it, for the check, in the same transaction
// (suffixWrites), so they stay exact.

var suffixMigration = packTable("rollup_suffix", "the first day summed; its week ends the sum") + `
CREATE TABLE rollup_state (
	name  TEXT    NOT NULL PRIMARY KEY,
	value INTEGER NOT NULL
);
`

// weeksMigration adds multi-week packs, and derives the suffix packs
// again with them.
var weeksMigration = packTable("rollup_weeks", "the first Monday summed") + `
DELETE FROM rollup_suffix;
DELETE FROM rollup_state WHERE name = 'suffix';
`

const (
	day   = 86400
	week  = 7 * day
	month = 4 * week // the most a multi-week pack sums
)

func weekOf(bucket int64) int64 { return rollup.LevelBucket(rollup.Week, bucket) }

// weekCheck names the suffix packs of one check in one week.
type weekCheck struct {
	week  int64
	check string
}

// suffixWM reads the watermark: suffix packs exist for the weeks before
// it.
func suffixWM(ctx context.Context, query queryFunc) (int64, error) {
	return readState(ctx, query, "suffix", 0)
}

// lateWeeks returns the (week, check) pairs of the day rows among rows
// whose week is before the watermark: their suffix packs must be
// rewritten with them.
func (s *Store) lateWeeks(rows []*rollup.Row) map[weekCheck]bool {
	late := make(map[weekCheck]bool)
	for _, r := range rows {
		if r.Level == rollup.Day && weekOf(r.Bucket) < s.suffixWM {
			late[weekCheck{weekOf(r.Bucket), r.Check}] = true
		}
	}
	return late
}

// suffixWrites returns the statements that rewrite the suffix packs of
// wcs from their day packs: those in packs (the new ones of this
// transaction, merged by encodeRollups), else the stored ones.
func (s *Store) suffixWrites(ctx context.Context, query queryFunc, wcs map[weekCheck]bool, packs dayPacks) ([]rollupWrite, error) {
	if len(wcs) == 0 {
		return nil, nil
	}
	var keys []rollup.Key
	for wc := range wcs {
		for d := wc.week; d < wc.week+week; d += day {
			keys = append(keys, rollup.Key{Level: rollup.Day, Bucket: d, Check: wc.check})
		}
	}
	if _, err := s.loadRollups(ctx, query, keys, packs); err != nil {
		return nil, fmt.Errorf("suffix packs: %w", err)
	}
	sorted := make([]weekCheck, 0, len(wcs))
	for wc := range wcs {
		sorted = append(sorted, wc)
	}
	slices.SortFunc(sorted, func(a, b weekCheck) int {
		return cmp.Or(cmp.Compare(a.week, b.week), cmp.Compare(a.check, b.check))
	})
	var args []any
	multi := make(map[weekCheck]bool)
	for _, wc := range sorted {
		var days [7][]*rollup.Row
		for i := range days {
			days[i] = packs[packKey{rollup.Day, wc.week + int64(i)*day, wc.check}]
		}
		var err error
		if args, err = appendSuffixArgs(args, wc, days); err != nil {
			return nil, err
		}
		for x := wc.week - month + week; x <= wc.week; x += week {
			multi[weekCheck{x, wc.check}] = true
		}
	}
	margs, err := s.multiWeekArgs(ctx, query, multi, s.suffixWM, packs)
	if err != nil {
		return nil, err
	}
	return append(packWrites("rollup_suffix", args), packWrites("rollup_weeks", margs)...), nil
}

// multiWeekArgs returns the upsert arguments of the multi-week packs of
// wcs, for watermark wm, from the week packs: those in packs, else the
// stored ones. A pack of one week is not written: reads use the week's.
func (s *Store) multiWeekArgs(ctx context.Context, query queryFunc, wcs map[weekCheck]bool, wm int64, packs dayPacks) ([]any, error) {
	extent := func(x int64) int64 { return min(x+month, wm) }
	var keys []rollup.Key
	var sorted []weekCheck
	for wc := range wcs {
		if extent(wc.week) <= wc.week+week {
			continue
		}
		sorted = append(sorted, wc)
		for w := wc.week; w < extent(wc.week); w += week {
			keys = append(keys, rollup.Key{Level: rollup.Week, Bucket: w, Check: wc.check})
		}
	}
	if _, err := s.loadRollups(ctx, query, keys, packs); err != nil {
		return nil, fmt.Errorf("multi-week packs: %w", err)
	}
	slices.SortFunc(sorted, func(a, b weekCheck) int {
		return cmp.Or(cmp.Compare(a.week, b.week), cmp.Compare(a.check, b.check))
	})
	var args []any
	for _, wc := range sorted {
		// Week by week, in order: RollUp lets the last row of a series
		// set its labels. The copies are summed into one bucket.
		var rows []*rollup.Row
		for w := wc.week; w < extent(wc.week); w += week {
			for _, r := range packs[packKey{rollup.Week, w, wc.check}] {
				c := *r
				c.Bucket = wc.week
				rows = append(rows, &c)
			}
		}
		if len(rows) == 0 {
			continue
		}
		sums, err := rollup.RollUp(rows, rollup.Week, rollup.Week, func([]rollup.Key) (map[rollup.Key]*rollup.Row, error) { return nil, nil })
		if err != nil {
			return nil, err
		}
		if args, err = appendPackArgs(args, wc, sums); err != nil {
			return nil, err
		}
	}
	return args, nil
}

// appendPackArgs appends the upsert arguments of the pack of rows (one
// check's, summed) at bucket wc.week.
func appendPackArgs(args []any, wc weekCheck, rows []*rollup.Row) ([]any, error) {
	slices.SortFunc(rows, func(a, b *rollup.Row) int { return cmp.Compare(a.Vantage, b.Vantage) })
	blob, err := rollup.AppendPack(nil, rows)
	if err != nil {
		return nil, fmt.Errorf("pack: %w", err)
	}
	last := rows[len(rows)-1]
	return append(args, wc.week, wc.check, last.Team, last.Endpoint, last.Kind, blob), nil
}

// appendSuffixArgs appends the upsert arguments of the suffix packs of
// one check's week, from Tuesday on (Monday's is the week pack), given
// its day packs' entries.
func appendSuffixArgs(args []any, wc weekCheck, days [7][]*rollup.Row) ([]any, error) {
	var rows []*rollup.Row
	for i := 6; i >= 1; i-- {
		// rows holds days i to 6 in day order: RollUp lets the last row
		// of a series set its labels, which must be the newest.
		rows = append(slices.Clone(days[i]), rows...)
		if len(rows) == 0 {
			continue
		}
		sums, err := rollup.RollUp(rows, rollup.Day, rollup.Week, func([]rollup.Key) (map[rollup.Key]*rollup.Row, error) { return nil, nil })
		if err != nil {
			return nil, err
		}
		if args, err = appendPackArgs(args, weekCheck{wc.week + int64(i)*day, wc.check}, sums); err != nil {
			return nil, err
		}
	}
	return args, nil
}

// packWrites splits pack upsert arguments into statements.
func packWrites(table string, args []any) []rollupWrite {
	var out []rollupWrite
	_ = chunks(len(args)/packCols, func(lo, size int) error {
		out = append(out, rollupWrite{packUpsertSQL(table, size), args[lo*packCols : (lo+size)*packCols]})
		return nil
	})
	return out
}

// deriveSuffixes writes the suffix packs of the weeks from the watermark
// to the newest week with data, one week per transaction, advancing the
// watermark with each. The caller holds cmu.
func (s *Store) deriveSuffixes(ctx context.Context) error {
	var newest, oldest sql.NullInt64
	if err := s.r.QueryRowContext(ctx, `SELECT max(bucket), min(bucket) FROM rollup_day`).Scan(&newest, &oldest); err != nil {
		return fmt.Errorf("sqlite: suffix packs: %w", err)
	}
	if !newest.Valid {
		return nil
	}
	// The weeks before the oldest day stored have no suffix packs, as
	// they should: no days.
	start, target := max(s.suffixWM, weekOf(oldest.Int64)), weekOf(newest.Int64)
	for wk := start; wk < target; wk += week {
		if err := s.deriveWeek(ctx, wk); err != nil {
			return fmt.Errorf("sqlite: suffix packs: %w", err)
		}
	}
	if s.suffixWM < start {
		if err := s.writeSuffixes(ctx, nil, start); err != nil {
			return fmt.Errorf("sqlite: suffix packs: %w", err)
		}
	}
	return nil
}

// deriveWeek writes the suffix packs of week wk, and moves the watermark
// past it.
func (s *Store) deriveWeek(ctx context.Context, wk int64) error {
	rows, err := s.r.QueryContext(ctx, `SELECT bucket, check_id, team, endpoint, kind, series
		FROM rollup_day WHERE bucket >= ? AND bucket < ? ORDER BY check_id, bucket`, wk, wk+week)
	if err != nil {
		return err
	}
	var args []any
	var cur string
	var days [7][]*rollup.Row
	multi := make(map[weekCheck]bool)
	flush := func() error {
		if cur == "" {
			return nil
		}
		for x := wk - month + week; x <= wk; x += week {
			multi[weekCheck{x, cur}] = true
		}
		var err error
		args, err = appendSuffixArgs(args, weekCheck{wk, cur}, days)
		days = [7][]*rollup.Row{}
		return err
	}
	for rows.Next() {
		var bucket int64
		var check, team, endpoint, kind string
		var series sql.RawBytes
		if err := rows.Scan(&bucket, &check, &team, &endpoint, &kind, &series); err != nil {
			rows.Close()
			return err
		}
		if check != cur {
			if err := flush(); err != nil {
				rows.Close()
				return err
			}
			cur = check
		}
		if days[(bucket-wk)/day], err = rollup.UnpackRows(rollup.Day, bucket, check, team, endpoint, kind, series); err != nil {
			rows.Close()
			return err
		}
	}
	if err := closeRows(rows); err != nil {
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	// The multi-week packs that reach week wk now: those of the checks
	// with data in it (the others' are the same).
	margs, err := s.multiWeekArgs(ctx, s.readQuery, multi, wk+week, make(dayPacks))
	if err != nil {
		return err
	}
	return s.writeSuffixes(ctx, append(packWrites("rollup_suffix", args), packWrites("rollup_weeks", margs)...), wk+week)
}

// writeSuffixes writes suffix packs and moves the watermark to wm.
func (s *Store) writeSuffixes(ctx context.Context, writes []rollupWrite, wm int64) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	err := s.writeTx(ctx, "suffix packs", func(tx *sql.Tx) error {
		if err := s.execWrites(ctx, tx, writes); err != nil {
			return err
		}
		return writeState(ctx, tx, "suffix", wm)
	})
	if err != nil {
		return err
	}
	s.suffixWM = wm
	return nil
}

// readSpan is a range [from, to) of the buckets of one rollup table that
// a report reads.
type readSpan struct {
	table    string
	packed   bool
	from, to int64
}

// reportSpans returns the tables and buckets a report over the window
// covered by spans (rollup.Window) reads: the same, but for a window
// aligned to days, a suffix pack for the days before its first Monday,
// multi-week packs for its whole weeks and the week pack for the days
// from its last Monday, where they are exact; and the hour rows at or
// after the derivation watermark hwm of the days and weeks it covers,
// which their packs do not hold yet.
func reportSpans(ctx context.Context, tx *sql.Tx, spans []rollup.Span, hwm int64) ([]readSpan, error) {
	var out []readSpan
	days := len(spans) > 0
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for _, sp := range spans {
		out = append(out, readSpan{"rollup_" + sp.Level.String(), sp.Level.Packed(), sp.From.Unix(), sp.To.Unix()})
		days = days && sp.Level.Packed()
		if sp.Level.Packed() {
			lo, hi = min(lo, sp.From.Unix()), max(hi, sp.To.Unix())
		}
	}
	var hours []readSpan
	if from := max(lo, hwm); from < hi {
		hours = append(hours, readSpan{"rollup_hour", false, from, hi})
	}
	if !days {
		return append(out, hours...), nil
	}
	from, to := out[0].from, out[len(out)-1].to
	wm, err := suffixWM(ctx, tx.QueryContext)
	if err != nil {
		return nil, err
	}
	out = out[:0]
	cur := from
	if wk := weekOf(cur); cur != wk {
		next := min(wk+week, to)
		if next == wk+week && wk < wm {
			out = append(out, readSpan{"rollup_suffix", true, cur, cur + 1})
		} else {
			out = append(out, readSpan{"rollup_day", true, cur, next})
		}
		cur = next
	}
	for end := weekOf(to); cur < end; {
		if ext := min(cur+month, wm); ext <= end && ext > cur+week {
			out = append(out, readSpan{"rollup_weeks", true, cur, cur + 1})
			cur = ext
			continue
		}
		if n := len(out); n > 0 && out[n-1].table == "rollup_week" && out[n-1].to == cur {
			out[n-1].to = cur + week
		} else {
			out = append(out, readSpan{"rollup_week", true, cur, cur + week})
		}
		cur += week
	}
	if cur < to {
		// The week pack is the sum of its days: those of the window if no
		// later one is stored.
		var later bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM rollup_day WHERE bucket >= ? AND bucket < ?)`,
			to, cur+week).Scan(&later); err != nil {
			return nil, err
		}
		if later {
			out = append(out, readSpan{"rollup_day", true, cur, to})
		} else {
			out = append(out, readSpan{"rollup_week", true, cur, cur + 1})
		}
	}
	return append(out, hours...), nil
}
