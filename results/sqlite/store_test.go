package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/results/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) results.Store {
		s, err := Open(context.Background(), filepath.Join(t.TempDir(), "picket.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// The compaction backlog is counted as batches are stored and folded.
func TestPendingRollups(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "picket.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.compactor.Stop()
	storetest.RunBacklog(t, s)
}

// Reads are exact whatever compaction has done: with every batch still
// pending (no compaction) and with every batch compacted as it arrives.
func TestStoreCompaction(t *testing.T) {
	for _, tc := range []struct {
		name string
		wrap func(*Store) results.Store
	}{
		{"never compacted", func(s *Store) results.Store { s.compactor.Stop(); return s }},
		{"compacted every batch", func(s *Store) results.Store { s.compactor.Stop(); return compactEvery{s} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) results.Store {
				s, err := Open(context.Background(), filepath.Join(t.TempDir(), "picket.db"))
				if err != nil {
					t.Fatal(err)
				}
				return tc.wrap(s)
			})
		})
	}
}

// compactEvery compacts after every Ingest.
type compactEvery struct{ *Store }

func (c compactEvery) Ingest(ctx context.Context, rs []results.Result) (results.IngestOutcome, error) {
	out, err := c.Store.Ingest(ctx, rs)
	if err == nil {
		err = c.Compact(ctx)
	}
	return out, err
}

// Migrations run on an empty file, and opening it again applies nothing
// and keeps the data.
func TestMigrations(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "picket.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTeam(ctx, results.Team{Name: "pay", TokenHash: []byte("h")}); err != nil {
		t.Fatal(err)
	}
	var versions int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&versions); err != nil {
		t.Fatal(err)
	}
	if versions != len(migrations) {
		t.Fatalf("%d migrations recorded, want %d", versions, len(migrations))
	}
	s.Close()
	s, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n, err := migrate(ctx, s.w)
	if err != nil || n != 0 {
		t.Fatalf("re-run applied %d migrations (err %v), want 0", n, err)
	}
	teams, err := s.Teams(ctx)
	if err != nil || len(teams) != 1 {
		t.Fatalf("teams after reopen: %v %v", teams, err)
	}
}

