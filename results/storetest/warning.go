package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/picketnet/picket/results"
)

// testCertExpiringIsUp: a certificate about to expire fails the tls check
// (tls/cert_expiring) but the endpoint is up (results.Result.Down), so the
// report and the rollups count those results without counting them as
// failures, failed rounds or downtime, while the raw records stay as the
// prober made them.
//
// api's tls check runs every 30 s for ten minutes from t0 at v1, v2 (eu)
// and v3 (us); every run is tls/cert_expiring except v3's first run of
// minute 4, a connect/timeout. Minutes 0-4 are stored (and compacted, when
// the store can be told to) before minutes 5-9 arrive, so that both the
// stored rollups and the pending deltas are read.
func testCertExpiringIsUp(t *testing.T, s results.Store) {
	ctx := context.Background()
	expiring := &results.Error{Layer: results.LayerTLS, Code: results.CodeCertExpiring,
		Message: "certificate expires in 10.0 days; expected at least 14"}
	timeout := &results.Error{Layer: results.LayerConnect, Code: results.CodeTimeout}
	var first, second []results.Result
	for _, v := range []vantage{v1, v2, v3} {
		for m := range 10 {
			for half := range 2 {
				at := t0.Add(time.Duration(m)*time.Minute + time.Duration(half)*30*time.Second + 3*time.Second)
				fail := expiring
				if v == v3 && m == 4 && half == 0 {
					fail = timeout
				}
				r := rec(fmt.Sprintf("ce-%s-%d-%d", v.id, m, half), "pay", "api", "api/tls", v, at, 40, fail)
				r.Kind = "tls"
				if m < 5 {
					first = append(first, r)
				} else {
					second = append(second, r)
				}
			}
		}
	}
	ingest(t, s, first)
	if c, ok := s.(Compacter); ok {
		if err := c.Compact(ctx); err != nil {
			t.Fatal(err)
		}
	}
	ingest(t, s, second)

	cases := []reportCase{
		{results.ByRegion, []reportWant{
			{group: "eu", results: 40, pct: 100, p50: 40, p95: 40},
			{group: "us", results: 20, failures: 1, rounds: 1, pct: 95, p50: 40, p95: 40, top: "connect/timeout", topCount: 1},
		}},
		{results.ByVantage, []reportWant{
			{group: "v1", results: 20, pct: 100, p50: 40, p95: 40},
			{group: "v2", results: 20, pct: 100, p50: 40, p95: 40},
			{group: "v3", results: 20, failures: 1, rounds: 1, pct: 95, p50: 40, p95: 40, top: "connect/timeout", topCount: 1},
		}},
	}
	checkReports(t, s, "pay", "api", cases)

	// The rollups count the warnings as results, with their latency, and
	// never as failures.
	for _, res := range []results.Resolution{results.Minute, results.Hour} {
		count, failures, latencies, rolls := rollupTotals(t, s, results.RollupQuery{Resolution: res, Check: "api/tls", Vantage: "v1", Since: t0, Until: t0.Add(time.Hour)})
		for _, r := range rolls {
			if len(r.FailuresByCode) != 0 {
				t.Errorf("%s rollup at %v: failures by code %v, want none", res, r.Bucket, r.FailuresByCode)
			}
		}
		if count != 20 || failures != 0 || latencies != 20 {
			t.Errorf("%s rollups of v1: count %d failures %d latencies %d; want 20, 0, 20", res, count, failures, latencies)
		}
	}

	// The raw records are the prober's: the check failed.
	raw, err := s.Query(ctx, results.ResultQuery{Check: "api/tls", Vantage: "v1", OnlyFailed: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != 20 {
		t.Fatalf("OnlyFailed: %d results of v1, want its 20 warnings", len(raw))
	}
	for _, r := range raw {
		if r.OK || r.Error == nil || r.Error.Code != results.CodeCertExpiring || r.Error.Message != expiring.Message || r.Down() || !r.Warning() {
			t.Fatalf("stored record %+v, want ok=false with tls/cert_expiring, a warning", r)
		}
	}
}
