package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/results/rollup"
	"github.com/picketnet/picket/results/synth"
)

// The tests here check the derivation of packs from hour rows (derive.go)
// against a store that is never compacted: it answers every read from
// pending deltas alone, which rollup.ApplyDeltas folds as compaction did
// before packs were derived.

// openClock opens the store at path with its background compaction
// stopped and its clock at now.
func openClock(t *testing.T, path string, now time.Time) *Store {
	t.Helper()
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	s.compactor.Stop()
	s.now = func() time.Time { return now }
	return s
}

// openRef opens a store that is never compacted.
func openRef(t *testing.T) *Store {
	t.Helper()
	s := openClock(t, filepath.Join(t.TempDir(), "ref.db"), time.Now())
	t.Cleanup(func() { s.Close() })
	return s
}

func ingestAll(t *testing.T, rs []results.Result, stores ...*Store) {
	t.Helper()
	for _, s := range stores {
		out, err := s.Ingest(context.Background(), rs)
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Accepted) != len(rs) {
			t.Fatalf("%d of %d results accepted", len(out.Accepted), len(rs))
		}
	}
}

func compact(t *testing.T, s *Store, now time.Time) {
	t.Helper()
	s.now = func() time.Time { return now }
	if err := s.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
}

type window struct{ since, until time.Time }

