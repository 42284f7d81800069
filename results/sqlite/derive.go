package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"time"

	"github.com/picketnet/picket/results/rollup"
)

// Compaction writes minute and hour rows only. Day and week packs, and
// the suffix and multi-week packs summed from them (suffix.go), are
// derived from hour rows: once an hour has ended, plus deriveGrace, the
// compaction loop adds its hour rows to the day and week packs and moves
// the watermark (rollup_state 'hours') past it, in one transaction. The
// value of a day or week bucket is therefore its pack plus the bucket's
// hour rows at or after the watermark; reads add both, as they add
// pending deltas. A late result, for an hour before the watermark, takes
// compaction's other path: rollup.ApplyDeltas writes its minute and hour
// rows and adds it to its day and week packs, and the suffix and
// multi-week packs above them are rewritten, so every pack stays exact.
// This is what the PostgreSQL store does (results/postgres/packs.go).
//
// Before, compaction rewrote for every series it touched its day and week
// packs, whole (every vantage of the check), on top of its minute and
// hour rows: a third of its CPU with 20 vantages (BenchmarkCompact). Now
// a check's day and week packs are written once an hour, however many
// results the hour held.

// hoursMigration sets the watermark of a database that compaction filled
// before: it wrote every hour row into its day and week packs too, so
// every hour stored is derived. (Rebuilding the packs from the hour rows
// instead would lose the days loaded without hour rows, LoadRollups.)
const hoursMigration = `
INSERT INTO rollup_state (name, value)
SELECT 'hours', b + 3600 FROM (SELECT max(bucket) AS b FROM rollup_hour) WHERE b IS NOT NULL;
`

// deriveGrace is how long after an hour ends its rows are derived into
// packs: results that arrive later take compaction's slower path, which
// updates the packs too.
const deriveGrace = 10 * time.Minute

// noWatermark is the watermark while nothing has been derived.
const noWatermark = math.MinInt64

// readState reads the value of a rollup_state row, or none without one.
func readState(ctx context.Context, query queryFunc, name string, none int64) (int64, error) {
	rows, err := query(ctx, `SELECT value FROM rollup_state WHERE name = ?`, name)
	if err != nil {
		return 0, fmt.Errorf("%s watermark: %w", name, err)
	}
	v := none
	for rows.Next() {
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return 0, fmt.Errorf("%s watermark: %w", name, err)
		}
	}
	return v, closeRows(rows)
}

func writeState(ctx context.Context, tx *sql.Tx, name string, v int64) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO rollup_state (name, value) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, v)
	return err
}

// hoursWM reads the derivation watermark: the hour rows before it are in
// the day and week packs.
func hoursWM(ctx context.Context, query queryFunc) (int64, error) {
	return readState(ctx, query, "hours", noWatermark)
}

// derive adds the hour rows of the hours that ended deriveGrace before
// now to the packs, a day at most per transaction, then derives the
// suffix packs of the weeks that became complete. The caller holds cmu.
func (s *Store) derive(ctx context.Context) error {
	target := rollup.LevelBucket(rollup.Hour, s.now().Add(-deriveGrace).Unix())
	for s.hoursWM < target {
		if err := s.deriveOnce(ctx, target); err != nil {
			return fmt.Errorf("sqlite: derive rollups: %w", err)
		}
	}
	if nd := s.cache.newest[rollup.Day]; nd != math.MinInt64 && weekOf(nd) > s.suffixWM {
		return s.deriveSuffixes(ctx)
	}
	return nil
}

// deriveOnce derives the hours from the watermark up to target, or up to
// the end of the day of the first of them with rows, and moves the
// watermark there.
func (s *Store) deriveOnce(ctx context.Context, target int64) error {
	// The first hour with rows: the hours before it add nothing.
	var next sql.NullInt64
	if err := s.r.QueryRowContext(ctx, `SELECT min(bucket) FROM rollup_hour WHERE bucket >= ? AND bucket < ?`,
		s.hoursWM, target).Scan(&next); err != nil {
		return err
	}
	to := target
	packs := make(dayPacks)
	var rows []*rollup.Row
	var writes []rollupWrite
	if next.Valid {
		to = min(rollup.LevelBucket(rollup.Day, next.Int64)+day, target)
		var err error
		if rows, writes, err = s.deriveHours(ctx, next.Int64, to, packs); err != nil {
			return err
		}
	}
	s.wmu.Lock()
	err := s.writeTx(ctx, "derive rollups", func(tx *sql.Tx) error {
		if err := s.execWrites(ctx, tx, writes); err != nil {
			return err
		}
		return writeState(ctx, tx, "hours", to)
	})
	s.wmu.Unlock()
	if err != nil {
		return err
	}
	s.hoursWM = to
	s.cache.remember(rows, packs)
	return nil
}

