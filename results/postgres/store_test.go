package postgres

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/picketnet/picket/internal/pgtest"
	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/results/storetest"
	"github.com/picketnet/picket/results/synth"
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

// replicas opens n stores on one throwaway database, as n collector
// replicas sharing it. They are closed when the test ends.
func replicas(t testing.TB, n int) []*Store {
	t.Helper()
	url := pg.Database(t)
	stores := make([]*Store, n)
	for i := range stores {
		s, err := Open(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores[i] = s
	}
	return stores
}

// awaitLock takes lock name in s once another session has let it go,
// and returns its unlock. The server frees a session's locks when its
// backend exits, a moment after the client has gone or been terminated.
func awaitLock(t testing.TB, s *Store, name string) (unlock func()) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		unlock, ok, err := s.TryLock(context.Background(), name)
		if err != nil {
			t.Fatalf("lock %q: %v", name, err)
		}
		if ok {
			return unlock
		}
		if time.Now().After(deadline) {
			t.Fatalf("lock %q never let go", name)
		}
	}
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) results.Store { return open(t) })
}

// The compaction backlog is counted as batches are stored and folded.
func TestPendingRollups(t *testing.T) {
	s := open(t)
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
	// Room on every page of hour rows for a new version of each (15).
	var options []string
	if err := s.pool.QueryRow(ctx, `SELECT reloptions FROM pg_class WHERE relname = 'rollup_hour'`).Scan(&options); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(options, "fillfactor=45") {
		t.Errorf("rollup_hour options %v, want fillfactor=45", options)
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
	stores := replicas(t, 2)
	a, b := stores[0], stores[1]
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
	awaitLock(t, b, "alerting")
}

// Retention drops whole daily partitions of raw results (their ids and
// their packs), and creates the coming days' partitions ahead.
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
	for _, p := range []partitioned{idsPartitions, packsPartitions} {
		if got := partitionNames(t, s, p.parent); len(got) != 6 || got[0] != p.prefix+"20261117" || got[5] != p.prefix+"20261122" {
			t.Fatalf("%s partitions after ingest: %v", p.parent, got)
		}
	}
	if err := s.ApplyRetention(ctx, results.Retention{Raw: 48 * time.Hour}, now); err != nil {
		t.Fatal(err)
	}
	// The cutoff is 11-19 12:00: 11-17 and 11-18 end before it and go;
	// 11-19 ends after it and stays whole.
	for _, p := range []partitioned{idsPartitions, packsPartitions} {
		if got := partitionNames(t, s, p.parent); len(got) != 5 || got[0] != p.prefix+"20261119" || got[4] != p.prefix+"20261123" {
			t.Fatalf("%s partitions after retention: %v", p.parent, got)
		}
	}
	left, err := s.Query(ctx, results.ResultQuery{})
	if err != nil || len(left) != 3 {
		t.Fatalf("results left: %d, %v", len(left), err)
	}
	// Ingest into a day whose partitions were dropped by "another replica".
	if _, err := s.pool.Exec(ctx, `DROP TABLE result_ids_p20261121; DROP TABLE result_packs_p20261121`); err != nil {
		t.Fatal(err)
	}
	out, err := s.Ingest(ctx, []results.Result{{ID: "again", Endpoint: "api", Check: "api/http", Kind: "http",
		Vantage: "v1", StartedAt: now, DurationMS: 5, OK: true}})
	if err != nil || len(out.Accepted) != 1 {
		t.Fatalf("ingest after a partition vanished: %+v %v", out, err)
	}
}

