package collector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/picketnet/picket/collector/api"
	"github.com/picketnet/picket/collector/client"
	"github.com/picketnet/picket/results"
)

// rejections maps the rejected ids of an acknowledgement to their reasons.
func rejections(ack results.BatchAck) map[string]string {
	m := map[string]string{}
	for _, r := range ack.Rejected {
		m[r.ID] = r.Reason
	}
	return m
}

// metricsText is the collector's /metrics exposition.
func metricsText(t *testing.T, e *env) string {
	t.Helper()
	status, _, body := raw(t, e, "GET", "/metrics", testAdminToken, nil, nil)
	if status != 200 {
		t.Fatalf("metrics: %d", status)
	}
	return string(body)
}

// testIngestOnlyRegisteredChecks: a vantage's token lets it write results
// only for registered checks, under their own team and endpoint and of
// their kind, whose endpoint is assigned to its region. The rest of the
// batch is stored as usual.
func testIngestOnlyRegisteredChecks(t *testing.T, open storeOpener) {
	e := newEnv(t, open)
	ctx := context.Background()
	pay := e.team("payments")
	if _, err := pay.ApplyEndpoints(ctx, "", api.ApplyEndpoints{Endpoints: []results.Endpoint{
		endpoint("checkout-api", "https://203.0.113.10/", []string{"all"}, probeCheckJSON("")),
		endpoint("us-only", "https://203.0.113.11/", []string{"us-east"}, probeCheckJSON("")),
	}}); err != nil {
		t.Fatal(err)
	}
	e.register("ops", "dns")
	v := e.vantage("fra-test", "eu-central", "hetzner")
	at := time.Now().UTC().Add(-time.Minute)
	genuine := record("genuine", "payments", "checkout-api", "fra-test", at, false, 80)

	tests := []struct {
		name   string
		rec    func(r *results.Result)
		reason string // in the answer
		metric string // picket_collector_rejected_results_total's reason
	}{
		{"a team that does not exist", func(r *results.Result) { r.Team = "otherteam" },
			`team "otherteam" has no registered endpoint "checkout-api"`, rejectUnregistered},
		{"an endpoint that does not exist", func(r *results.Result) { r.Endpoint, r.Check = "nope", "nope/probe" },
			`team "payments" has no registered endpoint "nope"`, rejectUnregistered},
		{"another team's endpoint", func(r *results.Result) { r.Team = "ops" },
			`team "ops" has no registered endpoint "checkout-api"`, rejectUnregistered},
		{"another team's check", func(r *results.Result) { r.Team, r.Endpoint = "ops", "dns" },
			`"checkout-api/probe" is not a check of endpoint "dns" of team "ops"`, rejectUnregistered},
		{"a check of another endpoint", func(r *results.Result) { r.Check = "us-only/probe" },
			`"us-only/probe" is not a check of endpoint "checkout-api"`, rejectUnregistered},
		{"a check id the endpoint does not have", func(r *results.Result) { r.Check = "checkout-api/probe-2" },
			`"checkout-api/probe-2" is not a check of endpoint "checkout-api"`, rejectUnregistered},
		{"another kind", func(r *results.Result) { r.Kind = "http" },
			`check "checkout-api/probe" is of kind "probe", not "http"`, rejectUnregistered},
		{"no team", func(r *results.Result) { r.Team = "" }, "team: missing", rejectUnregistered},
		{"an endpoint not assigned to the region", func(r *results.Result) { r.Endpoint, r.Check = "us-only", "us-only/probe" },
			`endpoint "us-only" of team "payments" is not assigned to region "eu-central" (its regions: us-east)`, rejectNotAssigned},
	}
	batch := results.Batch{Results: []results.Result{genuine}}
	wantMetric := map[string]int{}
	for i, tc := range tests {
		r := record(fmt.Sprintf("forged-%02d", i), "payments", "checkout-api", "fra-test", at, false, 80)
		tc.rec(&r)
		batch.Results = append(batch.Results, r)
		wantMetric[tc.metric]++
	}
	ack, err := v.PostResults(ctx, batch, true)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ack.Accepted, []string{"genuine"}) {
		t.Errorf("accepted %v, want only the genuine record", ack.Accepted)
	}
	got := rejections(ack)
	for i, tc := range tests {
		id := fmt.Sprintf("forged-%02d", i)
		if reason, ok := got[id]; !ok || !strings.Contains(reason, tc.reason) {
			t.Errorf("%s: rejected=%v with reason %q, want a rejection saying %q", tc.name, ok, reason, tc.reason)
		}
	}
	stored := e.stored()
	if len(stored) != 1 || stored[0].ID != "genuine" {
		t.Errorf("stored %+v, want only the genuine record", stored)
	}

	// What the reviewer saw: the admin report showed rows for otherteam
	// with payments' failure, missing from payments' own report.
	rep, err := e.admin.Availability(ctx, client.ReportQuery{Since: "24h"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 1 || rep.Rows[0].Team != "payments" || rep.Rows[0].Endpoint != "checkout-api" || rep.Rows[0].Failures != 1 {
		t.Errorf("admin report rows %+v, want one row: payments' checkout-api with its failure", rep.Rows)
	}
	rep, err = pay.Availability(ctx, client.ReportQuery{Since: "24h"})
	if err != nil || len(rep.Rows) != 1 || rep.Rows[0].Failures != 1 {
		t.Errorf("payments' report %+v, %v; want its failure", rep.Rows, err)
	}
	text := metricsText(t, e)
	for reason, n := range wantMetric {
		if want := fmt.Sprintf(`picket_collector_rejected_results_total{reason=%q} %d`, reason, n); !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// Only payments' genuine result has a probe series.
	if !strings.Contains(text, "picket_probe_series 1") {
		t.Errorf("metrics: want exactly one probe series")
	}
}

// testIngestRefusesFutureRecords: a record that starts more than
// maxClockSkew ahead of the collector's clock is rejected; one within it
// is accepted.
func testIngestRefusesFutureRecords(t *testing.T, open storeOpener) {
	e := newEnv(t, open)
	ctx := context.Background()
	v := e.vantage("fra-test", "eu-central", "hetzner")
	e.register("payments", "web")
	now := time.Now().UTC()
	tests := []struct {
		id       string
		at       time.Time
		accepted bool
	}{
		{"past", now.Add(-72 * time.Hour), true},
		{"now", now, true},
		{"within-skew", now.Add(maxClockSkew - time.Minute), true},
		{"beyond-skew", now.Add(maxClockSkew + time.Minute), false},
		{"year-2099", time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC), false},
	}
	var batch results.Batch
	for _, tc := range tests {
		batch.Results = append(batch.Results, record(tc.id, "payments", "web", "fra-test", tc.at, false, 10))
	}
	ack, err := v.PostResults(ctx, batch, false)
	if err != nil {
		t.Fatal(err)
	}
	got := rejections(ack)
	for _, tc := range tests {
		reason, rejected := got[tc.id]
		switch {
		case tc.accepted && rejected:
			t.Errorf("%s: rejected (%s), want accepted", tc.id, reason)
		case !tc.accepted && (!rejected || !strings.Contains(reason, "started_at") || !strings.Contains(reason, "ahead of the collector's clock")):
			t.Errorf("%s: rejected=%v %q, want a rejection naming started_at ahead of the clock", tc.id, rejected, reason)
		}
	}
	if len(e.stored()) != 3 {
		t.Errorf("stored %d records, want 3", len(e.stored()))
	}
	text := metricsText(t, e)
	if want := `picket_collector_rejected_results_total{reason="future"} 2`; !strings.Contains(text, want) {
		t.Errorf("metrics lack %q", want)
	}
	// A newer, successful result still updates the gauge: the 2099
	// record did not pin it.
	if _, err := v.PostResults(ctx, results.Batch{Results: []results.Result{record("later", "payments", "web", "fra-test", now.Add(maxClockSkew-time.Second), true, 5)}}, false); err != nil {
		t.Fatal(err)
	}
	if want := `picket_probe_success{check="web/probe",endpoint="web",region="eu-central",team="payments",vantage="fra-test"} 1`; !strings.Contains(metricsText(t, e), want) {
		t.Errorf("metrics lack %q", want)
	}
}

// testIngestFollowsEndpointChanges: changes made on this collector apply
// to the very next batch.
func testIngestFollowsEndpointChanges(t *testing.T, open storeOpener) {
	e := newEnv(t, open)
	ctx := context.Background()
	pay := e.team("payments")
	v := e.vantage("fra-test", "eu-central", "hetzner")
	at := time.Now().UTC().Add(-time.Minute)
	n := 0
	post := func() (accepted bool, reason string) {
		t.Helper()
		n++
		ack, err := v.PostResults(ctx, results.Batch{Results: []results.Result{record(fmt.Sprintf("r%d", n), "payments", "web", "fra-test", at, true, 5)}}, false)
		if err != nil {
			t.Fatal(err)
		}
		return len(ack.Accepted) == 1, rejections(ack)[fmt.Sprintf("r%d", n)]
	}
	apply := func(regions ...string) {
		t.Helper()
		if _, err := pay.ApplyEndpoints(ctx, "", api.ApplyEndpoints{Endpoints: []results.Endpoint{
			endpoint("web", "https://203.0.113.10/", regions, probeCheckJSON("")),
		}}); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		name   string
		change func()
		want   string // "" for accepted, else part of the reason
	}{
		{"before registration", func() {}, `no registered endpoint "web"`},
		{"registered for all regions", func() { apply("all") }, ""},
		{"moved to us-east", func() { apply("us-east") }, `not assigned to region "eu-central"`},
		{"eu-central added", func() { apply("us-east", "eu-central") }, ""},
		{"deleted", func() {
			if err := pay.DeleteEndpoint(ctx, "", "web"); err != nil {
				t.Fatal(err)
			}
		}, `no registered endpoint "web"`},
		{"registered again", func() { apply("all") }, ""},
	}
	for _, st := range steps {
		st.change()
		accepted, reason := post()
		switch {
		case st.want == "" && !accepted:
			t.Errorf("%s: rejected (%s), want accepted", st.name, reason)
		case st.want != "" && !strings.Contains(reason, st.want):
			t.Errorf("%s: accepted=%v reason %q, want a rejection saying %q", st.name, accepted, reason, st.want)
		}
	}
}

// testIngestSeesOtherReplicas: a prober may fetch its assignment from one
// replica and post to another sharing the store; the second accepts
// results for an endpoint the first registered a moment ago, and sees a
// deletion there within its maximum age.
func testIngestSeesOtherReplicas(t *testing.T, open storeOpener) {
	a := newEnv(t, open)
	b := newEnvWith(t, a.store)
	ctx := context.Background()
	out, err := a.admin.EnrolVantage(ctx, api.EnrolVantage{ID: "fra-test", Region: "eu-central", Provider: "hetzner"})
	if err != nil {
		t.Fatal(err)
	}
	viaB := b.client(out.Token)
	at := time.Now().UTC().Add(-time.Minute)
	post := func(id, ep string) string {
		t.Helper()
		ack, err := viaB.PostResults(ctx, results.Batch{Results: []results.Result{record(id, "payments", ep, "fra-test", at, true, 5)}}, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(ack.Accepted) == 1 {
			return ""
		}
		return rejections(ack)[id]
	}
	a.register("payments", "web")
	if why := post("r1", "web"); why != "" {
		t.Fatalf("r1 via b: %s", why)
	}
	// b has loaded the registered checks; a registers another endpoint.
	a.register("payments", "api")
	if why := post("r2", "api"); why != "" {
		t.Errorf("a result for an endpoint just registered on another replica: %s, want accepted", why)
	}
	if err := a.admin.DeleteEndpoint(ctx, "payments", "web"); err != nil {
		t.Fatal(err)
	}
	b.srv.checks.maxAge = 0 // as if maxCheckAge had passed
	if why := post("r3", "web"); !strings.Contains(why, `no registered endpoint "web"`) {
		t.Errorf("a result for an endpoint deleted on another replica, after the maximum age: %q, want rejected", why)
	}
}

// endpointCounter counts the store's Endpoints reads, and fails them on
// demand.
type endpointCounter struct {
	results.Store
	reads atomic.Int64
	fail  atomic.Bool
}

func (c *endpointCounter) Endpoints(ctx context.Context, team string) ([]results.Endpoint, error) {
	c.reads.Add(1)
	if c.fail.Load() {
		return nil, errors.New("connection refused")
	}
	return c.Store.Endpoints(ctx, team)
}

// TestIngestReadsRegisteredChecksRarely: ingest does not read the store's
// endpoints per batch: once for any number of batches of registered
// checks, and at most once per reloadSpacing for batches that miss. When
// it cannot read them, the batch is answered 503 (the prober keeps it),
// not rejected.
func TestIngestReadsRegisteredChecksRarely(t *testing.T) {
	st := &endpointCounter{Store: openSQLite(t)}
	e := newEnvWith(t, st, func(o *Options) { o.IngestConcurrency = 4 })
	e.srv.checks.spacing = reloadSpacing
	ctx := context.Background()
	v := e.vantage("fra-test", "eu-central", "hetzner")
	e.register("payments", "web")
	at := time.Now().UTC().Add(-time.Minute)
	st.reads.Store(0)

	for i := range 20 {
		ack, err := v.PostResults(ctx, results.Batch{Results: []results.Result{record(fmt.Sprintf("hit-%02d", i), "payments", "web", "fra-test", at, true, 5)}}, false)
		if err != nil || len(ack.Accepted) != 1 {
			t.Fatalf("batch %d: %+v %v", i, ack, err)
		}
	}
	if n := st.reads.Load(); n != 1 {
		t.Errorf("20 batches of registered checks read the endpoints %d times, want once", n)
	}

	// A flood of batches with a result for an unknown endpoint each.
	st.reads.Store(0)
	const batches = 12
	start := time.Now()
	var wg sync.WaitGroup
	acks := make([]results.BatchAck, batches)
	errs := make([]error, batches)
	for i := range batches {
		wg.Go(func() {
			acks[i], errs[i] = v.PostResults(ctx, results.Batch{Results: []results.Result{
				record(fmt.Sprintf("good-%02d", i), "payments", "web", "fra-test", at, true, 5),
				record(fmt.Sprintf("bad-%02d", i), "payments", "gone", "fra-test", at, true, 5),
			}}, false)
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	for i := range batches {
		if errs[i] != nil || !slices.Equal(acks[i].Accepted, []string{fmt.Sprintf("good-%02d", i)}) || len(acks[i].Rejected) != 1 {
			t.Errorf("batch %d: %+v %v; want the good record accepted and the bad one rejected", i, acks[i], errs[i])
		}
	}
	// Loads start at least reloadSpacing apart, so over elapsed there can
	// be at most 1 + elapsed/reloadSpacing of them.
	if n, most := st.reads.Load(), 1+int64(elapsed/reloadSpacing); n > most {
		t.Errorf("%d batches that missed read the endpoints %d times in %s, want at most %d", batches, n, elapsed, most)
	}

	// The store cannot be read: 503, nothing stored, nothing rejected.
	e.register("payments", "api") // makes the next batch reload
	st.fail.Store(true)
	before := len(e.stored())
	_, err := v.PostResults(ctx, results.Batch{Results: []results.Result{record("during-outage", "payments", "api", "fra-test", at, true, 5)}}, false)
	if !client.IsStatus(err, 503) {
		t.Errorf("posting while the endpoints cannot be read: %v, want 503", err)
	}
	st.fail.Store(false)
	if n := len(e.stored()); n != before {
		t.Errorf("stored %d records during the outage", n-before)
	}
	ack, err := v.PostResults(ctx, results.Batch{Results: []results.Result{record("during-outage", "payments", "api", "fra-test", at, true, 5)}}, false)
	if err != nil || len(ack.Accepted) != 1 {
		t.Errorf("the same batch after the outage: %+v %v, want accepted", ack, err)
	}
}

// TestRegisteredChecksReloads covers the reload rules of the registered
// checks directly: a cached picture serves every lookup, concurrent misses
// share one reload that began after they arrived, spaced loads are at
// least the spacing apart, and an invalidation is reloaded at once.
func TestRegisteredChecksReloads(t *testing.T) {
	st := openSQLite(t)
	ctx := context.Background()
	put := func(name string, regions ...string) {
		t.Helper()
		if err := st.CreateTeam(ctx, results.Team{Name: "payments", TokenHash: []byte("x")}); err != nil && !errors.Is(err, results.ErrConflict) {
			t.Fatal(err)
		}
		if err := st.PutEndpoint(ctx, results.Endpoint{Team: "payments", Name: name, Target: "https://203.0.113.10/",
			Checks:  []json.RawMessage{json.RawMessage(`{"kind":"http"}`), json.RawMessage(`{"kind":"tls"}`), json.RawMessage(`{"kind":"http"}`)},
			Regions: regions}); err != nil {
			t.Fatal(err)
		}
	}
	var loads atomic.Int64
	rc := newRegisteredChecks(func(ctx context.Context) ([]results.Endpoint, error) {
		loads.Add(1)
		return st.Endpoints(ctx, "")
	}, func(time.Duration) {}, slog.New(slog.DiscardHandler))
	rc.spacing = 200 * time.Millisecond
	put("web", "all")

	first, err := rc.current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if cs, err := rc.current(ctx); err != nil || cs != first {
			t.Fatalf("current: %p %v, want the cached picture %p", cs, err, first)
		}
	}
	if n := loads.Load(); n != 1 {
		t.Errorf("%d loads for 6 lookups, want 1", n)
	}
	for _, tc := range []struct {
		check, kind, region, reason string
	}{
		{"web/http", "http", "eu", ""},
		{"web/tls", "tls", "eu", ""},
		{"web/http-2", "http", "eu", ""},
		{"web/http-3", "http", "eu", rejectUnregistered},
		{"web/tls", "http", "eu", rejectUnregistered},
	} {
		rec := results.Result{Team: "payments", Endpoint: "web", Check: tc.check, Kind: tc.kind}
		if reason, why := first.check(&rec, tc.region); reason != tc.reason {
			t.Errorf("%s (%s) from %s: %q %q, want %q", tc.check, tc.kind, tc.region, reason, why, tc.reason)
		}
	}

	// Concurrent misses that arrived at t share one load begun after t.
	put("api", "eu")
	arrived := time.Now()
	var wg sync.WaitGroup
	sets := make([]*checkSet, 8)
	for i := range sets {
		wg.Go(func() {
			cs, err := rc.reloaded(ctx, arrived)
			if err != nil {
				t.Error(err)
			}
			sets[i] = cs
		})
	}
	wg.Wait()
	if n := loads.Load(); n != 2 {
		t.Errorf("8 concurrent misses made %d loads in all, want 2", n)
	}
	for i, cs := range sets {
		if cs != sets[0] || cs.started.Before(arrived) || cs.started.Sub(first.started) < rc.spacing {
			t.Fatalf("miss %d got a picture begun %v after the first, want the shared one begun after the miss and ≥ %v after the first", i, cs.started.Sub(first.started), rc.spacing)
		}
	}
	rec := results.Result{Team: "payments", Endpoint: "api", Check: "api/tls", Kind: "tls"}
	if reason, why := sets[0].check(&rec, "eu"); reason != "" {
		t.Errorf("api/tls after the reload: %s", why)
	}
	if reason, _ := sets[0].check(&rec, "us"); reason != rejectNotAssigned {
		t.Errorf("api/tls from us: %q, want %q", reason, rejectNotAssigned)
	}

	// Misses one after the other: each loads, spaced.
	prev := sets[0]
	for range 3 {
		cs, err := rc.reloaded(ctx, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if gap := cs.started.Sub(prev.started); gap < rc.spacing {
			t.Errorf("loads %v apart, want at least %v", gap, rc.spacing)
		}
		prev = cs
	}

	// This collector's own change: reloaded by the next lookup, without
	// waiting for the spacing.
	n := loads.Load()
	put("db", "all")
	rc.invalidate()
	cs, err := rc.current(ctx)
	if err != nil || loads.Load() != n+1 || cs == prev {
		t.Fatalf("after invalidate: %d loads (was %d), %v", loads.Load(), n, err)
	}
	rec = results.Result{Team: "payments", Endpoint: "db", Check: "db/http", Kind: "http"}
	if reason, why := cs.check(&rec, "eu"); reason != "" {
		t.Errorf("db/http after invalidate: %s", why)
	}

	// A waiting miss gives up with its request.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := rc.reloaded(cctx, time.Now()); !errors.Is(err, context.Canceled) {
		t.Errorf("reloaded with a cancelled context: %v", err)
	}
}

// backlogStore is a real store whose compaction backlog the test sets.
type backlogStore struct {
	results.Store
	pending int64
	err     error
}

func (b backlogStore) PendingRollups(context.Context) (int64, error) { return b.pending, b.err }

// storeOnly hides every method beyond results.Store.
type storeOnly struct{ results.Store }

// /metrics shows the store's compaction backlog as the store counts it,
// and leaves it out, failing nothing else, when the store cannot say.
func TestMetricsRollupBacklog(t *testing.T) {
	for _, tc := range []struct {
		name  string
		store func(results.Store) results.Store
		want  string // "" when the gauge must be absent
	}{
		{"the embedded store, idle", func(s results.Store) results.Store { return s }, "picket_rollup_pending_batches 0\n"},
		{"batches pending", func(s results.Store) results.Store { return backlogStore{Store: s, pending: 7} }, "picket_rollup_pending_batches 7\n"},
		{"store failing", func(s results.Store) results.Store {
			return backlogStore{Store: s, err: errors.New("connection refused")}
		}, ""},
		{"a store that cannot count", func(s results.Store) results.Store { return storeOnly{s} }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnvWith(t, tc.store(openSQLite(t)))
			text := metricsText(t, e)
			if !strings.Contains(text, "picket_collector_ingest_waiting_batches 0\n") {
				t.Fatal("the scrape lacks the collector's other metrics")
			}
			if tc.want == "" {
				if strings.Contains(text, "picket_rollup_pending_batches") {
					t.Errorf("scrape shows picket_rollup_pending_batches; want it left out")
				}
				return
			}
			if !strings.Contains(text, tc.want) {
				t.Errorf("scrape lacks %q", tc.want)
			}
		})
	}
}