// The writer's rollup cache never stands in for the database: rows
// written before a reopen, and rows evicted as time moved on, are merged
// with late results, not overwritten by them.
func TestRollupCacheAcrossReopenAndEviction(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "picket.db")
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	rec := func(id string, at time.Time) results.Result {
		return results.Result{ID: id, Endpoint: "api", Check: "api/http", Kind: "http", Vantage: "v1",
			Region: "eu", StartedAt: at, DurationMS: 10, OK: true}
	}
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Ingest(ctx, []results.Result{rec("a", t0)}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Seventy days of one result each push the first day out of the cache.
	for d := range 70 {
		if _, err := s.Ingest(ctx, []results.Result{rec(fmt.Sprint("d", d), t0.Add(time.Duration(d+1)*24*time.Hour))}); err != nil {
			t.Fatal(err)
		}
	}
	// Late: same minute as "a", written before the reopen and evicted since.
	if _, err := s.Ingest(ctx, []results.Result{rec("late", t0.Add(10*time.Second))}); err != nil {
		t.Fatal(err)
	}
	for _, res := range []results.Resolution{results.Minute, results.Hour, "day"} {
		ru, err := s.Rollups(ctx, results.RollupQuery{Resolution: res, Since: t0, Until: t0.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if len(ru) != 1 || ru[0].Count != 2 {
			t.Errorf("%s rollup of the first minute: %+v, want one with count 2", res, ru)
		}
	}
}

// Suffix packs (the start of a window), multi-week packs (its middle) and
// week packs (its end) give the reports that the day rollups give, exactly: a compacted store, which
// reads them, answers every window as a store that was never compacted,
// which adds up pending minute deltas. Late results land in weeks whose
// suffix packs are derived, and in the current week.
func TestSuffixPacksExact(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 10, 7, 3, 0, 0, 0, time.UTC) // a Wednesday
	const days = 40
	type vantage struct{ id, region string }
	vantages := []vantage{{"v1", "eu"}, {"v2", "eu"}, {"v3", "us"}}
	codes := []results.Code{results.CodeTimeout, results.CodeRefused, results.CodeReset}
	var first, late []results.Result
	n := 0
	for h := 0; h < days*24; h += 7 {
		for c := range 3 {
			for vi, v := range vantages {
				n++
				r := results.Result{ID: fmt.Sprintf("r%05d", n), Team: "pay", Endpoint: fmt.Sprint("e", c%2),
					Check: fmt.Sprint("c", c), Kind: "http", Vantage: v.id, Region: v.region,
					StartedAt:  start.Add(time.Duration(h)*time.Hour + time.Duration(vi)*time.Minute),
					DurationMS: float64(20 + (n*37)%400), OK: true}
				if n%7 == 0 || (h/24 == 9 && v.id == "v3") {
					r.OK = false
					r.Error = &results.Error{Layer: results.LayerConnect, Code: codes[n%3]}
				}
				// Every 11th arrives after the rest: most in weeks whose
				// suffix packs are derived by then.
				if n%11 == 0 {
					late = append(late, r)
				} else {
					first = append(first, r)
				}
			}
		}
	}
	open := func(compact bool) *Store {
		s, err := Open(ctx, filepath.Join(t.TempDir(), "picket.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		s.compactor.Stop()
		for _, batch := range [][]results.Result{first[:len(first)/2], first[len(first)/2:], late[:len(late)/2], late[len(late)/2:]} {
			if _, err := s.Ingest(ctx, batch); err != nil {
				t.Fatal(err)
			}
			if compact {
				if err := s.Compact(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
		return s
	}
	packed, pending := open(true), open(false)
	var suffixes int
	if err := packed.r.QueryRowContext(ctx, `SELECT count(*) FROM rollup_suffix`).Scan(&suffixes); err != nil {
		t.Fatal(err)
	}
	var multi int
	if err := packed.r.QueryRowContext(ctx, `SELECT count(*) FROM rollup_weeks`).Scan(&multi); err != nil {
		t.Fatal(err)
	}
	if suffixes == 0 || multi == 0 || packed.suffixWM != time.Date(2026, 11, 16, 0, 0, 0, 0, time.UTC).Unix() {
		t.Fatalf("%d suffix and %d multi-week packs, watermark %v: want some, and the Monday of the last week",
			suffixes, multi, time.Unix(packed.suffixWM, 0).UTC())
	}
	// Every weekday of the first week and a half, then every third day.
	for from := -2; from < days-8; from++ {
		if from >= 9 && from%3 != 0 {
			continue
		}
		for _, length := range []int{8, 19, 30} {
			if length == 19 && from%2 != 0 {
				continue
			}
			since := start.Add(time.Duration(from)*24*time.Hour + 5*time.Hour)
			groupings := []results.GroupBy{results.ByVantage}
			if length == 30 {
				groupings = append(groupings, results.ByRegion)
			}
			for _, by := range groupings {
				q := results.ReportQuery{By: by, Since: since, Until: since.Add(time.Duration(length) * 24 * time.Hour)}
				got, err := packed.Availability(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				want, err := pending.Availability(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				if len(want) == 0 || fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("%d days from %s by %s:\n got %+v\nwant %+v", length, since.Format(time.DateTime), by, got, want)
				}
			}
		}
	}
}

// The dashboard's questions about an endpoint's recent results are
// answered from an index, not by scanning every result of the window.
func TestEndpointQueriesUseAnIndex(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "picket.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	since := time.Now().Add(-15 * time.Minute)
	for _, tc := range []struct {
		name string
		q    results.ResultQuery
	}{
		{"newest of an endpoint", results.ResultQuery{Team: "pay", Endpoint: "api", Since: since, Limit: 5000}},
		{"its failures", results.ResultQuery{Team: "pay", Endpoint: "api", OnlyFailed: true, Since: since}},
		{"one of its checks", results.ResultQuery{Team: "pay", Endpoint: "api", Check: "api/http", Since: since}},
		{"its traceroutes", results.ResultQuery{Team: "pay", Endpoint: "api", Kind: "traceroute", Since: since}},
		{"in a region", results.ResultQuery{Team: "pay", Endpoint: "api", Region: "eu-west", Since: since}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			query, args := resultQuery(tc.q)
			rows, err := s.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+query, args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(plan, func(d string) bool { return strings.Contains(d, "USING INDEX results_endpoint (") }) {
				t.Errorf("plan %q does not use results_endpoint", plan)
			}
		})
	}
}
