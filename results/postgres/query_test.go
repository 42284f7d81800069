package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/picketnet/picket/results"
)

// Query reads packs of many endpoints and batches, newest first, and
// stops early: what it returns is what sorting every stored result would
// give, for every filter and limit, across days, with results of one
// instant in several packs, and late ones in packs of their own.
func TestQueryFromPacks(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	defer s.Close()
	s.compactor.Stop()
	now := time.Now().UTC().Truncate(time.Second)
	rng := rand.New(rand.NewPCG(1, 2))
	var all []results.Result
	// 40 batches of 60 results of 20 endpoints, over the last 50 hours;
	// every fifth result starts at a shared instant.
	for b := range 40 {
		var batch []results.Result
		for i := range 60 {
			at := now.Add(-time.Duration(rng.Int64N(int64(50 * time.Hour))))
			if i%5 == 0 {
				at = now.Add(-time.Duration(b%4) * time.Hour)
			}
			endpoint := fmt.Sprintf("ep-%02d", rng.IntN(20))
			r := legacyRecord(fmt.Sprintf("r-%02d-%02d", b, i), endpoint, at.Add(time.Duration(rng.IntN(1000))*time.Nanosecond), rng.IntN(4) != 0)
			r.Team = []string{"pay", "shop"}[rng.IntN(2)]
			r.Region = []string{"eu", "us", "ap"}[rng.IntN(3)]
			r.Kind = []string{"http", "tcp"}[rng.IntN(2)]
			r.Check = endpoint + "/" + r.Kind
			batch = append(batch, r)
		}
		if out, err := s.Ingest(ctx, batch); err != nil || len(out.Accepted) != len(batch) {
			t.Fatalf("batch %d: %+v %v", b, out, err)
		}
		all = append(all, batch...)
	}
	for i := range all {
		all[i].StartedAt = all[i].StartedAt.Truncate(time.Microsecond)
	}
	for _, q := range []results.ResultQuery{
		{},
		{Limit: 7},
		{Limit: 100000},
		{Endpoint: "ep-03"},
		{Endpoint: "ep-03", Limit: 5},
		{Endpoint: "ep-07", OnlyFailed: true, Limit: 10},
		{Endpoint: "ep-11", Since: now.Add(-3 * time.Hour)},
		{Endpoint: "ep-11", Since: now.Add(-30 * time.Hour), Until: now.Add(-2 * time.Hour), Limit: 20},
		{Endpoint: "ep-12", Until: now.Add(-26 * time.Hour)},
		{Endpoint: "ep-05", Since: now.Add(-100 * time.Hour), Limit: 40}, // past the windows that double
		{Endpoint: "ep-19", Check: "ep-19/tcp", Region: "us"},
		{Endpoint: "nowhere"},
		{Team: "shop", Kind: "http", Limit: 30},
		{OnlyFailed: true, Since: now.Add(-10 * time.Hour), Limit: 50},
		{Vantage: "v2", Until: now.Add(-1 * time.Hour), Limit: 15},
		{Since: now.Add(-time.Hour), Until: now.Add(-time.Hour + time.Microsecond)}, // one instant
	} {
		got, err := s.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if want := expected(all, q); !slices.Equal(ids(got), want) {
			t.Errorf("%+v:\n got %d %v\nwant %d %v", q, len(got), ids(got), len(want), want)
		}
	}
}

// Packs hold the records of one day and at most packEndpoints endpoints
// each, every record once.
func TestMakePacks(t *testing.T) {
	day1 := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	batch := func(endpoints, days int) []results.Result {
		var rs []results.Result
		for d := range days {
			for e := endpoints - 1; e >= 0; e-- {
				for v := range 2 {
					rs = append(rs, results.Result{ID: fmt.Sprint(d, e, v), Endpoint: fmt.Sprintf("e%03d", e),
						StartedAt: day1.Add(time.Duration(d)*day + time.Duration(e)*time.Minute)})
				}
			}
		}
		return rs
	}
	for _, tc := range []struct {
		name      string
		rs        []results.Result
		endpoints []int // of each pack
	}{
		{"one endpoint", batch(1, 1), []int{1}},
		{"eight", batch(8, 1), []int{8}},
		{"nine", batch(9, 1), []int{8, 1}},
		{"a thousand", batch(1000, 1), slices.Repeat([]int{8}, 125)},
		{"two days", batch(3, 2), []int{3, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			packs := makePacks(tc.rs)
			var counts []int
			seen := map[string]bool{}
			for _, p := range packs {
				counts = append(counts, len(p.endpoints))
				if !slices.IsSorted(p.endpoints) || len(slices.Compact(slices.Clone(p.endpoints))) != len(p.endpoints) {
					t.Errorf("endpoints %v not sorted and distinct", p.endpoints)
				}
				first, last := p.span()
				if dayOf(first) != dayOf(last) {
					t.Errorf("a pack from %v to %v", first, last)
				}
				for _, r := range p.recs {
					if !slices.Contains(p.endpoints, r.Endpoint) || seen[r.ID] {
						t.Errorf("record %s of %s in pack of %v (seen before: %v)", r.ID, r.Endpoint, p.endpoints, seen[r.ID])
					}
					seen[r.ID] = true
				}
			}
			if !slices.Equal(counts, tc.endpoints) || len(seen) != len(tc.rs) {
				t.Errorf("packs of %v endpoints holding %d records, want %v and %d", counts, len(seen), tc.endpoints, len(tc.rs))
			}
		})
	}
}

// Every day's partition of packs keeps the storage the migration chose
// for the parent, which a partition created later takes only if the
// store asks for it: records uncompressed, in the row up to a page, and a
// short GIN pending list.
func TestPackPartitionStorage(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	defer s.Close()
	d := dayOf(time.Now())
	if err := s.createPartitions(ctx, []int64{d}); err != nil {
		t.Fatal(err)
	}
	part := packsPartitions.name(d)
	var storage string
	var options, indexOptions []string
	err := s.pool.QueryRow(ctx, `SELECT a.attstorage::text, c.reloptions,
		(SELECT i.reloptions FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_am am ON am.oid = i.relam
		 WHERE x.indrelid = c.oid AND am.amname = 'gin')
		FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'records'
		WHERE c.oid = $1::regclass`, part).Scan(&storage, &options, &indexOptions)
	if err != nil {
		t.Fatal(err)
	}
	if storage != "e" || !slices.Equal(options, []string{"toast_tuple_target=8160"}) || !slices.Equal(indexOptions, []string{"gin_pending_list_limit=256"}) {
		t.Errorf("%s: records storage %q, options %v, GIN index options %v; want e, toast_tuple_target=8160, gin_pending_list_limit=256",
			part, storage, options, indexOptions)
	}
}
