package postgres

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/picketnet/picket/results"
)

var timeout = &results.Error{Layer: results.LayerConnect, Code: results.CodeTimeout}

func result(id, vantage, region string, at time.Time, ms float64, fail *results.Error) results.Result {
	return results.Result{ID: id, Team: "pay", Endpoint: "api", Check: "api/http", Kind: "http",
		Vantage: vantage, Region: region, Provider: "p", ASN: 64500, Target: "https://api.example.com/",
		StartedAt: at, DurationMS: ms, OK: fail == nil, Error: fail}
}

type seriesWant struct {
	results, failures, failedRounds, downtime int64
}

// checkSeries checks the report by vantage over a month and the day and
// week rollups against want, by vantage.
func checkSeries(t *testing.T, s *Store, stage string, since, until time.Time, want map[string]seriesWant) {
	t.Helper()
	ctx := context.Background()
	rows, err := s.Availability(ctx, results.ReportQuery{By: results.ByVantage, Since: since, Until: until})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(want) {
		t.Fatalf("%s: %d report rows, want %d: %+v", stage, len(rows), len(want), rows)
	}
	for _, r := range rows {
		w := want[r.Group]
		got := seriesWant{r.Results, r.Failures, r.FailedRounds, r.DowntimeMinutes}
		if got != w {
			t.Errorf("%s: report for %s: %+v, want %+v", stage, r.Group, got, w)
		}
	}
	for _, res := range []results.Resolution{"day", "week"} {
		ru, err := s.Rollups(ctx, results.RollupQuery{Resolution: res})
		if err != nil {
			t.Fatal(err)
		}
		sums := make(map[string]seriesWant)
		for _, r := range ru {
			w := sums[r.Vantage]
			w.results += r.Count
			w.failures += r.Failures
			if r.Latency.Count() != uint64(r.Count) {
				t.Errorf("%s: %s rollup of %s at %v: %d latencies for %d results", stage, res, r.Vantage, r.Bucket, r.Latency.Count(), r.Count)
			}
			sums[r.Vantage] = w
		}
		for v, w := range want {
			if got := sums[v]; got.results != w.results || got.failures != w.failures {
				t.Errorf("%s: %s rollups of %s: %d results, %d failures; want %d, %d", stage, res, v,
					got.results, got.failures, w.results, w.failures)
			}
		}
	}
}

// Hours that have ended are derived into packs; results that arrive late
// for them are added to the packs by compaction, and reads are exact
// before that (pending), after it, and after rebuilding every pack from
// the hour rows (what migration 5 does to a store's existing rollups).
func TestLateResultsForDerivedHours(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	defer s.Close()
	s.compactor.Stop()
	base := time.Date(2026, 11, 10, 10, 0, 0, 0, time.UTC) // a Tuesday, long past
	var rs []results.Result
	for m := range 120 {
		at := base.Add(time.Duration(m)*time.Minute + 5*time.Second)
		var fail *results.Error
		if m == 30 || m == 75 {
			fail = timeout
		}
		rs = append(rs, result(fmt.Sprint("v1-", m), "v1", "eu", at, 100, fail),
			result(fmt.Sprint("v2-", m), "v2", "us", at, 200, nil))
	}
	if _, err := s.Ingest(ctx, rs); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	var through time.Time
	var spans []int64
	if err := s.pool.QueryRow(ctx, `SELECT hours_through, (SELECT array_agg(DISTINCT days ORDER BY days) FROM rollup_pack)
		FROM rollup_derived`).Scan(&through, &spans); err != nil {
		t.Fatal(err)
	}
	if through.Before(base.Add(2*time.Hour)) || !slices.Equal(spans, []int64{1, 2, 4, 7, 8, 16, 32}) {
		t.Fatalf("after compaction: derived through %v, pack spans %v", through, spans)
	}
	since, until := base.Add(-20*24*time.Hour), base.Add(2*24*time.Hour)
	checkSeries(t, s, "derived", since, until, map[string]seriesWant{
		"v1": {120, 2, 2, 2}, "v2": {120, 0, 0, 0}})

	late := []results.Result{
		// A success in 10:30, where v1's only result failed: the minute
		// stays failed but is no longer down.
		result("late-1", "v1", "eu", base.Add(30*time.Minute+30*time.Second), 100, nil),
		// A failure in a minute v2 saw succeed: failed, not down.
		result("late-2", "v2", "us", base.Add(60*time.Minute+30*time.Second), 200, timeout),
		// An hour and day with nothing yet, in the same week.
		result("late-3", "v2", "us", base.Add(-11*time.Hour), 200, nil),
	}
	if _, err := s.Ingest(ctx, late); err != nil {
		t.Fatal(err)
	}
	want := map[string]seriesWant{"v1": {121, 2, 2, 1}, "v2": {122, 1, 1, 0}}
	checkSeries(t, s, "pending", since, until, want)
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	checkSeries(t, s, "compacted", since, until, want)
	if _, err := s.pool.Exec(ctx, `DELETE FROM rollup_pack; UPDATE rollup_derived SET hours_through = NULL`); err != nil {
		t.Fatal(err)
	}
	checkSeries(t, s, "nothing derived", since, until, want)
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	checkSeries(t, s, "rebuilt", since, until, want)
}

