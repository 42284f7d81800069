package postgres

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/picketnet/picket/results"
)

// A database of before packs (migration 13), with raw results in
// results, upgraded by Open: the old results stay readable, mixed with
// the new ones in every query's order, and a result stored before the
// upgrade and sent again is a duplicate. Retention drops the old
// partitions as it did.
func TestUpgradeToPacks(t *testing.T) {
	ctx := context.Background()
	url := pg.Database(t)
	day1 := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	old := legacyRecords(day1)
	fillLegacy(t, url, old, []int64{dayOf(day1), dayOf(day1) + 1, dayOf(day1) + 2})

	s, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if want := day1.Add(2 * day); !s.legacyEnd().Equal(want) {
		t.Fatalf("legacy results end %v, want %v (the end of the newest day with rows)", s.legacyEnd(), want)
	}
	// New results: of the day after, and late ones of the legacy days.
	fresh := []results.Result{
		legacyRecord("new-1", "api", day1.Add(2*day+time.Hour), true),
		legacyRecord("new-2", "web", day1.Add(2*day+2*time.Hour), false),
		legacyRecord("late-1", "api", day1.Add(day+90*time.Minute), false),
	}
	if out, err := s.Ingest(ctx, fresh); err != nil || len(out.Accepted) != 3 {
		t.Fatalf("ingest of new results: %+v %v", out, err)
	}
	all := append(slices.Clone(old), fresh...)
	for _, q := range []results.ResultQuery{
		{},
		{Endpoint: "api"},
		{Endpoint: "api", Limit: 3},
		{Endpoint: "web", OnlyFailed: true},
		{Team: "pay", Since: day1.Add(day + time.Hour), Until: day1.Add(2*day + 90*time.Minute)},
		{Since: day1.Add(2 * day)}, // after the legacy rows
		{Vantage: "v1", Limit: 4},
	} {
		got, err := s.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if want := expected(all, q); !slices.Equal(ids(got), want) {
			t.Errorf("%+v:\n got %v\nwant %v", q, ids(got), want)
		}
	}
	// Sent again: the old ones are duplicates, alone or with new ones.
	for _, tc := range []struct {
		name      string
		batch     []results.Result
		accepted  []string
		duplicate []string
	}{
		{"an old result", old[3:4], nil, []string{old[3].ID}},
		{"old and new", []results.Result{old[0], legacyRecord("new-3", "api", day1.Add(time.Hour), true), fresh[0], old[5]},
			[]string{"new-3"}, []string{old[0].ID, fresh[0].ID, old[5].ID}},
		{"an old id at another time", []results.Result{legacyRecord(old[1].ID, "api", old[1].StartedAt.Add(time.Second), true)},
			[]string{old[1].ID}, nil},
	} {
		out, err := s.Ingest(ctx, tc.batch)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !slices.Equal(out.Accepted, tc.accepted) || !slices.Equal(out.Duplicate, tc.duplicate) {
			t.Errorf("%s: accepted %v duplicate %v, want %v and %v", tc.name, out.Accepted, out.Duplicate, tc.accepted, tc.duplicate)
		}
	}
	// Retention drops the legacy partitions of the days it expires.
	if err := s.ApplyRetention(ctx, results.Retention{Raw: 24 * time.Hour}, day1.Add(3*day)); err != nil {
		t.Fatal(err)
	}
	if got := partitionNames(t, s, "results_legacy"); len(got) != 1 || got[0] != legacyPartition.name(dayOf(day1)+2) {
		t.Errorf("legacy partitions after retention: %v, want only the empty one of the third day", got)
	}
	if !s.legacyEnd().IsZero() {
		t.Errorf("legacy results end %v after retention dropped them all, want none", s.legacyEnd())
	}
	got, err := s.Query(ctx, results.ResultQuery{})
	if err != nil || !slices.Equal(ids(got), []string{"new-2", "new-1"}) {
		t.Errorf("results after retention: %v %v, want new-2 and new-1", ids(got), err)
	}
}

// Live results stored just before the upgrade: the legacy rows end, as
// far as ingest knows, an hour after the migration, not at the end of
// their day, so that live results look nothing up after that hour.
func TestLegacyEndAnHourAfterTheUpgrade(t *testing.T) {
	ctx := context.Background()
	url := pg.Database(t)
	now := time.Now().UTC()
	old := legacyRecord("just-before", "api", now.Add(-time.Minute), true)
	fillLegacy(t, url, []results.Result{old}, []int64{dayOf(now), dayOf(now) + 1})
	before := time.Now()
	s, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dayEnd := now.Truncate(day).Add(day)
	lo, hi := before.Add(time.Hour), time.Now().Add(time.Hour)
	if end := s.legacyEnd(); end.After(dayEnd) || end.Before(dayEnd) && (end.Before(lo.Truncate(time.Second)) || end.After(hi)) {
		t.Errorf("legacy results end %v, want the sooner of %v and about %v", end, dayEnd, lo)
	}
	if out, err := s.Ingest(ctx, []results.Result{old}); err != nil || len(out.Duplicate) != 1 {
		t.Errorf("the legacy result sent again: %+v %v, want a duplicate", out, err)
	}
}