// sameReads checks that got answers every rollup and report read over
// windows as want does, and that the reports are not empty.
func sameReads(t *testing.T, what string, got, want *Store, windows ...window) {
	t.Helper()
	ctx := context.Background()
	for _, w := range windows {
		for _, res := range []results.Resolution{results.Minute, results.Hour, "day", "week"} {
			q := results.RollupQuery{Resolution: res, Since: w.since, Until: w.until}
			g, err := got.Rollups(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			wa, err := want.Rollups(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(g) != fmt.Sprint(wa) {
				t.Errorf("%s: %s rollups of [%s, %s):\n got %+v\nwant %+v", what, res,
					w.since.Format(time.DateTime), w.until.Format(time.DateTime), g, wa)
			}
		}
		for _, by := range []results.GroupBy{results.ByVantage, results.ByRegion} {
			q := results.ReportQuery{By: by, Since: w.since, Until: w.until}
			g, err := got.Availability(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			wa, err := want.Availability(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if len(wa) == 0 || fmt.Sprint(g) != fmt.Sprint(wa) {
				t.Errorf("%s: report by %s of [%s, %s):\n got %+v\nwant %+v", what, by,
					w.since.Format(time.DateTime), w.until.Format(time.DateTime), g, wa)
			}
		}
	}
}

// packTotal is the count of results in the pack rows of table at bucket.
func packTotal(t *testing.T, s *Store, table string, bucket time.Time) int64 {
	t.Helper()
	rows, err := s.r.Query(`SELECT check_id, series FROM `+table+` WHERE bucket = ?`, bucket.Unix())
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var n int64
	for rows.Next() {
		var check string
		var series []byte
		if err := rows.Scan(&check, &series); err != nil {
			t.Fatal(err)
		}
		entries, err := rollup.UnpackRows(rollup.Day, bucket.Unix(), check, "", "", "", series)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			n += e.Count
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

func countRows(t *testing.T, db *sql.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

var (
	vantagesEU = [...][2]string{{"v1", "eu"}, {"v2", "eu"}, {"v3", "us"}}
	timeout    = &results.Error{Layer: results.LayerConnect, Code: results.CodeTimeout}
)

// hourResults makes results in the hour from h: two checks, three
// vantages, at minutes 5 and 35, failing where fail says.
func hourResults(prefix string, h time.Time, fail func(check, vantage, minute int) bool) []results.Result {
	var out []results.Result
	for c := range 2 {
		for vi, v := range vantagesEU {
			for mi, m := range []int{5, 35} {
				r := results.Result{ID: fmt.Sprintf("%s-%d-%s-%d", prefix, c, v[0], m), Team: "pay",
					Endpoint: fmt.Sprint("e", c), Check: fmt.Sprint("c", c), Kind: "http", Vantage: v[0], Region: v[1],
					StartedAt: h.Add(time.Duration(m)*time.Minute + time.Duration(vi)*time.Second), DurationMS: float64(50 + 10*vi + 7*mi + c), OK: true}
				if fail != nil && fail(c, vi, mi) {
					r.OK, r.Error = false, timeout
				}
				out = append(out, r)
			}
		}
	}
	return out
}

// A late result, for an hour already derived into packs, updates its
// minute and hour rows and the day and week packs above them.
func TestLateResultForDerivedHour(t *testing.T) {
	h := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC) // a Tuesday
	s := openClock(t, filepath.Join(t.TempDir(), "picket.db"), h)
	t.Cleanup(func() { s.Close() })
	ref := openRef(t)
	first := hourResults("a", h, func(c, v, m int) bool { return c == 0 && v == 0 && m == 0 })
	ingestAll(t, first, s, ref)
	compact(t, s, h.Add(3*time.Hour))
	if want := h.Add(2 * time.Hour).Unix(); s.hoursWM != want {
		t.Fatalf("watermark %v, want %v", time.Unix(s.hoursWM, 0).UTC(), time.Unix(want, 0).UTC())
	}
	day, week := rollup.Day.Truncate(h), time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	if n := packTotal(t, s, "rollup_day", day); n != int64(len(first)) {
		t.Fatalf("day packs hold %d results, want %d", n, len(first))
	}
	windows := []window{
		{h.Add(-time.Hour), h.Add(3 * time.Hour)},                         // minutes
		{h.Add(-30 * time.Hour), h.Add(20 * time.Hour)},                   // hours
		{h.Add(-9*24*time.Hour + 5*time.Hour), h.Add(9 * 24 * time.Hour)}, // days and weeks
	}
	sameReads(t, "derived", s, ref, windows...)
	// v1's minute 5 of c0 becomes down (2 of 3 failed), v2's minute 35 of
	// c1 failed, and v3 gets a minute it did not have.
	late := []results.Result{
		{ID: "late1", Team: "pay", Endpoint: "e0", Check: "c0", Kind: "http", Vantage: "v1", Region: "eu",
			StartedAt: h.Add(5*time.Minute + 20*time.Second), DurationMS: 900, Error: timeout},
		{ID: "late2", Team: "pay", Endpoint: "e1", Check: "c1", Kind: "http", Vantage: "v2", Region: "eu",
			StartedAt: h.Add(35*time.Minute + 10*time.Second), DurationMS: 800, Error: timeout},
		{ID: "late3", Team: "pay", Endpoint: "e1", Check: "c1", Kind: "http", Vantage: "v3", Region: "us",
			StartedAt: h.Add(50 * time.Minute), DurationMS: 70, OK: true},
	}
	ingestAll(t, late, s, ref)
	sameReads(t, "late, pending", s, ref, windows...)
	compact(t, s, h.Add(3*time.Hour))
	if n := packTotal(t, s, "rollup_day", day); n != int64(len(first)+len(late)) {
		t.Errorf("day packs hold %d results after the late ones, want %d", n, len(first)+len(late))
	}
	if n := packTotal(t, s, "rollup_week", week); n != int64(len(first)+len(late)) {
		t.Errorf("week packs hold %d results after the late ones, want %d", n, len(first)+len(late))
	}
	sameReads(t, "late, compacted", s, ref, windows...)
}

// Compaction of the current hour writes no pack; the watermark survives a
// restart, and the hours derived after it are neither lost nor counted
// twice.
func TestRestartBetweenCompactionAndDerivation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "picket.db")
	h := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	ref := openRef(t)
	windows := []window{
		{h.Add(-time.Hour), h.Add(3 * time.Hour)},
		{h.Add(-30 * time.Hour), h.Add(20 * time.Hour)},
		{h.Add(-9*24*time.Hour + 5*time.Hour), h.Add(9 * 24 * time.Hour)},
	}
	s := openClock(t, path, h)
	first := hourResults("a", h, func(c, v, m int) bool { return v == 2 && m == 1 })
	ingestAll(t, first, s, ref)
	compact(t, s, h.Add(30*time.Minute))
	if s.hoursWM != h.Unix() {
		t.Fatalf("watermark %v, want %v", time.Unix(s.hoursWM, 0).UTC(), h)
	}
	if n := countRows(t, s.r, `SELECT (SELECT count(*) FROM rollup_day) + (SELECT count(*) FROM rollup_week)`); n != 0 {
		t.Fatalf("compacting the current hour wrote %d packs, want none", n)
	}
	if n := countRows(t, s.r, `SELECT count(*) FROM rollup_hour`); n != 6 {
		t.Fatalf("%d hour rows, want 6", n)
	}
	sameReads(t, "compacted, not derived", s, ref, windows...)
	s.Close()

	s = openClock(t, path, h.Add(2*time.Hour))
	if s.hoursWM != h.Unix() {
		t.Fatalf("watermark after reopening %v, want %v", time.Unix(s.hoursWM, 0).UTC(), h)
	}
	sameReads(t, "reopened", s, ref, windows...)
	compact(t, s, h.Add(2*time.Hour))
	if n := packTotal(t, s, "rollup_day", h.Truncate(24*time.Hour)); n != int64(len(first)) {
		t.Fatalf("day packs hold %d results after derivation, want %d", n, len(first))
	}
	sameReads(t, "derived after reopening", s, ref, windows...)
	s.Close()

	s = openClock(t, path, h.Add(2*time.Hour))
	defer s.Close()
	if want := h.Add(time.Hour).Unix(); s.hoursWM != want {
		t.Fatalf("watermark after reopening %v, want %v", time.Unix(s.hoursWM, 0).UTC(), time.Unix(want, 0).UTC())
	}
	// Late for the hour derived, and current for the next one.
	more := append(hourResults("late", h.Add(10*time.Second), func(c, v, m int) bool { return c == 1 }),
		hourResults("next", h.Add(time.Hour), nil)...)
	ingestAll(t, more, s, ref)
	compact(t, s, h.Add(2*time.Hour))
	if n := packTotal(t, s, "rollup_day", h.Truncate(24*time.Hour)); n != 2*int64(len(first)) {
		t.Errorf("day packs hold %d results, want %d: the late ones but not the next hour's", n, 2*len(first))
	}
	sameReads(t, "late and next hour", s, ref, windows...)
}

// Retention deletes the derived packs before its cut with the hour rows,
// and what is left, and what is added after, reads as in a store that
// never held the deleted days.
func TestRetentionCutsDerivedPacks(t *testing.T) {
	ctx := context.Background()
	cut := time.Date(2026, 11, 9, 0, 0, 0, 0, time.UTC) // a Monday
	s := openClock(t, filepath.Join(t.TempDir(), "picket.db"), cut)
	t.Cleanup(func() { s.Close() })
	ref := openRef(t) // fed only what retention keeps
	for d := -9; d < 6; d++ {
		for _, hr := range []int{3, 14} {
			h := cut.Add(time.Duration(d)*24*time.Hour + time.Duration(hr)*time.Hour)
			rs := hourResults(fmt.Sprint(d, "-", hr), h, func(c, v, m int) bool { return (d+c+v+m)%5 == 0 })
			ingestAll(t, rs, s)
			if !h.Before(cut) {
				ingestAll(t, rs, ref)
			}
		}
		compact(t, s, cut.Add(time.Duration(d+1)*24*time.Hour+time.Hour))
	}
	packsBefore := func() int {
		return countRows(t, s.r, `SELECT (SELECT count(*) FROM rollup_day WHERE bucket < ?1) +
			(SELECT count(*) FROM rollup_week WHERE bucket < ?1) + (SELECT count(*) FROM rollup_suffix WHERE bucket < ?1) +
			(SELECT count(*) FROM rollup_weeks WHERE bucket < ?1)`, cut.Unix())
	}
	if packsBefore() == 0 {
		t.Fatal("no packs before the cut to delete")
	}
	now := cut.Add(20 * 24 * time.Hour)
	if err := s.ApplyRetention(ctx, results.Retention{Hour: 20 * 24 * time.Hour}, now); err != nil {
		t.Fatal(err)
	}
	if n := packsBefore(); n != 0 {
		t.Fatalf("%d packs before the cut left", n)
	}
	windows := []window{
		{cut, cut.Add(8 * 24 * time.Hour)},
		{cut.Add(2*24*time.Hour + 5*time.Hour), cut.Add(10*24*time.Hour + 5*time.Hour)},
		{cut.Add(5 * time.Hour), cut.Add(5*24*time.Hour + 5*time.Hour)},
		{cut.Add(24*time.Hour + 2*time.Hour), cut.Add(24*time.Hour + 7*time.Hour)},
	}
	sameReads(t, "after retention", s, ref, windows...)
	late := hourResults("late", cut.Add(2*24*time.Hour+3*time.Hour+10*time.Second), nil)
	ingestAll(t, late, s, ref)
	compact(t, s, now)
	sameReads(t, "late after retention", s, ref, windows...)
}

// Derivation hour by hour across the end of a day and of a week: before
// and after each hour is derived, reads are exact, and the packs of both
// weeks and the suffix packs of the ended week are written.
func TestDeriveAcrossDayAndWeekBoundary(t *testing.T) {
	sunday := time.Date(2026, 11, 8, 22, 0, 0, 0, time.UTC)
	monday := time.Date(2026, 11, 9, 0, 0, 0, 0, time.UTC)
	s := openClock(t, filepath.Join(t.TempDir(), "picket.db"), sunday)
	t.Cleanup(func() { s.Close() })
	ref := openRef(t)
	windows := []window{
		{sunday.Add(-2 * time.Hour), sunday.Add(4 * time.Hour)},
		{sunday.Add(-30 * time.Hour), sunday.Add(30 * time.Hour)},
		{time.Date(2026, 11, 4, 5, 0, 0, 0, time.UTC), time.Date(2026, 11, 12, 5, 0, 0, 0, time.UTC)},
		{time.Date(2026, 10, 25, 5, 0, 0, 0, time.UTC), time.Date(2026, 11, 24, 5, 0, 0, 0, time.UTC)},
	}
	var total int
	for i := range 5 {
		h := sunday.Add(time.Duration(i) * time.Hour)
		rs := hourResults(fmt.Sprint("h", i), h, func(c, v, m int) bool { return (i+c+v+m)%4 == 0 })
		total += len(rs)
		ingestAll(t, rs, s, ref)
		sameReads(t, fmt.Sprintf("hour %d pending", i), s, ref, windows...)
		compact(t, s, h.Add(30*time.Minute))
		if s.hoursWM != h.Unix() {
			t.Fatalf("hour %d: watermark %v, want %v", i, time.Unix(s.hoursWM, 0).UTC(), h)
		}
		sameReads(t, fmt.Sprintf("hour %d compacted", i), s, ref, windows...)
		compact(t, s, h.Add(75*time.Minute))
		if want := h.Add(time.Hour).Unix(); s.hoursWM != want {
			t.Fatalf("hour %d: watermark %v, want %v", i, time.Unix(s.hoursWM, 0).UTC(), time.Unix(want, 0).UTC())
		}
		sameReads(t, fmt.Sprintf("hour %d derived", i), s, ref, windows...)
	}
	perHour := int64(total / 5)
	for _, c := range []struct {
		table  string
		bucket time.Time
		want   int64
	}{
		{"rollup_day", sunday.Truncate(24 * time.Hour), 2 * perHour},
		{"rollup_day", monday, 3 * perHour},
		{"rollup_week", time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC), 2 * perHour},
		{"rollup_week", monday, 3 * perHour},
		{"rollup_suffix", time.Date(2026, 11, 4, 0, 0, 0, 0, time.UTC), 2 * perHour},
	} {
		if n := packTotal(t, s, c.table, c.bucket); n != c.want {
			t.Errorf("%s at %s holds %d results, want %d", c.table, c.bucket.Format(time.DateOnly), n, c.want)
		}
	}
	if s.suffixWM != monday.Unix() {
		t.Errorf("suffix watermark %v, want %v", time.Unix(s.suffixWM, 0).UTC(), monday)
	}
	// Late for Sunday, a week whose suffix packs are derived.
	late := hourResults("late", sunday.Add(time.Hour+20*time.Second), func(c, v, m int) bool { return v == 1 })
	ingestAll(t, late, s, ref)
	compact(t, s, sunday.Add(6*time.Hour))
	if n := packTotal(t, s, "rollup_suffix", time.Date(2026, 11, 4, 0, 0, 0, 0, time.UTC)); n != 3*perHour {
		t.Errorf("suffix pack holds %d results after the late ones, want %d", n, 3*perHour)
	}
	sameReads(t, "late for the ended week", s, ref, windows...)
}

// Migration 7 takes a database whose packs compaction wrote (every hour
// stored in them) to derived packs: no data is lost or counted twice,
// pending deltas included, and late results land exactly.
func TestMigrationToDerivedPacks(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "picket.db")
	start := time.Date(2026, 11, 5, 20, 0, 0, 0, time.UTC)
	ref := openRef(t)
	s := openClock(t, path, start.Add(30*24*time.Hour))
	for i := range 10 {
		rs := hourResults(fmt.Sprint("h", i), start.Add(time.Duration(i)*3*time.Hour), func(c, v, m int) bool { return (i+v)%3 == 0 })
		ingestAll(t, rs, s, ref)
	}
	compact(t, s, start.Add(30*24*time.Hour)) // every hour in the packs, as before migration 7
	// Left pending across the migration: one hour derived, one not.
	ingestAll(t, hourResults("p1", start.Add(3*time.Hour+5*time.Second), nil), s, ref)
	ingestAll(t, hourResults("p2", start.Add(30*time.Hour), nil), s, ref)
	s.Close()

	// Back to the schema of migration 6.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `DELETE FROM rollup_state WHERE name = 'hours'; DELETE FROM schema_migrations WHERE version = 7`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s = openClock(t, path, start.Add(28*time.Hour))
	defer s.Close()
	if want := start.Add(27 * time.Hour).Add(time.Hour).Unix(); s.hoursWM != want {
		t.Fatalf("watermark after migration %v, want %v (after the newest hour row)", time.Unix(s.hoursWM, 0).UTC(), time.Unix(want, 0).UTC())
	}
	windows := []window{
		{start.Add(time.Hour), start.Add(5 * time.Hour)},
		{start.Add(-10 * time.Hour), start.Add(40 * time.Hour)},
		{start.Add(-8 * 24 * time.Hour), start.Add(8 * 24 * time.Hour)},
	}
	sameReads(t, "migrated", s, ref, windows...)
	compact(t, s, start.Add(28*time.Hour))
	sameReads(t, "migrated and compacted", s, ref, windows...)
	ingestAll(t, hourResults("late", start.Add(6*time.Hour+5*time.Second), func(c, v, m int) bool { return m == 0 }), s, ref)
	compact(t, s, start.Add(40*time.Hour))
	sameReads(t, "late after migration", s, ref, windows...)
}

// LoadRollups (the bulk path of report benchmarks) adds day rows to their
// packs, and hour rows to the hour table, to be derived later or, for
// hours derived already, to their packs at once: either way the day and
// week rollups are the sums of what was loaded, and reports agree.
func TestLoadRollupsDerived(t *testing.T) {
	ctx := context.Background()
	end := time.Date(2026, 11, 12, 14, 30, 0, 0, time.UTC)
	cfg := synth.Config{Checks: 3, Vantages: 4, Seed: 1, Start: end.Add(-10 * 24 * time.Hour).Truncate(24 * time.Hour), End: end}
	var loaded []*rollup.Row
	if err := cfg.Rollups(6*time.Hour, func(rows []*rollup.Row) error {
		loaded = append(loaded, rows...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := make(map[[2]int64]int64) // (level, bucket) -> count
	var hours int
	for _, r := range loaded {
		if r.Level == rollup.Hour {
			hours++
		}
		for _, l := range []rollup.Level{rollup.Day, rollup.Week} {
			want[[2]int64{int64(l), rollup.LevelBucket(l, r.Bucket)}] += r.Count
		}
	}
	if hours == 0 {
		t.Fatal("no hour rows to load")
	}
	open := func(name string, now time.Time, deriveFirst bool) *Store {
		s := openClock(t, filepath.Join(t.TempDir(), name+".db"), now)
		t.Cleanup(func() { s.Close() })
		if deriveFirst {
			compact(t, s, now) // the watermark passes every hour loaded
		}
		// Copies: LoadRollups may keep the rows.
		rows := make([]*rollup.Row, len(loaded))
		for i, r := range loaded {
			c := &rollup.Row{Key: r.Key}
			c.Merge(r)
			c.FailedMinutes, c.DownMinutes = r.FailedMinutes, r.DownMinutes
			rows[i] = c
		}
		if err := s.LoadRollups(ctx, rows); err != nil {
			t.Fatal(err)
		}
		return s
	}
	stores := map[string]*Store{
		"derived after loading":  open("after", end.Add(24*time.Hour), false),
		"derived before loading": open("before", end.Add(24*time.Hour), true),
		"not derived":            open("not", end.Add(-24*time.Hour), false),
	}
	if s := stores["not derived"]; s.hoursWM > end.Add(-6*time.Hour).Unix() {
		t.Fatalf("watermark %v: the hours loaded are derived", time.Unix(s.hoursWM, 0).UTC())
	}
	q := results.ReportQuery{By: results.ByRegion, Since: end.Add(-9 * 24 * time.Hour), Until: end}
	var first []results.AvailabilityRow
	for name, s := range stores {
		got := make(map[[2]int64]int64)
		for _, l := range []rollup.Level{rollup.Day, rollup.Week} {
			ru, err := s.Rollups(ctx, results.RollupQuery{Resolution: l.Resolution()})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range ru {
				got[[2]int64{int64(l), r.Bucket.Unix()}] += r.Count
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: day and week counts\n got %v\nwant %v", name, got, want)
		}
		rep, err := s.Availability(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep) == 0 {
			t.Fatalf("%s: empty report", name)
		}
		if first == nil {
			first = rep
		} else if fmt.Sprint(rep) != fmt.Sprint(first) {
			t.Errorf("%s: report\n got %+v\nwant %+v", name, rep, first)
		}
	}
}
