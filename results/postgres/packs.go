package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/klauspost/compress/s2"

	"github.com/picketnet/picket/results/rollup"
)

// Rollups coarser than an hour are not written by compaction. They are
// derived from hour rows: once an hour has ended (plus deriveGrace), the
// compaction loop adds its hour rows to the packs of every coarser span
// and moves the watermark rollup_derived.hours_through past it. A pack
// holds one check's rows of one bucket, every vantage in one blob
// (rollup.AppendPack), so a 30-day report reads a few thousand rows
// instead of hundreds of thousands.
//
// The value of a day (or longer) bucket is therefore its pack plus the
// hour rows of the bucket at or after the watermark; reads add both, as
// they add pending deltas. A late result for an hour already derived is
// added by compaction to the hour row and to every pack above it, so the
// packs stay exact.
//
// Spans are one day, and 2, 4, 8, 16 and 32 days aligned on the Unix
// epoch, so that any window of whole days is covered by at most two packs
// per span (a 30-day window reads about five per check instead of 31), and
// Monday weeks for Rollups at week resolution.

const packMigration = `
DROP TABLE rollup_day;
DROP TABLE rollup_week;
CREATE TABLE rollup_pack (
	days     integer     NOT NULL, -- the bucket's length: 1, 2, 4, 8, 16, 32, or 7 for a Monday week
	bucket   timestamptz NOT NULL,
	check_id text        NOT NULL,
	team     text        NOT NULL,
	endpoint text        NOT NULL,
	kind     text        NOT NULL,
	pack     bytea       NOT NULL, -- rollup.AppendPack, one entry per vantage; S2 from migration 12
	PRIMARY KEY (days, bucket, check_id)
);
CREATE TABLE rollup_derived (
	one           boolean     NOT NULL PRIMARY KEY DEFAULT true CHECK (one),
	hours_through timestamptz, -- hour rows before it are in the packs; NULL: none
	spans_from    timestamptz  -- packs longer than a day starting before it were cut by retention
);
INSERT INTO rollup_derived (one) VALUES (true);
`

// deriveGrace is how long after an hour ends its rows are derived into
// packs: results that arrive later take compaction's slower path, which
// updates the packs too.
const deriveGrace = 10 * time.Minute

// packsMigration rebuilds the packs, compressed (encodePack), from the
// hour rows.
const packsMigration = `
TRUNCATE rollup_pack;
UPDATE rollup_derived SET hours_through = NULL, spans_from = NULL;
`

// encodePack is the stored form of a pack: rollup.AppendPack, compressed
// with S2 by the store itself. The server keeps it in its row as it is
// (toast_tuple_target) and sends half the bytes a plain pack would take:
// sending the packs was most of a month's report, and decompressing
// them in the folding workers costs less than a tenth of that.
func encodePack(rows []*rollup.Row) ([]byte, error) {
	pack, err := rollup.AppendPack(nil, rows)
	if err != nil {
		return nil, err
	}
	return s2.EncodeBetter(nil, pack), nil
}

// decodePack returns the rollup.AppendPack form of a stored pack, in dst
// if it is large enough.
func decodePack(dst, blob []byte) ([]byte, error) {
	n, err := s2.DecodedLen(blob)
	if err != nil {
		return nil, fmt.Errorf("pack: %w", err)
	}
	if cap(dst) < n {
		dst = make([]byte, n)
	}
	pack, err := s2.Decode(dst[:cap(dst)], blob)
	if err != nil {
		return nil, fmt.Errorf("pack: %w", err)
	}
	return pack, nil
}

// deriveChunk bounds the hours one derivation transaction folds.
const deriveChunk = 24 * time.Hour

// spanDays are the pack spans in days; weekDays is the Monday week.
var spanDays = []int64{1, 2, 4, 8, 16, 32, weekDays}

const weekDays = 7

// packBucket is the start (Unix seconds) of the span-days bucket holding
// the instant t (Unix seconds).
func packBucket(days, t int64) int64 {
	if days == weekDays {
		return rollup.LevelBucket(rollup.Week, t)
	}
	step := days * 86400
	return t - ((t%step)+step)%step
}

// watermark is the derivation state read in a transaction.
type watermark struct {
	hours     int64 // Unix seconds; hour rows before it are in the packs
	spansFrom int64 // packs longer than a day are whole only from here
}

// noWatermark is hours_through when nothing has been derived yet.
const noWatermark = math.MinInt64

func readWatermark(ctx context.Context, tx pgx.Tx, forUpdate bool) (watermark, error) {
	q := `SELECT hours_through, spans_from FROM rollup_derived`
	if forUpdate {
		q += ` FOR UPDATE`
	}
	var hours, spans *time.Time
	if err := tx.QueryRow(ctx, q).Scan(&hours, &spans); err != nil {
		return watermark{}, fmt.Errorf("read derivation watermark: %w", err)
	}
	w := watermark{hours: noWatermark, spansFrom: noWatermark}
	if hours != nil {
		w.hours = hours.Unix()
	}
	if spans != nil {
		w.spansFrom = spans.Unix()
	}
	return w, nil
}

