package postgres

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/picketnet/picket/internal/pgtest"
	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/results/storetest"
)

var pg = pgtest.New()

func TestMain(m *testing.M) { os.Exit(pg.Main(m)) }

func open(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), pg.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) results.Store { return open(t) })
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
			storetest.Run(t, func(t *testing.T) results.Store { return tc.wrap(open(t)) })
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

// Migrations run on an empty database, and opening it again applies
// nothing and keeps the data.
func TestMigrations(t *testing.T) {
	ctx := context.Background()
	url := pg.Database(t)
	s, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTeam(ctx, results.Team{Name: "pay", TokenHash: []byte("h")}); err != nil {
		t.Fatal(err)
	}
	var versions int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&versions); err != nil {
		t.Fatal(err)
	}
	if versions != len(migrations) {
		t.Fatalf("%d migrations recorded, want %d", versions, len(migrations))
	}
	s.Close()
	s, err = Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n, err := migrate(ctx, s.pool)
	if err != nil || n != 0 {
		t.Fatalf("re-run applied %d migrations (err %v), want 0", n, err)
	}
	teams, err := s.Teams(ctx)
	if err != nil || len(teams) != 1 {
		t.Fatalf("teams after reopen: %v %v", teams, err)
	}
}

// Two replicas on one database: a lock one holds is refused to the
// other, and released when the holder's process goes away (here: its
// store, and with it the lock session, is closed without unlocking).
func TestLockAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	url := pg.Database(t)
	a, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, ok, err := a.TryLock(ctx, "alerting"); err != nil || !ok {
		t.Fatalf("a: %v %v", ok, err)
	}
	if _, ok, err := b.TryLock(ctx, "alerting"); err != nil || ok {
		t.Fatalf("b took the lock a holds: %v %v", ok, err)
	}
	unlock, ok, err := b.TryLock(ctx, "retention")
	if err != nil || !ok {
		t.Fatalf("b, another name: %v %v", ok, err)
	}
	unlock()
	a.Close()
	// The server releases the lock when the session's backend exits,
	// shortly after the connection closes.
	for i := 0; ; i++ {
		_, ok, err := b.TryLock(ctx, "alerting")
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if i == 100 {
			t.Fatal("b never got the lock after a went away")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Retention drops whole daily partitions of raw results, and creates the
// coming days' partitions ahead.
func TestRetentionDropsPartitions(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	defer s.Close()
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	var rs []results.Result
	for d := range 5 {
		rs = append(rs, results.Result{ID: fmt.Sprint("r", d), Endpoint: "api", Check: "api/http", Kind: "http",
			Vantage: "v1", StartedAt: now.Add(-time.Duration(d) * 24 * time.Hour), DurationMS: 5, OK: true})
	}
	if _, err := s.Ingest(ctx, rs); err != nil {
		t.Fatal(err)
	}
	partitions := func() []string {
		rows, err := s.pool.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
			JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'results' ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return names
	}
	if got := partitions(); len(got) != 6 || got[0] != "results_p20261117" || got[5] != "results_p20261122" {
		t.Fatalf("partitions after ingest: %v", got)
	}
	if err := s.ApplyRetention(ctx, results.Retention{Raw: 48 * time.Hour}, now); err != nil {
		t.Fatal(err)
	}
	// The cutoff is 11-19 12:00: 11-17 and 11-18 end before it and go;
	// 11-19 ends after it and stays whole.
	if got := partitions(); len(got) != 5 || got[0] != "results_p20261119" || got[4] != "results_p20261123" {
		t.Fatalf("partitions after retention: %v", got)
	}
	left, err := s.Query(ctx, results.ResultQuery{})
	if err != nil || len(left) != 3 {
		t.Fatalf("results left: %d, %v", len(left), err)
	}
	// Ingest into a day whose partition was dropped by "another replica".
	if _, err := s.pool.Exec(ctx, `DROP TABLE results_p20261121`); err != nil {
		t.Fatal(err)
	}
	out, err := s.Ingest(ctx, []results.Result{{ID: "again", Endpoint: "api", Check: "api/http", Kind: "http",
		Vantage: "v1", StartedAt: now, DurationMS: 5, OK: true}})
	if err != nil || len(out.Accepted) != 1 {
		t.Fatalf("ingest after a partition vanished: %+v %v", out, err)
	}
}

// The dashboard's questions about an endpoint's recent results can be
// answered from an index on every partition, not only by scanning every
// result of the window. (On a table this small the planner prefers a scan,
// so the scan is ruled out: if no index served the query, the plan would
// still scan.)
func TestEndpointQueriesUseAnIndex(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	defer s.Close()
	now := time.Now()
	if err := s.createPartitions(ctx, []int64{dayOf(now) - 1, dayOf(now)}); err != nil {
		t.Fatal(err)
	}
	rows, err := s.pool.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'results_endpoint'::regclass`)
	if err != nil {
		t.Fatal(err)
	}
	indexes, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(indexes) < 2 {
		t.Fatalf("partition indexes of results_endpoint: %v (%v), want one per partition", indexes, err)
	}
	since := now.Add(-26 * time.Hour) // across two partitions
	for _, tc := range []struct {
		name string
		q    results.ResultQuery
	}{
		{"newest of an endpoint", results.ResultQuery{Team: "pay", Endpoint: "api", Since: since, Limit: 5000}},
		{"its failures", results.ResultQuery{Team: "pay", Endpoint: "api", OnlyFailed: true, Since: since}},
		{"one of its checks", results.ResultQuery{Team: "pay", Endpoint: "api", Check: "api/http", Since: since}},
		{"its traceroutes", results.ResultQuery{Team: "pay", Endpoint: "api", Kind: "traceroute", Since: since}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			query, args := resultQuery(tc.q)
			var plan []string
			err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
					return err
				}
				rows, err := tx.Query(ctx, "EXPLAIN "+query, args...)
				if err != nil {
					return err
				}
				plan, err = pgx.CollectRows(rows, pgx.RowTo[string])
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			text := strings.Join(plan, "\n")
			for _, name := range indexes {
				if !strings.Contains(text, " using "+name+" on ") {
					t.Errorf("plan does not use %s:\n%s", name, text)
				}
			}
			if n := strings.Count(text, "Index Cond: ((endpoint = 'api'::text) AND (started_at >= "); n != len(indexes) {
				t.Errorf("%d index scans look up the endpoint, want %d:\n%s", n, len(indexes), text)
			}
		})
	}
}