// partitionNames lists the partitions of the table parent, by name.
func partitionNames(t *testing.T, s *Store, parent string) []string {
	t.Helper()
	rows, err := s.pool.Query(context.Background(), `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = $1::regclass ORDER BY 1`, parent)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// The dashboard's questions about an endpoint's recent results are
// answered from the GIN index on the packs' endpoints, in the partitions
// of the window's days only, and the questions about every endpoint from
// the B-tree on started_max. The packs are those of 100 endpoints from 10
// vantages over 10 minutes of each of the last three days; the planner
// has their statistics. (On tables this small it prefers a scan, so the
// scan is ruled out: if no index served the query, the plan would still
// scan.)
func TestEndpointQueriesUseAnIndex(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	defer s.Close()
	s.compactor.Stop()
	now := time.Now().UTC()
	today := dayOf(now)
	for d := today - 2; d <= today; d++ {
		start := time.Unix(d*86400, 0).UTC().Add(now.Sub(now.Truncate(day)) / 2)
		cfg := synth.Config{Checks: 100, Vantages: 10, Seed: 1, Start: start, End: start.Add(10 * time.Minute)}
		if err := cfg.Results(1000, func(b []results.Result) error { _, err := s.Ingest(ctx, b); return err }); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.pool.Exec(ctx, `ANALYZE result_packs`); err != nil {
		t.Fatal(err)
	}
	// The partitions' indexes, by day.
	indexes := func(parent string) map[int64]string {
		rows, err := s.pool.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
			WHERE i.inhparent = $1::regclass`, parent)
		if err != nil {
			t.Fatal(err)
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		byDay := make(map[int64]string)
		for _, name := range names {
			d, err := time.Parse("20060102", strings.TrimPrefix(name, packsPartitions.prefix)[:8])
			if err != nil {
				t.Fatalf("index %s: %v", name, err)
			}
			byDay[dayOf(d)] = name
		}
		return byDay
	}
	gin, btree := indexes("result_packs_endpoints"), indexes("result_packs_started")
	if len(gin) != 4 || len(btree) != 4 {
		t.Fatalf("partition indexes: %v %v, want one per partition", gin, btree)
	}
	explain := func(query string, args []any) string {
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
		return strings.Join(plan, "\n")
	}
	api := results.ResultQuery{Team: "team-002", Endpoint: "ep-00042"}
	failed := api
	failed.OnlyFailed = true
	// The partitions a window reads: those of its days, and those only;
	// where it holds packs, the endpoint's are found by the GIN index.
	for _, tc := range []struct {
		name   string
		q      results.ResultQuery
		lo, hi time.Time
	}{
		{"the last day", api, now.Add(-24 * time.Hour), time.Time{}},
		{"the last three days", api, now.Add(-72 * time.Hour), time.Time{}},
		{"its failures of two days", failed, now.Add(-48 * time.Hour), time.Time{}},
		{"all before a day ago", api, time.Time{}, now.Add(-24 * time.Hour)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			query, args := endpointPacksQuery(tc.q, tc.lo, tc.hi)
			text := explain(query, args)
			lookups := 0
			for d, name := range gin {
				read := (tc.lo.IsZero() || d >= dayOf(tc.lo)) && (tc.hi.IsZero() || d <= dayOf(tc.hi))
				if got := strings.Contains(text, " on "+packsPartitions.name(d)+" "); got != read {
					t.Errorf("partition %s read: %v, want %v:\n%s", packsPartitions.name(d), got, read, text)
				}
				data := time.Unix(d*86400, 0).Add(now.Sub(now.Truncate(day)) / 2)
				if d > today || !data.Add(10*time.Minute).After(tc.lo) || !tc.hi.IsZero() && !data.Before(tc.hi) {
					continue // none of the window's packs there
				}
				lookups++
				if !strings.Contains(text, " on "+name+" ") {
					t.Errorf("index %s not used:\n%s", name, text)
				}
			}
			if n := strings.Count(text, "Index Cond: (endpoints @> "); n < lookups {
				t.Errorf("%d index scans look up the endpoint, want %d at least:\n%s", n, lookups, text)
			}
		})
	}
	// Every endpoint's newest results: the B-tree on started_max, newest
	// first, of the window's partitions only.
	var w where
	packWindow(&w, results.ResultQuery{Since: now.Add(-time.Hour)}, now.Add(-time.Hour), time.Time{})
	text := explain(`SELECT started_max, records FROM result_packs`+w.String()+` ORDER BY started_max DESC`, w.args)
	for d, name := range btree {
		want := d >= dayOf(now.Add(-time.Hour))
		if used := strings.Contains(text, " on "+name+" ") || strings.Contains(text, " using "+name+" on "); used != want {
			t.Errorf("index %s used: %v, want %v:\n%s", name, used, want, text)
		}
	}
}
