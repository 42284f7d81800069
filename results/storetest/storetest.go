// Package storetest is the behaviour every results.Store must have, as one
// suite that results/sqlite and results/postgres both run against a real
// database: idempotent and durable ingest (also under concurrent duplicate
// batches), queries, rollups kept up to date by late results, the
// availability report against hand-computed numbers (where a certificate
// about to expire is not downtime), percentile accuracy,
// retention, locking and the registry, with token rotation and vantage
// removal.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/picketnet/picket/results"
)

// Run runs the suite. open returns a new, empty store for each subtest;
// the suite closes it.
func Run(t *testing.T, open func(t *testing.T) results.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s results.Store)
	}{
		{"IngestIdempotent", testIngestIdempotent},
		{"ConcurrentDuplicateBatches", testConcurrentDuplicates},
		{"ConcurrentVantages", testConcurrentVantages},
		{"QueryRoundTripAndFilters", testQuery},
		{"ResultFeed", testFeed},
		{"Rollups", testRollups},
		{"AvailabilityHandComputed", testAvailability},
		{"PercentilesFromRollups", testPercentiles},
		{"AvailabilityOverWeeks", testLongWindow},
		{"CertExpiringIsUp", testCertExpiringIsUp},
		{"Retention", testRetention},
		{"Locker", testLocker},
		{"Teams", testTeams},
		{"Vantages", testVantages},
		{"RotateTokens", testRotateTokens},
		{"RemoveVantage", testRemoveVantage},
		{"RemoveTeam", testRemoveTeam},
		{"RemoveTeamRace", testRemoveTeamRace},
		{"Endpoints", testEndpoints},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

// t0 is the start of the fixed data set, a round hour.
var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

type vantage struct {
	id, region, provider string
	asn                  uint32
}

var (
	v1 = vantage{"v1", "eu", "hetzner", 24940}
	v2 = vantage{"v2", "eu", "aws", 16509}
	v3 = vantage{"v3", "us", "aws", 16509}
)

func rec(id, team, endpoint, check string, v vantage, at time.Time, ms float64, fail *results.Error) results.Result {
	r := results.Result{
		ID: id, Team: team, Endpoint: endpoint, Check: check, Kind: "http",
		Vantage: v.id, Region: v.region, Provider: v.provider, ASN: v.asn,
		Target: "https://" + endpoint + ".example.com/", Addr: "192.0.2.10",
		StartedAt: at, DurationMS: ms, OK: fail == nil, Error: fail,
	}
	return r
}

func ingest(t *testing.T, s results.Store, rs []results.Result) results.IngestOutcome {
	t.Helper()
	for i := range rs {
		if err := rs[i].Validate(); err != nil {
			t.Fatalf("suite bug: record %s invalid: %v", rs[i].ID, err)
		}
	}
	out, err := s.Ingest(context.Background(), rs)
	if err != nil {
		t.Fatalf("ingest: %v", err)
	}
	return out
}

func simpleBatch(prefix string, n int, at time.Time) []results.Result {
	rs := make([]results.Result, n)
	for i := range rs {
		var fail *results.Error
		if i%5 == 0 {
			fail = &results.Error{Layer: results.LayerTLS, Code: results.CodeCertExpired, Message: "expired"}
		}
		rs[i] = rec(fmt.Sprintf("%s-%04d", prefix, i), "pay", "api", "api/http", v1,
			at.Add(time.Duration(i)*time.Second), float64(10+i%50), fail)
	}
	return rs
}

func testIngestIdempotent(t *testing.T, s results.Store) {
	ctx := context.Background()
	batch := simpleBatch("a", 100, t0)
	out := ingest(t, s, batch)
	if len(out.Accepted) != 100 || len(out.Duplicate) != 0 {
		t.Fatalf("first ingest: %d accepted, %d duplicate; want 100, 0", len(out.Accepted), len(out.Duplicate))
	}
	// The same batch again, plus new records mixed in.
	again := append(simpleBatch("a", 100, t0), simpleBatch("b", 10, t0.Add(time.Hour))...)
	out = ingest(t, s, again)
	if len(out.Accepted) != 10 || len(out.Duplicate) != 100 {
		t.Fatalf("second ingest: %d accepted, %d duplicate; want 10, 100", len(out.Accepted), len(out.Duplicate))
	}
	for _, id := range out.Accepted {
		if id[0] != 'b' {
			t.Fatalf("re-sent record %s accepted as new", id)
		}
	}
	got, err := s.Query(ctx, results.ResultQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 110 {
		t.Fatalf("%d records stored, want 110", len(got))
	}
	ru, err := s.Rollups(ctx, results.RollupQuery{Resolution: results.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var count, failures int64
	for _, r := range ru {
		count += r.Count
		failures += r.Failures
	}
	if count != 110 || failures != 22 {
		t.Fatalf("hour rollups count %d failures %d, want 110 and 22 (duplicates must not count)", count, failures)
	}
}

func testConcurrentDuplicates(t *testing.T, s results.Store) {
	ctx := context.Background()
	// Eight senders post overlapping batches at once: every record is in
	// at least two of them.
	all := simpleBatch("c", 400, t0)
	var mu sync.Mutex
	accepted := make(map[string]int)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			lo := (g % 4) * 100
			batch := slices.Clone(all[lo : lo+100])
			batch = append(batch, all[(lo+100)%400:(lo+100)%400+50]...)
			rand.New(rand.NewPCG(uint64(g), 9)).Shuffle(len(batch), func(i, j int) { batch[i], batch[j] = batch[j], batch[i] })
			out, err := s.Ingest(ctx, batch)
			if err != nil {
				errs <- err
				return
			}
			if len(out.Accepted)+len(out.Duplicate) != len(batch) {
				errs <- fmt.Errorf("outcome covers %d of %d records", len(out.Accepted)+len(out.Duplicate), len(batch))
			}
			mu.Lock()
			for _, id := range out.Accepted {
				accepted[id]++
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(accepted) != 400 {
		t.Fatalf("%d distinct ids accepted, want 400", len(accepted))
	}
	for id, n := range accepted {
		if n != 1 {
			t.Fatalf("%s accepted %d times", id, n)
		}
	}
	got, err := s.Query(ctx, results.ResultQuery{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 400 {
		t.Fatalf("%d records stored, want 400", len(got))
	}
	for _, res := range []results.Resolution{results.Minute, results.Hour} {
		count, failures, hist, _ := rollupTotals(t, s, results.RollupQuery{Resolution: res})
		if count != 400 || failures != 80 || hist != 400 {
			t.Fatalf("%s rollups: count %d failures %d histogram %d; want 400, 80, 400", res, count, failures, hist)
		}
	}
}

// Batches of different vantages for the same checks and minutes arrive
// at once, several per vantage: every rollup level counts each result
// exactly once.
func testConcurrentVantages(t *testing.T, s results.Store) {
	ctx := context.Background()
	vs := []vantage{v1, v2, v3, {"v4", "us", "gcp", 15169}}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i, v := range vs {
		for part := range 4 {
			wg.Go(func() {
				var batch []results.Result
				for c := range 5 {
					for m := range 10 {
						at := t0.Add(time.Duration(m)*time.Minute + time.Duration(part)*10*time.Second)
						var fail *results.Error
						if (m+c+i)%4 == 0 {
							fail = &results.Error{Layer: results.LayerHTTP, Code: results.CodeStatus}
						}
						batch = append(batch, rec(fmt.Sprintf("cv-%s-%d-%d-%d", v.id, part, c, m), "pay", "api",
							fmt.Sprintf("api/http-%d", c), v, at, float64(10+m), fail))
					}
				}
				if _, err := s.Ingest(ctx, batch); err != nil {
					errs <- err
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// 4 vantages x 4 parts x 5 checks x 10 minutes; a quarter failed.
	for _, res := range []results.Resolution{results.Minute, results.Hour, "day"} {
		count, failures, hist, _ := rollupTotals(t, s, results.RollupQuery{Resolution: res})
		if count != 800 || failures != 200 || hist != 800 {
			t.Errorf("%s rollups: count %d, failures %d, histograms %d; want 800, 200, 800", res, count, failures, hist)
		}
	}
	rows, err := s.Availability(ctx, results.ReportQuery{By: results.ByVantage, Since: t0, Until: t0.Add(10 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		// Each vantage: 5 checks x 10 minutes (rounds) of 4 runs each; a
		// round fails in all four runs or none, so it is down when failed.
		var failedRounds int64
		for c := range 5 {
			for m := range 10 {
				if (m+c+i)%4 == 0 {
					failedRounds++
				}
			}
		}
		want := results.AvailabilityRow{Team: "pay", Endpoint: "api", Group: vs[i].id, Results: 200,
			Failures: 4 * failedRounds, FailedRounds: failedRounds,
			DowntimeMinutes: int64(math.Round(float64(failedRounds) / 5)), TopError: "http/status", TopErrorCount: 4 * failedRounds}
		want.AvailabilityPct = 100 * float64(200-want.Failures) / 200
		if !r.P50MS.Valid || !r.P95MS.Valid || !r.P99MS.Valid {
			t.Errorf("vantage %s: no latency percentiles: %+v", vs[i].id, r)
		}
		r.P50MS, r.P95MS, r.P99MS = results.OptionalMS{}, results.OptionalMS{}, results.OptionalMS{}
		if r != want {
			t.Errorf("vantage %s:\n got %+v\nwant %+v", vs[i].id, r, want)
		}
	}
	if len(rows) != 4 {
		t.Errorf("%d rows by vantage, want 4", len(rows))
	}
}

func testQuery(t *testing.T, s results.Store) {
	ctx := context.Background()
	full := rec("q-full", "pay", "api", "api/http", v2, t0.Add(1234567*time.Microsecond), 182.4,
		&results.Error{Layer: results.LayerTLS, Code: results.CodeCertExpired, Message: "x509: certificate has expired"})
	full.Phases = results.Phases{DNSMS: 3.1, ConnectMS: 21, TLSMS: 40.2, TTFBMS: 110, TransferMS: 8.1}
	full.Details = json.RawMessage(`{"status":503,"http_version":"HTTP/2.0"}`)
	rs := []results.Result{
		full,
		rec("q-ok", "pay", "api", "api/http", v1, t0.Add(2*time.Second), 10, nil),
		rec("q-other", "shop", "web", "web/tcp", v3, t0.Add(3*time.Second), 20, nil),
		rec("q-old", "pay", "api", "api/http", v1, t0.Add(-time.Hour), 30, nil),
	}
	ingest(t, s, rs)
	got, err := s.Query(ctx, results.ResultQuery{Check: "api/http", OnlyFailed: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("OnlyFailed: %d results, want 1", len(got))
	}
	g := got[0]
	if !g.StartedAt.Equal(full.StartedAt) {
		t.Errorf("started_at %v, want %v", g.StartedAt, full.StartedAt)
	}
	if string(g.Details) == "" {
		t.Fatal("details lost")
	}
	var d1, d2 any
	_ = json.Unmarshal(g.Details, &d1)
	_ = json.Unmarshal(full.Details, &d2)
	if fmt.Sprint(d1) != fmt.Sprint(d2) {
		t.Errorf("details %s, want %s", g.Details, full.Details)
	}
	g.Details, full.Details = nil, nil
	g.StartedAt, full.StartedAt = time.Time{}, time.Time{}
	gj, _ := json.Marshal(g)
	fj, _ := json.Marshal(full)
	if string(gj) != string(fj) {
		t.Errorf("round trip:\n got %s\nwant %s", gj, fj)
	}

	for _, tc := range []struct {
		name string
		q    results.ResultQuery
		want []string
	}{
		{"all newest first", results.ResultQuery{}, []string{"q-other", "q-ok", "q-full", "q-old"}},
		{"team", results.ResultQuery{Team: "pay"}, []string{"q-ok", "q-full", "q-old"}},
		{"endpoint", results.ResultQuery{Endpoint: "web"}, []string{"q-other"}},
		{"vantage", results.ResultQuery{Vantage: "v1"}, []string{"q-ok", "q-old"}},
		{"region", results.ResultQuery{Region: "eu"}, []string{"q-ok", "q-full", "q-old"}},
		{"kind", results.ResultQuery{Kind: "http"}, []string{"q-other", "q-ok", "q-full", "q-old"}},
		{"since until", results.ResultQuery{Since: t0, Until: t0.Add(3 * time.Second)}, []string{"q-ok", "q-full"}},
		{"limit", results.ResultQuery{Limit: 2}, []string{"q-other", "q-ok"}},
	} {
		got, err := s.Query(ctx, tc.q)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var ids []string
		for _, r := range got {
			ids = append(ids, r.ID)
		}
		if !slices.Equal(ids, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, ids, tc.want)
		}
	}
}

func testRollups(t *testing.T, s results.Store) {
	ctx := context.Background()
	timeout := &results.Error{Layer: results.LayerConnect, Code: results.CodeTimeout}
	status := &results.Error{Layer: results.LayerHTTP, Code: results.CodeStatus}
	ingest(t, s, []results.Result{
		rec("r1", "pay", "api", "api/http", v1, t0.Add(5*time.Second), 100, nil),
		rec("r2", "pay", "api", "api/http", v1, t0.Add(35*time.Second), 200, timeout),
		rec("r3", "pay", "api", "api/http", v1, t0.Add(65*time.Second), 300, status),
		rec("r4", "pay", "api", "api/http", v2, t0.Add(5*time.Second), 400, nil),
	})
	// A late result from a spool, for a minute already rolled up.
	ingest(t, s, []results.Result{rec("r5", "pay", "api", "api/http", v1, t0.Add(50*time.Second), 150, timeout)})

	got, err := s.Rollups(ctx, results.RollupQuery{Resolution: results.Minute, Vantage: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d minute rollups, want 2: %+v", len(got), got)
	}
	m0, m1 := got[0], got[1]
	if !m0.Bucket.Equal(t0) || !m1.Bucket.Equal(t0.Add(time.Minute)) {
		t.Fatalf("buckets %v %v", m0.Bucket, m1.Bucket)
	}
	if m0.Count != 3 || m0.Failures != 2 || m0.FailuresByCode["connect/timeout"] != 2 || m0.Latency.Count() != 3 {
		t.Errorf("minute 0: %+v", m0)
	}
	if m0.Region != "eu" || m0.Provider != "hetzner" || m0.ASN != 24940 || m0.Team != "pay" || m0.Endpoint != "api" || m0.Kind != "http" {
		t.Errorf("minute 0 labels: %+v", m0)
	}
	if m1.Count != 1 || m1.Failures != 1 || m1.FailuresByCode["http/status"] != 1 {
		t.Errorf("minute 1: %+v", m1)
	}
	hours, err := s.Rollups(ctx, results.RollupQuery{Resolution: results.Hour, Check: "api/http", Since: t0, Until: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(hours) != 2 {
		t.Fatalf("%d hour rollups, want 2 (one per vantage)", len(hours))
	}
	h := hours[0]
	if h.Vantage != "v1" {
		h = hours[1]
	}
	if h.Count != 4 || h.Failures != 3 || h.FailuresByCode["connect/timeout"] != 2 || h.FailuresByCode["http/status"] != 1 {
		t.Errorf("hour: %+v", h)
	}
	if p := h.Latency.Quantile(1); math.Abs(p-300)/300 > 0.01 {
		t.Errorf("hour max latency %.1f, want ~300", p)
	}
	none, err := s.Rollups(ctx, results.RollupQuery{Resolution: results.Hour, Since: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(none) != 0 {
		t.Errorf("rollups after the data: %+v", none)
	}
}

// availabilityData is the fixed data set of the report test: api/http of
// team pay, run every 30 s from v1, v2 (region eu) and v3 (region us)
// for ten minutes from t0, plus another team's endpoint.
//
//	v1: minutes 2 and 3 both runs fail connect/timeout (2 down minutes),
//	    minute 5 one run fails http/status (failed, not down). 100 ms.
//	v2: all ok. 200 ms.
//	v3: minutes 0-3 both runs fail dns/nxdomain (4 down minutes), minute 4
//	    one run fails dns/nxdomain. 50 ms.
//
// It returns the records that arrive first and the late ones: v1's minute
// 3 and the ok run of v1's minute 5 come late, so minute 5 is first down
// and then, by a late success, only failed.
func availabilityData() (first, late []results.Result) {
	timeout := &results.Error{Layer: results.LayerConnect, Code: results.CodeTimeout}
	status := &results.Error{Layer: results.LayerHTTP, Code: results.CodeStatus}
	nx := &results.Error{Layer: results.LayerDNS, Code: results.CodeNXDomain}
	for _, v := range []vantage{v1, v2, v3} {
		for m := range 10 {
			for half := range 2 {
				at := t0.Add(time.Duration(m)*time.Minute + time.Duration(half)*30*time.Second + 7*time.Second)
				var fail *results.Error
				ms := 100.0
				isLate := false
				switch v {
				case v1:
					switch {
					case m == 2 || m == 3:
						fail = timeout
						isLate = m == 3
					case m == 5 && half == 0:
						fail = status
					case m == 5 && half == 1:
						isLate = true
					}
				case v2:
					ms = 200
				case v3:
					ms = 50
					if m <= 3 || (m == 4 && half == 0) {
						fail = nx
					}
				}
				r := rec(fmt.Sprintf("av-%s-%d-%d", v.id, m, half), "pay", "api", "api/http", v, at, ms, fail)
				if isLate {
					late = append(late, r)
				} else {
					first = append(first, r)
				}
			}
		}
	}
	for i := range 10 {
		first = append(first, rec(fmt.Sprintf("av-shop-%d", i), "shop", "web", "web/tcp", v1,
			t0.Add(time.Duration(i)*time.Minute), 20, nil))
	}
	return first, late
}

func testAvailability(t *testing.T, s results.Store) {
	ctx := context.Background()
	first, late := availabilityData()
	ingest(t, s, first)
	ingest(t, s, late)
	ingest(t, s, append(first, late...)) // re-sent: changes nothing

	cases := []reportCase{
		{results.ByRegion, []reportWant{
			{"eu", 40, 5, 3, 1, 87.5, 100, 200, "connect/timeout", 4}, // downtime (2+0)/2 series
			{"us", 20, 9, 5, 4, 55, 50, 50, "dns/nxdomain", 9},
		}},
		{results.ByVantage, []reportWant{
			{"v1", 20, 5, 3, 2, 75, 100, 100, "connect/timeout", 4},
			{"v2", 20, 0, 0, 0, 100, 200, 200, "", 0},
			{"v3", 20, 9, 5, 4, 55, 50, 50, "dns/nxdomain", 9},
		}},
		{results.ByProvider, []reportWant{
			{"aws", 40, 9, 5, 2, 77.5, 50, 200, "dns/nxdomain", 9}, // downtime (0+4)/2
			{"hetzner", 20, 5, 3, 2, 75, 100, 100, "connect/timeout", 4},
		}},
		{results.ByASN, []reportWant{
			{"16509", 40, 9, 5, 2, 77.5, 50, 200, "dns/nxdomain", 9},
			{"24940", 20, 5, 3, 2, 75, 100, 100, "connect/timeout", 4},
		}},
	}
	checkReports(t, s, "pay", "api", cases)
	// Scoping: every team, and the other team alone.
	all, err := s.Availability(ctx, results.ReportQuery{By: results.ByRegion, Since: t0, Until: t0.Add(10 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 || all[2].Team != "shop" || all[2].Endpoint != "web" || all[2].Results != 10 || all[2].AvailabilityPct != 100 {
		t.Errorf("admin report: %+v", all)
	}
	shop, err := s.Availability(ctx, results.ReportQuery{Team: "shop", By: results.ByRegion, Since: t0, Until: t0.Add(10 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if len(shop) != 1 || shop[0].Team != "shop" {
		t.Errorf("team shop report: %+v", shop)
	}
	// A window that ends before minute 5 excludes its failure.
	early, err := s.Availability(ctx, results.ReportQuery{Team: "pay", By: results.ByVantage, Since: t0, Until: t0.Add(5 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if len(early) != 3 || early[0].Results != 10 || early[0].Failures != 4 || early[0].FailedRounds != 2 {
		t.Errorf("first five minutes by vantage: %+v", early)
	}
	if _, err := s.Availability(ctx, results.ReportQuery{By: "planet", Since: t0, Until: t0.Add(time.Hour)}); err == nil {
		t.Error("unknown grouping accepted")
	}
}

func testPercentiles(t *testing.T, s results.Store) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 7))
	var rs []results.Result
	var all []float64
	for i := range 3000 {
		ms := math.Exp(rng.NormFloat64()*0.6 + 4.5) // log-normal around 90 ms
		all = append(all, ms)
		v := []vantage{v1, v2, v3}[i%3]
		rs = append(rs, rec(fmt.Sprintf("p-%d", i), "pay", "api", "api/http", v,
			t0.Add(time.Duration(i)*20*time.Second), ms, nil))
	}
	for i := 0; i < len(rs); i += 1000 {
		ingest(t, s, rs[i:i+1000])
	}
	slices.Sort(all)
	exact := func(q float64) float64 { return all[int(math.Ceil(q*float64(len(all))))-1] }
	// 3000 runs every 20 s span 16h40m: an hour-aligned window that reads
	// hour and minute rollups. Each provider's row against that provider's
	// exact percentiles.
	rows, err := s.Availability(ctx, results.ReportQuery{By: results.ByProvider, Since: t0.Add(-time.Minute), Until: t0.Add(17 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("%d rows by provider, want 2", len(rows))
	}
	for _, row := range rows {
		var sub []float64
		for _, r := range rs {
			if r.Provider == row.Group {
				sub = append(sub, r.DurationMS)
			}
		}
		slices.Sort(sub)
		ex := func(q float64) float64 { return sub[int(math.Ceil(q*float64(len(sub))))-1] }
		for _, p := range []struct {
			q   float64
			got float64
		}{{0.5, ms(row.P50MS)}, {0.95, ms(row.P95MS)}, {0.99, ms(row.P99MS)}} {
			if rel := math.Abs(p.got-ex(p.q)) / ex(p.q); rel > 0.02 {
				t.Errorf("%s p%v = %.2f, exact %.2f (%.1f%% off)", row.Group, p.q*100, p.got, ex(p.q), rel*100)
			}
		}
		if row.Results != int64(len(sub)) {
			t.Errorf("%s: %d results, want %d", row.Group, row.Results, len(sub))
		}
	}
	// And the day rollups, merged across all three vantages.
	ru, err := s.Rollups(ctx, results.RollupQuery{Resolution: "day"})
	if err != nil {
		t.Fatal(err)
	}
	var h results.Histogram
	for _, r := range ru {
		h.Merge(r.Latency)
	}
	if h.Count() != uint64(len(all)) {
		t.Fatalf("day rollups hold %d latencies, want %d", h.Count(), len(all))
	}
	for _, q := range []float64{0.5, 0.95, 0.99} {
		if rel := math.Abs(h.Quantile(q)-exact(q)) / exact(q); rel > 0.02 {
			t.Errorf("day p%v = %.2f, exact %.2f", q*100, h.Quantile(q), exact(q))
		}
	}
}

func testRetention(t *testing.T, s results.Store) {
	ctx := context.Background()
	now := t0.Add(100 * 24 * time.Hour)
	ingest(t, s, []results.Result{
		rec("old", "pay", "api", "api/http", v1, now.Add(-20*24*time.Hour), 10, nil),   // raw expired
		rec("older", "pay", "api", "api/http", v1, now.Add(-95*24*time.Hour), 10, nil), // minute expired too
		rec("new", "pay", "api", "api/http", v1, now.Add(-time.Hour), 10, nil),
	})
	ret := results.Retention{Raw: 14 * 24 * time.Hour, Minute: 90 * 24 * time.Hour, Hour: 730 * 24 * time.Hour}
	if err := s.ApplyRetention(ctx, ret, now); err != nil {
		t.Fatal(err)
	}
	got, err := s.Query(ctx, results.ResultQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != "new" {
		t.Fatalf("after retention: %d results (want only \"new\")", len(got))
	}
	count := func(res results.Resolution) int64 {
		ru, err := s.Rollups(ctx, results.RollupQuery{Resolution: res})
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, r := range ru {
			n += r.Count
		}
		return n
	}
	if n := count(results.Minute); n != 2 {
		t.Errorf("minute rollups count %d results, want 2 (the 95-day-old minute expired)", n)
	}
	if n := count(results.Hour); n != 3 {
		t.Errorf("hour rollups count %d results, want 3", n)
	}
	if err := s.ApplyRetention(ctx, results.Retention{Hour: time.Hour}, now.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := count(results.Hour); n != 0 {
		t.Errorf("hour rollups count %d results after expiring them, want 0", n)
	}
	if n := count("day"); n != 0 {
		t.Errorf("day rollups count %d results after expiring hours, want 0", n)
	}
	// A zero period keeps everything.
	if n := count(results.Minute); n != 2 {
		t.Errorf("minute rollups count %d with zero minute retention, want 2", n)
	}
}

func testLocker(t *testing.T, s results.Store) {
	ctx := context.Background()
	unlock, ok, err := s.TryLock(ctx, "rollup")
	if err != nil || !ok {
		t.Fatalf("first TryLock: %v %v", ok, err)
	}
	if _, ok, err := s.TryLock(ctx, "rollup"); err != nil || ok {
		t.Fatalf("second TryLock while held: acquired=%v err=%v", ok, err)
	}
	u2, ok, err := s.TryLock(ctx, "retention")
	if err != nil || !ok {
		t.Fatalf("other name: %v %v", ok, err)
	}
	unlock()
	unlock() // idempotent
	u3, ok, err := s.TryLock(ctx, "rollup")
	if err != nil || !ok {
		t.Fatalf("TryLock after unlock: %v %v", ok, err)
	}
	u3()
	u2()
}

func testTeams(t *testing.T, s results.Store) {
	ctx := context.Background()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := s.CreateTeam(ctx, results.Team{Name: "pay", TokenHash: []byte("h-pay"), CreatedAt: at}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTeam(ctx, results.Team{Name: "shop", TokenHash: []byte("h-shop"), CreatedAt: at}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTeam(ctx, results.Team{Name: "pay", TokenHash: []byte("h-other")}); !errors.Is(err, results.ErrConflict) {
		t.Errorf("duplicate name: %v, want ErrConflict", err)
	}
	teams, err := s.Teams(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(teams) != 2 || teams[0].Name != "pay" || teams[1].Name != "shop" || !teams[0].CreatedAt.Equal(at) {
		t.Errorf("teams: %+v", teams)
	}
	got, err := s.TeamByTokenHash(ctx, []byte("h-shop"))
	if err != nil || got.Name != "shop" {
		t.Errorf("by token: %+v %v", got, err)
	}
	if _, err := s.TeamByTokenHash(ctx, []byte("nope")); !errors.Is(err, results.ErrNotFound) {
		t.Errorf("unknown token: %v, want ErrNotFound", err)
	}
}

func testVantages(t *testing.T, s results.Store) {
	ctx := context.Background()
	lat, lon := 60.17, 24.94
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	v := results.Vantage{ID: "hel1", Region: "eu-central", Provider: "hetzner", ASN: 24940, Lat: &lat, Lon: &lon, TokenHash: []byte("t1"), CreatedAt: at}
	if err := s.CreateVantage(ctx, v); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateVantage(ctx, results.Vantage{ID: "fra1", Region: "eu-central", Provider: "aws", TokenHash: []byte("t2")}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateVantage(ctx, results.Vantage{ID: "hel1", Region: "x", TokenHash: []byte("t3")}); !errors.Is(err, results.ErrConflict) {
		t.Errorf("duplicate id: %v, want ErrConflict", err)
	}
	hbAt := at.Add(time.Hour)
	hb := results.Heartbeat{Vantage: "hel1", At: hbAt, Every: 30 * time.Second, Version: "v1.2.3", SpoolDepth: 42, Running: 7, LastError: "dns: timeout", PublicAddr: "198.51.100.7"}
	if err := s.RecordHeartbeat(ctx, hb); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordHeartbeat(ctx, results.Heartbeat{Vantage: "ghost", At: hbAt}); !errors.Is(err, results.ErrNotFound) {
		t.Errorf("heartbeat of unknown vantage: %v, want ErrNotFound", err)
	}
	got, err := s.VantageByTokenHash(ctx, []byte("t1"))
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "hel1" || got.Region != "eu-central" || got.Provider != "hetzner" || got.ASN != 24940 ||
		got.Lat == nil || *got.Lat != lat || got.Lon == nil || *got.Lon != lon || !got.CreatedAt.Equal(at) ||
		!got.LastHeartbeat.Equal(hbAt) || got.HeartbeatEvery != 30*time.Second || got.Version != "v1.2.3" ||
		got.SpoolDepth != 42 || got.Running != 7 || got.LastError != "dns: timeout" || got.PublicAddr != "198.51.100.7" {
		t.Errorf("vantage after heartbeat: %+v", got)
	}
	if _, err := s.VantageByTokenHash(ctx, []byte("nope")); !errors.Is(err, results.ErrNotFound) {
		t.Errorf("unknown token: %v, want ErrNotFound", err)
	}
	// A heartbeat that discovered the ASN fills it in.
	if err := s.RecordHeartbeat(ctx, results.Heartbeat{Vantage: "fra1", At: hbAt, ASN: 16509}); err != nil {
		t.Fatal(err)
	}
	all, err := s.Vantages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].ID != "fra1" || all[0].ASN != 16509 || all[0].Lat != nil || all[1].ID != "hel1" {
		t.Errorf("vantages: %+v", all)
	}
}

func testEndpoints(t *testing.T, s results.Store) {
	ctx := context.Background()
	createTeams(t, s, "pay", "shop", "team0", "team1", "team2", "team3")
	e := results.Endpoint{
		Team: "pay", Name: "checkout-api", Target: "https://api.example.com/health",
		Checks:  []json.RawMessage{json.RawMessage(`{"kind":"http","interval":"30s"}`), json.RawMessage(`{"kind":"icmp"}`)},
		Regions: []string{"all"}, Alert: json.RawMessage(`{"severity":"page","quorum":2}`),
		UpdatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
	if err := s.PutEndpoint(ctx, e); err != nil {
		t.Fatal(err)
	}
	if err := s.PutEndpoint(ctx, results.Endpoint{Team: "shop", Name: "web", Target: "https://shop.example.com/", Checks: []json.RawMessage{json.RawMessage(`{"kind":"tcp"}`)}, Regions: []string{"eu", "us"}}); err != nil {
		t.Fatal(err)
	}
	// Replace: the same (team, name) is updated, not duplicated.
	e.Target = "https://api2.example.com/health"
	e.Checks = e.Checks[:1]
	if err := s.PutEndpoint(ctx, e); err != nil {
		t.Fatal(err)
	}
	pay, err := s.Endpoints(ctx, "pay")
	if err != nil {
		t.Fatal(err)
	}
	if len(pay) != 1 || pay[0].Target != e.Target || len(pay[0].Checks) != 1 || !pay[0].UpdatedAt.Equal(e.UpdatedAt) ||
		!slices.Equal(pay[0].Regions, []string{"all"}) {
		t.Fatalf("pay endpoints: %+v", pay)
	}
	var c, a map[string]any
	if err := json.Unmarshal(pay[0].Checks[0], &c); err != nil || c["kind"] != "http" || c["interval"] != "30s" {
		t.Errorf("check JSON %s: %v", pay[0].Checks[0], err)
	}
	if err := json.Unmarshal(pay[0].Alert, &a); err != nil || a["severity"] != "page" {
		t.Errorf("alert JSON %s: %v", pay[0].Alert, err)
	}
	all, err := s.Endpoints(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[1].Team != "shop" || len(all[1].Alert) != 0 {
		t.Fatalf("all endpoints: %+v", all)
	}
	if err := s.DeleteEndpoint(ctx, "shop", "checkout-api"); !errors.Is(err, results.ErrNotFound) {
		t.Errorf("delete another team's endpoint: %v, want ErrNotFound", err)
	}
	// An endpoint belongs to a team that exists.
	if err := s.PutEndpoint(ctx, results.Endpoint{Team: "ghost", Name: "boo", Target: "https://boo.example.com/",
		Checks: []json.RawMessage{json.RawMessage(`{"kind":"tcp"}`)}, Regions: []string{"all"}}); !errors.Is(err, results.ErrNotFound) {
		t.Errorf("an endpoint of no team: %v, want ErrNotFound", err)
	}
	if ghost, err := s.Endpoints(ctx, "ghost"); err != nil || len(ghost) != 0 {
		t.Errorf("endpoints of no team: %+v %v", ghost, err)
	}
	// Check ids are made of endpoint names, so a name belongs to one team.
	taken := results.Endpoint{Team: "shop", Name: "checkout-api", Target: "https://shop.example.com/",
		Checks: []json.RawMessage{json.RawMessage(`{"kind":"tcp"}`)}, Regions: []string{"all"}}
	if err := s.PutEndpoint(ctx, taken); !errors.Is(err, results.ErrConflict) {
		t.Errorf("another team's name: %v, want ErrConflict", err)
	}
	if pay, err := s.Endpoints(ctx, "pay"); err != nil || len(pay) != 1 || pay[0].Target != e.Target {
		t.Errorf("pay endpoints after another team tried its name: %+v %v", pay, err)
	}
	if shop, err := s.Endpoints(ctx, "shop"); err != nil || len(shop) != 1 {
		t.Errorf("shop endpoints after the refused put: %+v %v", shop, err)
	}
	if err := s.DeleteEndpoint(ctx, "pay", "checkout-api"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteEndpoint(ctx, "pay", "checkout-api"); !errors.Is(err, results.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
	pay, err = s.Endpoints(ctx, "pay")
	if err != nil || len(pay) != 0 {
		t.Errorf("after delete: %+v %v", pay, err)
	}
	// Freed, the name can be taken; by one team only when several try at
	// once.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			e := taken
			e.Team = fmt.Sprintf("team%d", i)
			errs[i] = s.PutEndpoint(ctx, e)
		})
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, results.ErrConflict):
			t.Errorf("team%d: %v, want nil or ErrConflict", i, err)
		}
	}
	if all, err := s.Endpoints(ctx, ""); won != 1 || err != nil || len(all) != 2 {
		t.Errorf("%d of 4 teams took the freed name; endpoints %+v (%v), want 1 and shop's web beside it", won, all, err)
	}
}

// testLongWindow checks a report over three weeks, which stores answer
// from week and day rollups, against hand-computed values, including a
// result that arrives late for a day already rolled up into its week.
//
// One result a day at 12:00 for 20 days, from v1 (100 ms) and v2
// (200 ms). v1 fails connect/timeout on days 3 and 10; v1's day 5 (ok)
// arrives last.
func testLongWindow(t *testing.T, s results.Store) {
	ctx := context.Background()
	base := time.Date(2026, 10, 26, 12, 0, 0, 0, time.UTC) // a Monday
	timeout := &results.Error{Layer: results.LayerConnect, Code: results.CodeTimeout}
	var first []results.Result
	var late results.Result
	for d := range 20 {
		at := base.Add(time.Duration(d) * 24 * time.Hour)
		var fail *results.Error
		if d == 3 || d == 10 {
			fail = timeout
		}
		r1 := rec(fmt.Sprintf("w1-%02d", d), "pay", "api", "api/http", v1, at, 100, fail)
		if d == 5 {
			late = r1
		} else {
			first = append(first, r1)
		}
		first = append(first, rec(fmt.Sprintf("w2-%02d", d), "pay", "api", "api/http", v2, at, 200, nil))
	}
	ingest(t, s, first)
	if c, ok := s.(Compacter); ok {
		if err := c.Compact(ctx); err != nil {
			t.Fatal(err)
		}
	}
	ingest(t, s, []results.Result{late})
	for _, since := range []time.Time{base.Add(-time.Hour), base.Add(-12 * time.Hour).Add(-9 * 24 * time.Hour)} {
		rows, err := s.Availability(ctx, results.ReportQuery{By: results.ByVantage, Since: since, Until: base.Add(20 * 24 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 2 {
			t.Fatalf("since %v: %d rows, want 2: %+v", since, len(rows), rows)
		}
		r1, r2 := rows[0], rows[1]
		if r1.Group != "v1" || r1.Results != 20 || r1.Failures != 2 || r1.FailedRounds != 2 || r1.DowntimeMinutes != 2 ||
			r1.TopError != "connect/timeout" || r1.TopErrorCount != 2 || math.Abs(ms(r1.P50MS)-100) > 1 {
			t.Errorf("since %v: v1 %+v", since, r1)
		}
		if r2.Group != "v2" || r2.Results != 20 || r2.Failures != 0 || r2.FailedRounds != 0 || r2.DowntimeMinutes != 0 ||
			math.Abs(ms(r2.P99MS)-200) > 2 {
			t.Errorf("since %v: v2 %+v", since, r2)
		}
	}
	// A window inside the data, from day 7 to day 15 at 12:00: aligned to
	// whole days, it holds days 7 to 15, 9 results from each vantage.
	rows, err := s.Availability(ctx, results.ReportQuery{By: results.ByVantage,
		Since: base.Add(7 * 24 * time.Hour), Until: base.Add(15 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Results != 9 || rows[0].Failures != 1 || rows[1].Results != 9 {
		t.Errorf("days 7-15: %+v", rows)
	}
}

// reportWant is a row a report must have; p50 and p95 of 0 are not
// checked.
type reportWant struct {
	group                               string
	results, failures, rounds, downtime int64
	pct                                 float64
	p50, p95                            float64
	top                                 string
	topCount                            int64
}

// reportCase is the report of one grouping.
type reportCase struct {
	by   results.GroupBy
	want []reportWant
}

// checkReports checks the reports of team's endpoint, grouped each way
// of cases, over windows around the ten minutes from t0 that different
// rollup levels answer: a ten-minute window reads minutes, a two-day one
// hours, a 30-day one days. The numbers must be the same.
func checkReports(t *testing.T, s results.Store, team, endpoint string, cases []reportCase) {
	t.Helper()
	for _, w := range []struct {
		name         string
		since, until time.Time
	}{
		{"10m", t0, t0.Add(10 * time.Minute)},
		{"2d", t0.Add(-30 * time.Hour), t0.Add(18 * time.Hour)},
		{"30d", t0.Add(-29 * 24 * time.Hour), t0.Add(24 * time.Hour)},
	} {
		for _, tc := range cases {
			rows, err := s.Availability(context.Background(), results.ReportQuery{Team: team, Endpoint: endpoint, By: tc.by, Since: w.since, Until: w.until})
			if err != nil {
				t.Fatalf("%s by %s: %v", w.name, tc.by, err)
			}
			if len(rows) != len(tc.want) {
				t.Fatalf("%s by %s: %d rows, want %d: %+v", w.name, tc.by, len(rows), len(tc.want), rows)
			}
			for i, r := range rows {
				wt := tc.want[i]
				if r.Team != team || r.Endpoint != endpoint || r.Group != wt.group || r.Results != wt.results ||
					r.Failures != wt.failures || r.FailedRounds != wt.rounds || r.DowntimeMinutes != wt.downtime ||
					math.Abs(r.AvailabilityPct-wt.pct) > 1e-9 || r.TopError != wt.top || r.TopErrorCount != wt.topCount {
					t.Errorf("%s by %s row %d:\n got %+v\nwant %+v", w.name, tc.by, i, r, wt)
				}
				if wt.p50 != 0 && (math.Abs(ms(r.P50MS)-wt.p50)/wt.p50 > 0.01 || math.Abs(ms(r.P95MS)-wt.p95)/wt.p95 > 0.01) {
					t.Errorf("%s by %s %s: p50 %.2f p95 %.2f, want %.0f %.0f", w.name, tc.by, wt.group, ms(r.P50MS), ms(r.P95MS), wt.p50, wt.p95)
				}
			}
		}
	}
}

// ms is a report's latency percentile, +Inf when it has none, so that
// every comparison with a wanted latency fails.
func ms(m results.OptionalMS) float64 {
	if !m.Valid {
		return math.Inf(1)
	}
	return m.MS
}

// createTeams creates teams named names, each with its own token hash.
func createTeams(t *testing.T, s results.Store, names ...string) {
	t.Helper()
	for _, n := range names {
		if err := s.CreateTeam(context.Background(), results.Team{Name: n, TokenHash: []byte("h-" + n)}); err != nil {
			t.Fatalf("create team %s: %v", n, err)
		}
	}
}

// rollupTotals reads the rollups q asks for and adds up their results,
// failures and latencies; it returns the rollups too.
func rollupTotals(t *testing.T, s results.Store, q results.RollupQuery) (count, failures int64, latencies uint64, rolls []results.Rollup) {
	t.Helper()
	rolls, err := s.Rollups(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rolls {
		count += r.Count
		failures += r.Failures
		latencies += r.Latency.Count()
	}
	return count, failures, latencies, rolls
}