// A database created with packs has no legacy table.
func TestNoLegacyTableWhenNew(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	defer s.Close()
	var results, legacy *string
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass('results')::text, to_regclass('results_legacy')::text`).Scan(&results, &legacy); err != nil {
		t.Fatal(err)
	}
	if results != nil || legacy != nil {
		t.Errorf("tables results %v, results_legacy %v; want neither", results, legacy)
	}
	if !s.legacyEnd().IsZero() {
		t.Errorf("legacy results end %v, want none", s.legacyEnd())
	}
}

// legacyRecords are the results of a store of before packs: two
// endpoints, over the first two days from day1, every third one failed.
func legacyRecords(day1 time.Time) []results.Result {
	var rs []results.Result
	for i := range 12 {
		endpoint := []string{"api", "web"}[i%2]
		at := day1.Add(time.Duration(i) * 4 * time.Hour).Add(time.Duration(i) * time.Microsecond)
		rs = append(rs, legacyRecord(fmt.Sprintf("old-%02d", i), endpoint, at, i%3 != 0))
	}
	return rs
}

func legacyRecord(id, endpoint string, at time.Time, ok bool) results.Result {
	r := results.Result{ID: id, Team: "pay", Endpoint: endpoint, Check: endpoint + "/http", Kind: "http",
		Vantage: []string{"v1", "v2"}[len(id)%2], Region: "eu", Target: "https://" + endpoint + ".example/",
		StartedAt: at, DurationMS: 12.5, OK: ok, Details: []byte(`{"status":200}`)}
	if !ok {
		r.Error = &results.Error{Layer: results.LayerHTTP, Code: results.CodeStatus, Message: "503"}
	}
	return r
}

// fillLegacy builds the database at url up to migration 13 and stores rs
// in results, with partitions for days, as the store did then.
func fillLegacy(t *testing.T, url string, rs []results.Result, days []int64) {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := migrateTo(ctx, pool, 13); err != nil {
		t.Fatal(err)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for _, d := range days {
			if err := (partitioned{parent: "results", prefix: "results_p"}).create(ctx, tx, d); err != nil {
				return err
			}
		}
		order := make([]int, len(rs))
		for i := range order {
			order[i] = i
		}
		return copyResults(ctx, tx, "results", rs, order)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// expected is what Query(q) returns from rs: the ids of the newest
// records q selects, newest first.
func expected(rs []results.Result, q results.ResultQuery) []string {
	var sel []results.Result
	for i := range rs {
		if matches(&q, &rs[i]) {
			sel = append(sel, rs[i])
		}
	}
	slices.SortFunc(sel, func(a, b results.Result) int {
		if newer(&a, &b) {
			return -1
		}
		return 1
	})
	return ids(sel[:min(len(sel), results.RowLimit(q.Limit))])
}

func ids(rs []results.Result) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

var copyColumns = []string{"id", "started_at", "team", "endpoint", "check_id", "kind", "vantage",
	"region", "provider", "asn", "target", "addr", "duration_ms", "ok", "err_layer", "err_code",
	"err_message", "dns_ms", "connect_ms", "tls_ms", "ttfb_ms", "transfer_ms", "details"}

// copyResults copies rs, in the order of order, into table (results or
// its staging table); the columns are copyColumns.
func copyResults(ctx context.Context, tx pgx.Tx, table string, rs []results.Result, order []int) error {
	// Sized exactly, so that a batch of thousands is one allocation and
	// one copy, not a dozen doublings.
	size := 0
	for i := range rs {
		r := &rs[i]
		layer, code, msg := r.ErrorColumns()
		size += 2 + len(copyColumns)*4 + 8 + 8 + 8 + 8 + 1 + 5*8 +
			len(r.ID) + len(r.Team) + len(r.Endpoint) + len(r.Check) + len(r.Kind) + len(r.Vantage) +
			len(r.Region) + len(r.Provider) + len(r.Target) + len(r.Addr) + len(layer) + len(code) + len(msg) +
			len(r.Details)
	}
	c := newCopyBuf(size)
	for _, i := range order {
		r := &rs[i]
		layer, code, msg := r.ErrorColumns()
		var details []byte
		if len(r.Details) > 0 {
			details = r.Details
		}
		c.row(len(copyColumns))
		c.text(r.ID)
		c.timestamptz(r.StartedAt)
		for _, s := range []string{r.Team, r.Endpoint, r.Check, r.Kind, r.Vantage, r.Region, r.Provider} {
			c.text(s)
		}
		c.int8(int64(r.ASN))
		c.text(r.Target)
		c.text(r.Addr)
		c.float8(r.DurationMS)
		c.bool(r.OK)
		c.text(layer)
		c.text(code)
		c.text(msg)
		for _, v := range []float64{r.Phases.DNSMS, r.Phases.ConnectMS, r.Phases.TLSMS, r.Phases.TTFBMS, r.Phases.TransferMS} {
			c.float8(v)
		}
		c.bytea(details)
	}
	return c.send(ctx, tx, table, copyColumns)
}