// Migration 5 replaces the day and week tables by packs rebuilt from the
// hour rows a store already has.
func TestMigrationRebuildsPacks(t *testing.T) {
	ctx := context.Background()
	url := pg.Database(t)
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := migrateTo(ctx, pool, 4); err != nil {
		t.Fatal(err)
	}
	var h results.Histogram
	for i := range 60 {
		h.Observe(float64(100 + i))
	}
	hist, err := h.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	// Hours 3 and 4 of one day and hour 3 of the next, failing 0, 1 and 2
	// times.
	errs := []string{"", "connect/timeout=1", "connect/timeout=2"}
	for i, hour := range []time.Duration{3, 4, 27} {
		_, err := pool.Exec(ctx, `INSERT INTO rollup_hour (`+rollupColumns+`)
			VALUES ($1, 'api/http', 'v1', 'pay', 'api', 'http', 'eu', 'p', 64500, 60, $2, $2, $2, $3, $4)`,
			day.Add(hour*time.Hour), int64(i), errs[i], hist)
		if err != nil {
			t.Fatal(err)
		}
	}
	pool.Close()
	s, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	ru, err := s.Rollups(ctx, results.RollupQuery{Resolution: "day"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ru) != 2 || ru[0].Count != 120 || ru[0].Failures != 1 || ru[1].Count != 60 || ru[1].Failures != 2 ||
		ru[0].FailuresByCode["connect/timeout"] != 1 || ru[0].Latency.Count() != 120 {
		t.Fatalf("day rollups rebuilt from hours: %+v", ru)
	}
	rows, err := s.Availability(ctx, results.ReportQuery{Since: day.Add(-10 * 24 * time.Hour), Until: day.Add(5 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Results != 180 || rows[0].Failures != 3 || rows[0].FailedRounds != 3 {
		t.Fatalf("report from rebuilt packs: %+v", rows)
	}
}

func TestCoverDays(t *testing.T) {
	const d = 86400
	start := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC).Unix()
	for _, tc := range []struct {
		name      string
		a, b      int64
		spansFrom int64
		most      int
	}{
		{"one day", start, start + d, noWatermark, 1},
		{"30 days", start, start + 30*d, noWatermark, 10},
		{"31 days, later", start + 7*d, start + 38*d, noWatermark, 10},
		{"90 days", start + 3*d, start + 93*d, noWatermark, 12},
		{"retention cut", start, start + 30*d, start + 10*d, 16}, // 10 single days first
	} {
		t.Run(tc.name, func(t *testing.T) {
			spans := coverDays(tc.a, tc.b, tc.spansFrom)
			at := tc.a
			for _, sp := range spans {
				if sp.from != at || sp.to <= sp.from || (sp.days > 1 && (packBucket(sp.days, sp.from) != sp.from ||
					sp.to != sp.from+sp.days*d || sp.from < tc.spansFrom)) {
					t.Fatalf("span %+v at %d: not aligned or not contiguous: %+v", sp, at, spans)
				}
				at = sp.to
			}
			if at != tc.b {
				t.Fatalf("spans end at %d, want %d", at, tc.b)
			}
			packs := 0
			for _, sp := range spans {
				packs += int((sp.to - sp.from) / (sp.days * d))
			}
			if packs > tc.most {
				t.Errorf("%d packs, want at most %d: %+v", packs, tc.most, spans)
			}
		})
	}
}

// Compaction looks up only the minute rows its hour row says exist: a
// result for a minute stored by an earlier compaction is added to it, and
// when the hour row is gone (as after retention) the failed copy of the
// minute is retried looking every minute up. Both for the current hour
// and for one long derived.
func TestMinuteStoredByEarlierCompaction(t *testing.T) {
	for _, base := range []time.Time{time.Now().UTC().Truncate(time.Hour), time.Date(2026, 11, 10, 10, 0, 0, 0, time.UTC)} {
		t.Run(base.Format(time.RFC3339), func(t *testing.T) {
			ctx := context.Background()
			s := open(t)
			defer s.Close()
			s.compactor.Stop()
			step := func(id string, sec int, fail *results.Error) {
				t.Helper()
				if _, err := s.Ingest(ctx, []results.Result{result(id, "v1", "eu", base.Add(time.Duration(sec)*time.Second), 100, fail)}); err != nil {
					t.Fatal(err)
				}
				if err := s.Compact(ctx); err != nil {
					t.Fatal(err)
				}
			}
			minute := func(count, failures int64) {
				t.Helper()
				ru, err := s.Rollups(ctx, results.RollupQuery{Resolution: results.Minute})
				if err != nil {
					t.Fatal(err)
				}
				if len(ru) != 1 || ru[0].Count != count || ru[0].Failures != failures {
					t.Fatalf("minute rollups %+v, want one of %d results, %d failed", ru, count, failures)
				}
			}
			step("a", 5, nil)
			step("b", 35, timeout)
			minute(2, 1)
			var mask int64
			if err := s.pool.QueryRow(ctx, `SELECT minutes FROM rollup_hour`).Scan(&mask); err != nil || mask != 1 {
				t.Fatalf("hour row's minutes %b (%v), want 1", mask, err)
			}
			rows, err := s.Availability(ctx, results.ReportQuery{By: results.ByVantage, Since: base.Add(-time.Hour), Until: base.Add(time.Hour)})
			if err != nil || len(rows) != 1 || rows[0].FailedRounds != 1 || rows[0].DowntimeMinutes != 0 {
				t.Fatalf("report %+v (%v), want 1 failed round and no downtime", rows, err)
			}
			// As retention does: gone, and counted as a write of hour rows.
			if _, err := s.pool.Exec(ctx, `DELETE FROM rollup_hour; UPDATE rollup_derived SET hour_writes = hour_writes + 1`); err != nil {
				t.Fatal(err)
			}
			step("c", 50, timeout)
			minute(3, 2)
		})
	}
}

// Two replicas compact in turn: each keeps the hour rows and the newest
// minute rows it wrote, and must not trust them once the other has
// written rollup rows since.
func TestReplicasCompactInTurn(t *testing.T) {
	for _, tc := range []struct {
		name    string
		every   time.Duration // between results
		minutes int           // minute rows in the end
	}{
		{"a minute each", time.Minute, 6},
		{"all in one minute", time.Second, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			stores := replicas(t, 2)
			for _, s := range stores {
				s.compactor.Stop()
			}
			base := time.Now().UTC().Truncate(time.Hour)
			for i := range 6 {
				s := stores[i%2]
				at := base.Add(time.Duration(i)*tc.every + time.Second)
				if _, err := s.Ingest(ctx, []results.Result{result(fmt.Sprint("r", i), "v1", "eu", at, 100, nil)}); err != nil {
					t.Fatal(err)
				}
				if err := s.Compact(ctx); err != nil {
					t.Fatal(err)
				}
			}
			ru, err := stores[0].Rollups(ctx, results.RollupQuery{Resolution: results.Hour})
			if err != nil {
				t.Fatal(err)
			}
			if len(ru) != 1 || ru[0].Count != 6 || ru[0].Latency.Count() != 6 {
				t.Fatalf("hour rollups after two replicas compacted in turn: %+v", ru)
			}
			var rows, count int64
			if err := stores[0].pool.QueryRow(ctx, `SELECT count(*), sum(count) FROM rollup_minute`).Scan(&rows, &count); err != nil {
				t.Fatal(err)
			}
			if rows != int64(tc.minutes) || count != 6 {
				t.Errorf("%d minute rows of %d results, want %d of 6", rows, count, tc.minutes)
			}
		})
	}
}

// A window of a few days, aligned to the hour: whole days from packs,
// the hours not derived yet (the current one) and the edge hours from
// hour rows, and what is pending, each counted once.
func TestWindowAcrossDerivedAndCurrentHours(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	defer s.Close()
	s.compactor.Stop()
	now := time.Now().UTC()
	at := []time.Duration{-70 * time.Hour, -50 * time.Hour, -26 * time.Hour, -2 * time.Minute}
	var rs []results.Result
	for i, d := range at {
		rs = append(rs, result(fmt.Sprint("r", i), "v1", "eu", now.Add(d), 100, nil))
	}
	if _, err := s.Ingest(ctx, rs); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Ingest(ctx, []results.Result{result("pending", "v1", "eu", now.Add(-time.Minute), 100, timeout)}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		since           time.Duration
		results, failed int64
	}{
		{3 * 24 * time.Hour, 5, 1},
		{60 * time.Hour, 4, 1},
		{time.Hour, 2, 1},
	} {
		rows, err := s.Availability(ctx, results.ReportQuery{By: results.ByVantage, Since: now.Add(-tc.since), Until: now})
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 1 || rows[0].Results != tc.results || rows[0].Failures != tc.failed {
			t.Errorf("since %v: %+v, want %d results, %d failed", tc.since, rows, tc.results, tc.failed)
		}
	}
	var total int64
	ru, err := s.Rollups(ctx, results.RollupQuery{Resolution: "day", Since: now.Add(-4 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range ru {
		total += r.Count
	}
	if total != 5 {
		t.Errorf("day rollups count %d results, want 5: %+v", total, ru)
	}
}

// Compaction updates the rows it knows are stored. When one has gone
// behind its back (deleted without counting as a write of hour rows, so
// that the compacting process still trusts its copy), the update misses
// it, and compaction starts again looking every row up: what it folds
// is stored, none of it lost.
func TestCompactionUpdatesARowThatWentAway(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	defer s.Close()
	s.compactor.Stop()
	base := time.Now().UTC().Truncate(time.Hour)
	for i, sec := range []int{5, 15} {
		if _, err := s.Ingest(ctx, []results.Result{result(fmt.Sprint("r", i), "v1", "eu", base.Add(time.Duration(sec)*time.Second), 100, nil)}); err != nil {
			t.Fatal(err)
		}
		if err := s.Compact(ctx); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if _, err := s.pool.Exec(ctx, `DELETE FROM rollup_hour`); err != nil {
				t.Fatal(err)
			}
		}
	}
	var hourCount, minuteCount int64
	if err := s.pool.QueryRow(ctx, `SELECT (SELECT count FROM rollup_hour), (SELECT count FROM rollup_minute)`).Scan(&hourCount, &minuteCount); err != nil {
		t.Fatal(err)
	}
	// The hour row holds what came after it was deleted; the minute row,
	// never deleted, both results.
	if hourCount != 1 || minuteCount != 2 {
		t.Errorf("hour row counts %d, minute row %d; want 1 and 2", hourCount, minuteCount)
	}
}

// While one replica's compaction loop rests, it keeps the compaction
// lock: another replica does not compact meanwhile, but this process's
// own callers (retention, LoadRollups) do, under the lock the loop holds.
// Once the rest is over, the other replica takes its turn; and a lock
// lost with its session during the rest is taken again, not assumed.
func TestReplicaKeepsItsTurnWhileResting(t *testing.T) {
	ctx := context.Background()
	stores := replicas(t, 2)
	a, b := stores[0], stores[1]
	for _, s := range stores {
		s.compactor.Stop()
	}
	base := time.Now().UTC().Truncate(time.Hour)
	n := 0
	ingestOne := func() {
		t.Helper()
		n++
		if _, err := b.Ingest(ctx, []results.Result{result(fmt.Sprint("r", n), "v1", "eu", base.Add(time.Duration(n)*time.Second), 100, nil)}); err != nil {
			t.Fatal(err)
		}
	}
	pending := func(want int64, after string) {
		t.Helper()
		got, err := a.PendingRollups(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("after %s: %d batches pending, want %d", after, got, want)
		}
	}
	compact := func(s *Store) {
		t.Helper()
		if err := s.Compact(ctx); err != nil {
			t.Fatal(err)
		}
	}

	ingestOne()
	release, err := a.compactInTurn(ctx) // a's loop compacts, then rests
	if err != nil {
		t.Fatal(err)
	}
	pending(0, "a's loop compacted")
	ingestOne()
	compact(b)
	pending(1, "b tried to compact while a rests")
	compact(a)
	pending(0, "a compacted in the same process while its loop rests")
	ingestOne()
	release() // the rest is over
	compact(b)
	pending(0, "b compacted after a's rest")

	// a's lock session is lost while its loop rests: Compact in a takes
	// the lock anew instead of compacting under one it no longer holds.
	ingestOne()
	if release, err = a.compactInTurn(ctx); err != nil {
		t.Fatal(err)
	}
	a.lmu.Lock()
	a.lconn.Close(ctx)
	a.lmu.Unlock()
	unlock := awaitLock(t, b, compactionLock)
	ingestOne()
	compact(a)
	pending(1, "a tried to compact while b holds the lock")
	unlock()
	compact(a)
	pending(0, "a compacted once b let go")
	release()
}