// packKey identifies a pack.
type packKey struct {
	days   int64
	bucket int64
	check  string
}

// packRows is a pack being changed: its labels and its rows by vantage.
type packRows struct {
	team, endpoint, kind string
	rows                 map[string]*rollup.Row
	order                []string // vantages, as stored, then new ones
}

// addToPacks adds day rows (each a day's rollup of one series, or what a
// late result adds to it) to the packs of every span that holds the day.
func addToPacks(ctx context.Context, tx pgx.Tx, days []*rollup.Row) error {
	if len(days) == 0 {
		return nil
	}
	packs := make(map[packKey]*packRows)
	var keys []packKey
	for _, d := range days {
		for _, n := range spanDays {
			k := packKey{n, packBucket(n, d.Bucket), d.Check}
			if packs[k] == nil {
				packs[k] = &packRows{rows: make(map[string]*rollup.Row)}
				keys = append(keys, k)
			}
		}
	}
	slices.SortFunc(keys, comparePackKeys)
	if err := loadPacks(ctx, tx, keys, packs); err != nil {
		return err
	}
	for _, d := range days {
		for _, n := range spanDays {
			p := packs[packKey{n, packBucket(n, d.Bucket), d.Check}]
			p.team, p.endpoint, p.kind = d.Team, d.Endpoint, d.Kind
			r := p.rows[d.Vantage]
			if r == nil {
				r = &rollup.Row{Key: rollup.Key{Level: rollup.Day, Bucket: d.Bucket, Check: d.Check, Vantage: d.Vantage}}
				p.rows[d.Vantage] = r
				p.order = append(p.order, d.Vantage)
			}
			r.Merge(d)
		}
	}
	return writePacks(ctx, tx, keys, packs)
}

func comparePackKeys(a, b packKey) int {
	if c := a.days - b.days; c != 0 {
		return int(c)
	}
	if a.bucket != b.bucket {
		if a.bucket < b.bucket {
			return -1
		}
		return 1
	}
	switch {
	case a.check < b.check:
		return -1
	case a.check > b.check:
		return 1
	}
	return 0
}

// loadPacks reads the stored packs of keys into packs.
func loadPacks(ctx context.Context, tx pgx.Tx, keys []packKey, packs map[packKey]*packRows) error {
	ds := make([]int64, len(keys))
	bs := make([]time.Time, len(keys))
	cs := make([]string, len(keys))
	for i, k := range keys {
		ds[i], bs[i], cs[i] = k.days, time.Unix(k.bucket, 0), k.check
	}
	rows, err := tx.Query(ctx, `SELECT p.days, p.bucket, p.check_id, p.team, p.endpoint, p.kind, p.pack
		FROM rollup_pack p JOIN unnest($1::integer[], $2::timestamptz[], $3::text[]) AS k(d, b, c)
		ON p.days = k.d AND p.bucket = k.b AND p.check_id = k.c`, ds, bs, cs)
	if err != nil {
		return fmt.Errorf("load packs: %w", err)
	}
	var k packKey
	var bucket time.Time
	var team, endpoint, kind string
	var blob []byte
	_, err = pgx.ForEachRow(rows, []any{&k.days, &bucket, &k.check, &team, &endpoint, &kind, &blob}, func() error {
		k.bucket = bucket.Unix()
		p := packs[k]
		if p == nil {
			return nil
		}
		pack, err := decodePack(nil, blob)
		if err != nil {
			return fmt.Errorf("pack %d days at %v of %s: %w", k.days, bucket, k.check, err)
		}
		stored, err := rollup.UnpackRows(rollup.Day, k.bucket, k.check, team, endpoint, kind, pack)
		if err != nil {
			return fmt.Errorf("pack %d days at %v of %s: %w", k.days, bucket, k.check, err)
		}
		p.team, p.endpoint, p.kind = team, endpoint, kind
		for _, r := range stored {
			p.rows[r.Vantage] = r
			p.order = append(p.order, r.Vantage)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("load packs: %w", err)
	}
	return nil
}

// writePacks writes the packs of keys over the stored ones.
func writePacks(ctx context.Context, tx pgx.Tx, keys []packKey, packs map[packKey]*packRows) error {
	ds := make([]int64, len(keys))
	bs := make([]time.Time, len(keys))
	cs := make([]string, len(keys))
	teams := make([]string, len(keys))
	endpoints := make([]string, len(keys))
	kinds := make([]string, len(keys))
	blobs := make([][]byte, len(keys))
	rows := make([]*rollup.Row, 0, 128)
	for i, k := range keys {
		p := packs[k]
		rows = rows[:0]
		for _, v := range p.order {
			rows = append(rows, p.rows[v])
		}
		blob, err := encodePack(rows)
		if err != nil {
			return fmt.Errorf("write packs: %w", err)
		}
		ds[i], bs[i], cs[i] = k.days, time.Unix(k.bucket, 0), k.check
		teams[i], endpoints[i], kinds[i], blobs[i] = p.team, p.endpoint, p.kind, blob
	}
	_, err := tx.Exec(ctx, `INSERT INTO rollup_pack (days, bucket, check_id, team, endpoint, kind, pack)
		SELECT * FROM unnest($1::integer[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bytea[])
		ON CONFLICT (days, bucket, check_id) DO UPDATE SET
		team = excluded.team, endpoint = excluded.endpoint, kind = excluded.kind, pack = excluded.pack`,
		ds, bs, cs, teams, endpoints, kinds, blobs)
	if err != nil {
		return fmt.Errorf("write packs: %w", err)
	}
	return nil
}

// derive folds the hour rows of hours that ended deriveGrace before now
// into the packs, a day at most per transaction, skipping hours without
// rows, in at most chunks transactions (0: as many as it takes), so that
// catching up on a long history (after migration 5) does not hold up
// compaction for long. The caller holds the compaction lock: only it
// writes hour rows and packs.
func (s *Store) derive(ctx context.Context, now time.Time, chunks int) error {
	target := rollup.Hour.Truncate(now.Add(-deriveGrace))
	for i := 0; chunks == 0 || i < chunks; i++ {
		done := false
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			var err error
			done, err = deriveOnce(ctx, tx, target)
			return err
		})
		if err != nil {
			return fmt.Errorf("postgres: derive rollups: %w", err)
		}
		if done {
			return nil
		}
	}
	return nil
}