// deriveHours returns the day and week rows that the hour rows of [from,
// to), hours of one day, make when added to the packs, and the
// statements that write them with the suffix and multi-week packs they
// change.
func (s *Store) deriveHours(ctx context.Context, from, to int64, packs dayPacks) ([]*rollup.Row, []rollupWrite, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+rollupColumns+` FROM rollup_hour
		WHERE bucket >= ? AND bucket < ? ORDER BY bucket`, from, to)
	if err != nil {
		return nil, nil, err
	}
	// Summed as they are read, in time order, so that the newest labels
	// win: an hour of a large fleet is a hundred thousand rows.
	sums := make(map[rollup.Key]*rollup.Row)
	var days []*rollup.Row
	for rows.Next() {
		h, err := scanRollup(rows, rollup.Hour)
		if err != nil {
			rows.Close()
			return nil, nil, err
		}
		k := h.Key.Within(rollup.Day)
		d := sums[k]
		if d == nil {
			d = &rollup.Row{Key: k}
			sums[k] = d
			days = append(days, d)
		}
		d.Merge(h)
	}
	if err := closeRows(rows); err != nil {
		return nil, nil, err
	}
	out, err := s.addToPacks(ctx, s.readQuery, days, packs)
	if err != nil {
		return nil, nil, err
	}
	writes, err := encodeRollups(out, packs)
	if err != nil {
		return nil, nil, err
	}
	suffixes, err := s.suffixWrites(ctx, s.readQuery, s.lateWeeks(out), packs)
	if err != nil {
		return nil, nil, err
	}
	return out, append(writes, suffixes...), nil
}

// addToPacks returns the day and week rows that days (what each adds to
// one series' day) make when added to the stored ones, which it reads
// into packs.
func (s *Store) addToPacks(ctx context.Context, query queryFunc, days []*rollup.Row, packs dayPacks) ([]*rollup.Row, error) {
	if len(days) == 0 {
		return nil, nil
	}
	keys := make([]rollup.Key, 0, 2*len(days))
	for _, d := range days {
		wk := d.Key
		wk.Level, wk.Bucket = rollup.Week, weekOf(d.Bucket)
		keys = append(keys, d.Key, wk)
	}
	stored, err := s.loadRollups(ctx, query, keys, packs)
	if err != nil {
		return nil, err
	}
	sums := make(map[rollup.Key]*rollup.Row, len(keys))
	out := make([]*rollup.Row, 0, len(keys))
	for i, d := range days {
		for _, k := range keys[2*i : 2*i+2] {
			r := sums[k]
			if r == nil {
				// A copy: the stored row may be the cache's.
				r = &rollup.Row{Key: k}
				if old := stored[k]; old != nil {
					r.Merge(old)
				}
				sums[k] = r
				out = append(out, r)
			}
			r.Merge(d)
		}
	}
	return out, nil
}

// underived adds to found, for the day and week keys among keys, the
// hour rows at or after the watermark wm: with their pack entries (which
// found holds), what reads see as their rows.
func underived(ctx context.Context, query queryFunc, keys []rollup.Key, wm int64, found map[rollup.Key]*rollup.Row) error {
	want := make(map[rollup.Key]bool)
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for _, k := range keys {
		if !k.Level.Packed() {
			continue
		}
		end := k.Bucket + int64(k.Level.Step()/time.Second)
		if from := max(k.Bucket, wm); from < end {
			want[k] = true
			lo, hi = min(lo, from), max(hi, end)
		}
	}
	if len(want) == 0 {
		return nil
	}
	// The hours not derived yet are few: those since the last hour ended.
	rows, err := query(ctx, `SELECT `+rollupColumns+` FROM rollup_hour WHERE bucket >= ? AND bucket < ? ORDER BY bucket`, lo, hi)
	if err != nil {
		return fmt.Errorf("load hours not derived: %w", err)
	}
	for rows.Next() {
		h, err := scanRollup(rows, rollup.Hour)
		if err != nil {
			rows.Close()
			return fmt.Errorf("load hours not derived: %w", err)
		}
		for _, l := range [...]rollup.Level{rollup.Day, rollup.Week} {
			k := h.Key.Within(l)
			if !want[k] {
				continue
			}
			r := found[k]
			if r == nil {
				r = &rollup.Row{Key: k}
				found[k] = r
			}
			r.Merge(h)
		}
	}
	if err := closeRows(rows); err != nil {
		return fmt.Errorf("load hours not derived: %w", err)
	}
	return nil
}
