package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
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