// deriveChunks is how many derivation transactions a compaction runs.
const deriveChunks = 4

// deriveOnce derives the next hours up to target; it reports whether
// every hour before target is derived.
func deriveOnce(ctx context.Context, tx pgx.Tx, target time.Time) (bool, error) {
	if err := asyncCommit(ctx, tx); err != nil {
		return false, err
	}
	w, err := readWatermark(ctx, tx, true)
	if err != nil {
		return false, err
	}
	if w.hours >= target.Unix() {
		return true, nil
	}
	from := time.Time{}
	if w.hours != noWatermark {
		from = time.Unix(w.hours, 0)
	}
	// The first hour with rows: the hours before it add nothing.
	var next *time.Time
	if err := tx.QueryRow(ctx, `SELECT min(bucket) FROM rollup_hour WHERE bucket >= $1 AND bucket < $2`,
		from, target).Scan(&next); err != nil {
		return false, err
	}
	to := target
	if next != nil {
		to = rollup.Day.Truncate(*next).Add(deriveChunk)
		if to.After(target) {
			to = target
		}
		if err := deriveHours(ctx, tx, *next, to); err != nil {
			return false, err
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE rollup_derived SET hours_through = $1`, to); err != nil {
		return false, err
	}
	return !to.Before(target), nil
}

// deriveHours adds the hour rows of [from, to) to the packs.
func deriveHours(ctx context.Context, tx pgx.Tx, from, to time.Time) error {
	rows, err := tx.Query(ctx, `SELECT `+rollupColumns+` FROM rollup_hour WHERE bucket >= $1 AND bucket < $2`, from, to)
	if err != nil {
		return err
	}
	// Summed as they arrive: a day of a large fleet's hours is millions
	// of rows.
	var days daySums
	for rows.Next() {
		r, err := scanRollup(rows, rollup.Hour)
		if err != nil {
			rows.Close()
			return err
		}
		days.add(r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	return addToPacks(ctx, tx, days.rows)
}

// daySums adds rows of finer levels into day rows.
type daySums struct {
	byKey map[rollup.Key]*rollup.Row
	rows  []*rollup.Row
}

func (d *daySums) add(r *rollup.Row) {
	k := r.Key.Within(rollup.Day)
	if d.byKey == nil {
		d.byKey = make(map[rollup.Key]*rollup.Row)
	}
	day := d.byKey[k]
	if day == nil {
		day = &rollup.Row{Key: k}
		d.byKey[k] = day
		d.rows = append(d.rows, day)
	}
	day.Merge(r)
}

// sumDays adds rows of finer levels into day rows.
func sumDays(rows []*rollup.Row) []*rollup.Row {
	var d daySums
	for _, r := range rows {
		d.add(r)
	}
	return d.rows
}

// packSpan is a range of packs of one span to read.
type packSpan struct {
	days     int64
	from, to int64 // Unix seconds, bucket starts in [from, to)
}

// coverDays covers [a, b) (whole days, Unix seconds) with as few packs as
// it can: the longest aligned span that fits at each step, and single
// days before spansFrom, where retention cut the longer packs.
func coverDays(a, b, spansFrom int64) []packSpan {
	var out []packSpan
	for a < b {
		n := int64(1)
		if a >= spansFrom {
			for _, m := range []int64{32, 16, 8, 4, 2} {
				if packBucket(m, a) == a && a+m*86400 <= b {
					n = m
					break
				}
			}
		}
		if last := len(out) - 1; n == 1 && last >= 0 && out[last].days == 1 && out[last].to == a {
			out[last].to += 86400 // a run of single days is one range
		} else {
			out = append(out, packSpan{n, a, a + n*86400})
		}
		a += n * 86400
	}
	return out
}

var errWeekRows = errors.New("week rollups are derived from day rollups, not loaded")
