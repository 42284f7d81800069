package collector

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/picketnet/picket/checks"
	"github.com/picketnet/picket/collector/api"
	"github.com/picketnet/picket/collector/client"
	"github.com/picketnet/picket/results"
)

// apiTests run against every store (see TestAPISQLite, TestAPIPostgres).
var apiTests = []struct {
	name string
	fn   func(t *testing.T, open storeOpener)
}{
	{"Unauthenticated", testUnauthenticated},
	{"Ingest", testIngest},
	{"IngestRefusesBadBatches", testIngestRefusesBadBatches},
	{"IngestConcurrentDuplicates", testIngestConcurrentDuplicates},
	{"IngestOnlyRegisteredChecks", testIngestOnlyRegisteredChecks},
	{"IngestRefusesFutureRecords", testIngestRefusesFutureRecords},
	{"IngestFollowsEndpointChanges", testIngestFollowsEndpointChanges},
	{"IngestSeesOtherReplicas", testIngestSeesOtherReplicas},
	{"VantageCannotWriteAsAnother", testVantageCannotWriteAsAnother},
	{"Heartbeat", testHeartbeat},
	{"EndpointsApply", testEndpointsApply},
	{"EndpointValidation", testEndpointValidation},
	{"TeamScoping", testTeamScoping},
	{"Assignments", testAssignments},
	{"Report", testReport},
	{"Metrics", testMetrics},
}

func TestAPISQLite(t *testing.T) {
	for _, tc := range apiTests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, openSQLite) })
	}
}

// raw sends a request and returns the status and decoded JSON error body.
func raw(t *testing.T, e *env, method, path, token string, body []byte, hdr map[string]string) (int, api.Error, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, e.hs.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var ae api.Error
	if resp.StatusCode >= 400 {
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s %s: %d with Content-Type %q, want application/json", method, path, resp.StatusCode, ct)
		}
		if err := json.Unmarshal(data, &ae); err != nil || ae.Error == "" || ae.Code == "" {
			t.Errorf("%s %s: %d with body %q, want a JSON error", method, path, resp.StatusCode, data)
		}
	}
	return resp.StatusCode, ae, data
}

func testUnauthenticated(t *testing.T, open storeOpener) {
	e := newEnv(t, open)
	ctx := context.Background()
	teamTok, err := e.admin.CreateTeam(ctx, "payments")
	if err != nil {
		t.Fatal(err)
	}
	vanTok, err := e.admin.EnrolVantage(ctx, api.EnrolVantage{ID: "v1", Region: "eu", Provider: "hetzner"})
	if err != nil {
		t.Fatal(err)
	}
	batch := []byte(`{"results":[]}`)
	tests := []struct {
		method, path, token string
		body                []byte
		want                int
	}{
		{"POST", "/v1/results", "", batch, 401},
		{"POST", "/v1/results", "pkv_wrong", batch, 401},
		{"POST", "/v1/results", teamTok.Token, batch, 403},
		{"POST", "/v1/results", testAdminToken, batch, 403},
		{"GET", "/v1/assignments", "", nil, 401},
		{"GET", "/v1/assignments", teamTok.Token, nil, 403},
		{"POST", "/v1/heartbeat", "", []byte(`{}`), 401},
		{"GET", "/v1/endpoints", "", nil, 401},
		{"GET", "/v1/endpoints", vanTok.Token, nil, 403},
		{"POST", "/v1/endpoints", "garbage", []byte(`{"endpoints":[]}`), 401},
		{"GET", "/v1/reports/availability", "", nil, 401},
		{"GET", "/v1/reports/availability", vanTok.Token, nil, 403},
		{"POST", "/v1/teams", teamTok.Token, []byte(`{"name":"evil"}`), 403},
		{"POST", "/v1/teams", "", []byte(`{"name":"evil"}`), 401},
		{"POST", "/v1/vantages", teamTok.Token, []byte(`{"id":"evil","region":"eu","provider":"x"}`), 403},
		{"POST", "/v1/vantages", vanTok.Token, []byte(`{"id":"evil","region":"eu","provider":"x"}`), 403},
		{"GET", "/v1/teams", teamTok.Token, nil, 403},
		{"GET", "/metrics", "", nil, 401},
		{"GET", "/metrics", teamTok.Token, nil, 403},
		{"GET", "/v1/nonexistent", testAdminToken, nil, 404},
		{"PUT", "/v1/results", vanTok.Token, batch, 405},
	}
	for _, tc := range tests {
		status, _, _ := raw(t, e, tc.method, tc.path, tc.token, tc.body, nil)
		if status != tc.want {
			t.Errorf("%s %s with token %.8q: status %d, want %d", tc.method, tc.path, tc.token, status, tc.want)
		}
	}
	// A 405 names the methods the path has, in the header and the error.
	for _, tc := range []struct{ method, path, allow string }{
		{"PUT", "/v1/results", "POST"},
		{"PATCH", "/v1/endpoints", "DELETE, GET, POST, HEAD"},
	} {
		req, err := http.NewRequest(tc.method, e.hs.URL+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+testAdminToken)
		resp, err := e.hs.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var ae api.Error
		err = json.NewDecoder(resp.Body).Decode(&ae)
		resp.Body.Close()
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != tc.allow || err != nil || ae.Code != api.CodeMethod ||
			!strings.HasSuffix(ae.Error, "allowed: "+tc.allow) {
			t.Errorf("%s %s: %d, Allow %q, body %+v (%v); want 405 allowing %q", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Allow"), ae, err, tc.allow)
		}
	}
	teams, err := e.store.Teams(ctx)
	if err != nil || len(teams) != 1 {
		t.Errorf("teams after refused requests = %v, %v; want only payments", teams, err)
	}
	vs, err := e.store.Vantages(ctx)
	if err != nil || len(vs) != 1 {
		t.Errorf("vantages after refused requests = %v, %v; want only v1", vs, err)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if status, _, _ := raw(t, e, "GET", p, "", nil, nil); status != 200 {
			t.Errorf("GET %s = %d, want 200", p, status)
		}
	}
}

func testIngest(t *testing.T, open storeOpener) {
	e := newEnv(t, open)
	ctx := context.Background()
	v := e.vantage("hel1", "eu-central", "hetzner")
	e.register("payments", "web")
	at := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	good := record("0192f1c4-0000-7000-8000-000000000001", "payments", "web", "hel1", at, true, 12.5)
	noRegion := record("0192f1c4-0000-7000-8000-000000000002", "payments", "web", "hel1", at.Add(time.Minute), false, 80)
	invalid := record("0192f1c4-0000-7000-8000-000000000003", "payments", "web", "hel1", at, false, 10)
	invalid.Error = &results.Error{Layer: "http", Code: "free text"}
	wrongRegion := record("0192f1c4-0000-7000-8000-000000000004", "payments", "web", "hel1", at, true, 10)
	wrongRegion.Region = "us-east"
	good.Region, good.Provider = "eu-central", "hetzner"

	for _, compress := range []bool{false, true} {
		ack, err := v.PostResults(ctx, results.Batch{Results: []results.Result{good, noRegion, invalid, wrongRegion}}, compress)
		if err != nil {
			t.Fatalf("post (gzip=%v): %v", compress, err)
		}
		if want := []string{good.ID, noRegion.ID}; !sameSet(ack.Accepted, want) {
			t.Errorf("gzip=%v: accepted %v, want %v", compress, ack.Accepted, want)
		}
		if wantDup := map[bool]int{false: 0, true: 2}[compress]; ack.Duplicate != wantDup {
			t.Errorf("gzip=%v: duplicate = %d, want %d", compress, ack.Duplicate, wantDup)
		}
		var rejected []string
		for _, r := range ack.Rejected {
			rejected = append(rejected, r.ID)
			if r.Reason == "" {
				t.Errorf("rejection of %s has no reason", r.ID)
			}
		}
		if want := []string{invalid.ID, wrongRegion.ID}; !sameSet(rejected, want) {
			t.Errorf("gzip=%v: rejected %v, want %v", compress, rejected, want)
		}
	}
	got := e.stored()
	if len(got) != 2 {
		t.Fatalf("stored %d records, want 2: %+v", len(got), got)
	}
	for _, r := range got {
		if r.Region != "eu-central" || r.Provider != "hetzner" || r.ASN != 64500 {
			t.Errorf("stored %s with region/provider/asn %q/%q/%d, want the vantage's eu-central/hetzner/64500", r.ID, r.Region, r.Provider, r.ASN)
		}
	}
}

// testIngestRefusesBadBatches: malformed, oversize and badly encoded
// bodies get a 4xx JSON error and store nothing.
func testIngestRefusesBadBatches(t *testing.T, open storeOpener) {
	e := newEnv(t, open)
	ctx := context.Background()
	out, err := e.admin.EnrolVantage(ctx, api.EnrolVantage{ID: "v1", Region: "eu", Provider: "p"})
	if err != nil {
		t.Fatal(err)
	}
	tooManyBody, bomb, big := oversizeBodies(t)
	tests := []struct {
		name string
		body []byte
		hdr  map[string]string
		want int
	}{
		{"not json", []byte(`hello`), nil, 400},
		{"truncated", []byte(`{"results":[{"id":"a"`), nil, 400},
		{"wrong shape", []byte(`{"results":{"id":"a"}}`), nil, 400},
		{"no results key", []byte(`{}`), nil, 400},
		{"bad gzip", []byte("not gzip at all"), map[string]string{"Content-Encoding": "gzip"}, 400},
		{"unknown encoding", []byte(`{"results":[]}`), map[string]string{"Content-Encoding": "br"}, 415},
		{"too many records", tooManyBody, nil, 413},
		{"too many records gzip", gzipped(t, tooManyBody), map[string]string{"Content-Encoding": "gzip"}, 413},
		{"gzip bomb", bomb, map[string]string{"Content-Encoding": "gzip"}, 413},
		{"oversize body", big, nil, 413},
	}
	for _, tc := range tests {
		status, body, _ := raw(t, e, "POST", "/v1/results", out.Token, tc.body, tc.hdr)
		if status != tc.want {
			t.Errorf("%s: status %d (%s), want %d", tc.name, status, body.Error, tc.want)
		}
	}
	if got := e.stored(); len(got) != 0 {
		t.Errorf("stored %d records from refused batches, want none", len(got))
	}
}

// oversizeBodies are built once per test binary: the API tests run once
// per store, and building 16 MiB bodies is slow under the race detector.
var oversizeBodies = func() func(t *testing.T) (tooMany, bomb, big []byte) {
	var once sync.Once
	var tooMany, bomb, big []byte
	return func(t *testing.T) ([]byte, []byte, []byte) {
		once.Do(func() {
			var b results.Batch
			at := time.Now().UTC()
			for i := range results.MaxBatchRecords + 1 {
				b.Results = append(b.Results, record(fmt.Sprintf("id-%06d", i), "t", "web", "v1", at, true, 1))
			}
			tooMany, _ = json.Marshal(b)
			// A gzip bomb: small on the wire, more than MaxBatchBytes inflated.
			bomb = gzipped(t, append([]byte(`{"results":[`), bytes.Repeat([]byte(" "), results.MaxBatchBytes+10)...))
			big = append([]byte(`{"results":[],"pad":"`), bytes.Repeat([]byte("x"), results.MaxBatchBytes+10)...)
		})
		return tooMany, bomb, big
	}
}()

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// testIngestConcurrentDuplicates sends the same batch from many
// goroutines at once: every sender gets every id acknowledged, each record
// is stored once, and exactly one sender's copy counts as new.
func testIngestConcurrentDuplicates(t *testing.T, open storeOpener) {
	e := newEnv(t, open)
	v := e.vantage("v1", "eu", "p")
	e.register("t", "web")
	at := time.Now().UTC().Truncate(time.Minute)
	var b results.Batch
	for i := range 300 {
		b.Results = append(b.Results, record(fmt.Sprintf("dup-%04d", i), "t", "web", "v1", at.Add(time.Duration(i)*time.Second), i%7 != 0, float64(i)))
	}
	const senders = 8
	acks := make([]results.BatchAck, senders)
	errs := make([]error, senders)
	var wg sync.WaitGroup
	for i := range senders {
		wg.Go(func() { acks[i], errs[i] = v.PostResults(context.Background(), b, i%2 == 0) })
	}
	wg.Wait()
	fresh := 0
	for i := range senders {
		if errs[i] != nil {
			t.Fatalf("sender %d: %v", i, errs[i])
		}
		if len(acks[i].Accepted) != len(b.Results) {
			t.Errorf("sender %d: %d accepted, want %d", i, len(acks[i].Accepted), len(b.Results))
		}
		fresh += len(acks[i].Accepted) - acks[i].Duplicate
	}
	if fresh != len(b.Results) {
		t.Errorf("records counted as new across senders = %d, want %d", fresh, len(b.Results))
	}
	if got := e.stored(); len(got) != len(b.Results) {
		t.Errorf("stored %d records, want %d", len(got), len(b.Results))
	}
	// The rollups count each record once too.
	rows, err := e.store.Availability(context.Background(), results.ReportQuery{By: results.ByVantage, Since: at.Add(-time.Hour), Until: at.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Results != int64(len(b.Results)) {
		t.Errorf("report rows %+v, want one row of %d results", rows, len(b.Results))
	}
}

func testVantageCannotWriteAsAnother(t *testing.T, open storeOpener) {
	e := newEnv(t, open)
	ctx := context.Background()
	a := e.vantage("a", "eu", "p")
	e.vantage("b", "eu", "p")
	e.register("t", "web")
	at := time.Now().UTC()
	ack, err := a.PostResults(ctx, results.Batch{Results: []results.Result{record("r1", "t", "web", "b", at, true, 1)}}, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(ack.Accepted) != 0 || len(ack.Rejected) != 1 || !strings.Contains(ack.Rejected[0].Reason, "vantage") {
		t.Errorf("ack %+v, want r1 rejected naming the vantage", ack)
	}
	if _, err := a.Heartbeat(ctx, results.Heartbeat{Vantage: "b", Version: "x"}); !client.IsStatus(err, 403) {
		t.Errorf("heartbeat as b with a's token: %v, want 403", err)
	}
	if got := e.stored(); len(got) != 0 {
		t.Errorf("stored %v, want nothing", got)
	}
	vs, _ := e.store.Vantages(ctx)
	for _, v := range vs {
		if !v.LastHeartbeat.IsZero() {
			t.Errorf("vantage %s has a heartbeat %v, want none", v.ID, v.LastHeartbeat)
		}
	}
}

func testHeartbeat(t *testing.T, open storeOpener) {
	e := newEnv(t, open)
	ctx := context.Background()
	v := e.vantage("v1", "eu", "p")
	e.vantage("v2", "us", "p")
	team := e.team("payments")
	ack, err := v.Heartbeat(ctx, results.Heartbeat{Version: "1.2.3", SpoolDepth: 42, Running: 7, Every: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if ack.HeartbeatEvery != 10*time.Second {
		t.Errorf("heartbeat ack asks every %v, want 10s", ack.HeartbeatEvery)
	}
	list, err := team.Vantages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]api.VantageStatus{}
	for _, s := range list {
		byID[s.ID] = s
	}
	if s := byID["v1"]; s.State != "live" || s.Version != "1.2.3" || s.SpoolDepth != 42 || s.Running != 7 || s.LastHeartbeat.IsZero() {
		t.Errorf("v1 = %+v, want live, version 1.2.3, spool 42, running 7", s)
	}
	if s := byID["v2"]; s.State != "never" || s.Region != "us" {
		t.Errorf("v2 = %+v, want state never in region us", s)
	}
	if _, err := v.Heartbeat(ctx, results.Heartbeat{SpoolDepth: -1}); !client.IsStatus(err, 422) {
		t.Errorf("negative spool depth: %v, want 422", err)
	}
	if _, err := e.admin.EnrolVantage(ctx, api.EnrolVantage{ID: "v1", Region: "eu", Provider: "p"}); !client.IsStatus(err, 409) {
		t.Errorf("enrolling v1 twice: %v, want 409", err)
	}
	if _, err := e.admin.EnrolVantage(ctx, api.EnrolVantage{ID: "Bad Name", Region: "eu", Provider: "p"}); !client.IsStatus(err, 422) {
		t.Errorf("enrolling a bad id: %v, want 422", err)
	}
}

func probeCheckJSON(extra string) json.RawMessage {
	return json.RawMessage(`{"kind":"probe","interval":"30s"` + extra + `}`)
}

func endpoint(name, target string, regions []string, checks ...json.RawMessage) results.Endpoint {
	return results.Endpoint{Name: name, Target: target, Checks: checks, Regions: regions}
}

func testEndpointsApply(t *testing.T, open storeOpener) {
	e := newEnv(t, open)
	ctx := context.Background()
	team := e.team("payments")
	first := api.ApplyEndpoints{Prune: true, Endpoints: []results.Endpoint{
		endpoint("web", "https://203.0.113.10/", nil, probeCheckJSON("")),
		endpoint("api", "https://203.0.113.11/health", []string{"eu"}, probeCheckJSON(`,"expect":{"status":[200]}`)),
	}}
	out, err := team.ApplyEndpoints(ctx, "", first)
	if err != nil {
		t.Fatal(err)
	}
	if got := changes(out); got != "create web, create api" {
		t.Errorf("first apply: %s", got)
	}
	// Same again: nothing changes, even with keys in another order.
	again := first
	again.Endpoints = slices.Clone(first.Endpoints)
	again.Endpoints[1].Checks = []json.RawMessage{json.RawMessage(`{"expect":{"status":[200]},"interval":"30s","kind":"probe"}`)}
	out, err = team.ApplyEndpoints(ctx, "", again)
	if err != nil {
		t.Fatal(err)
	}
	if got := changes(out); got != "" || len(out.Unchanged) != 2 {
		t.Errorf("re-apply: changes %q, unchanged %v; want none and 2", got, out.Unchanged)
	}
	// Change api, drop web, add db; dry run first.
	next := api.ApplyEndpoints{Prune: true, DryRun: true, Endpoints: []results.Endpoint{
		endpoint("api", "https://203.0.113.11/health", []string{"eu", "us"}, probeCheckJSON(`,"expect":{"status":[200,204]}`)),
		endpoint("db", "203.0.113.12:5432", nil, probeCheckJSON("")),
	}}
	out, err = team.ApplyEndpoints(ctx, "", next)
	if err != nil {
		t.Fatal(err)
	}
	want := "update api (checks, regions), create db, delete web"
	if got := changes(out); got != want || !out.DryRun {
		t.Errorf("dry run: %q, want %q", got, want)
	}
	if names := endpointNames(t, team); names != "api,web" {
		t.Errorf("after dry run: endpoints %s, want api,web unchanged", names)
	}
	next.DryRun = false
	out, err = team.ApplyEndpoints(ctx, "", next)
	if err != nil {
		t.Fatal(err)
	}
	if got := changes(out); got != want {
		t.Errorf("apply: %q, want %q", got, want)
	}
	if names := endpointNames(t, team); names != "api,db" {
		t.Errorf("after apply: endpoints %s, want api,db", names)
	}
	if err := team.DeleteEndpoint(ctx, "", "db"); err != nil {
		t.Fatal(err)
	}
	if err := team.DeleteEndpoint(ctx, "", "db"); !client.IsStatus(err, 404) {
		t.Errorf("deleting db twice: %v, want 404", err)
	}
	if names := endpointNames(t, team); names != "api" {
		t.Errorf("after delete: endpoints %s, want api", names)
	}
}

func changes(a api.Applied) string {
	var s []string
	for _, c := range a.Changes {
		line := c.Op + " " + c.Name
		if len(c.Fields) > 0 {
			line += " (" + strings.Join(c.Fields, ", ") + ")"
		}
		s = append(s, line)
	}
	return strings.Join(s, ", ")
}

func endpointNames(t *testing.T, c *client.Client) string {
	t.Helper()
	eps, err := c.Endpoints(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range eps {
		names = append(names, e.Name)
	}
	slices.Sort(names)
	return strings.Join(names, ",")
}

func testEndpointValidation(t *testing.T, open storeOpener) {
	e := newEnv(t, open)
	ctx := context.Background()
	team := e.team("payments")
	ok := endpoint("ok", "https://203.0.113.10/", nil, probeCheckJSON(""))
	tests := []struct {
		name      string
		ep        results.Endpoint
		wantField string
		wantMsg   string
	}{
		{"bad status", endpoint("checkout-api", "https://203.0.113.10/", nil, probeCheckJSON(""), probeCheckJSON(`,"expect":{"status":[200,999]}`)),
			"endpoints[1].checks[1].expect.status[1]", "endpoints[1] (checkout-api) checks[1].expect.status[1]: 999 is not an HTTP status"},
		{"unknown kind", endpoint("x", "https://203.0.113.10/", nil, json.RawMessage(`{"kind":"gopher"}`)),
			"endpoints[1].checks[0].kind", "is not one of probe"},
		{"unknown option", endpoint("x", "https://203.0.113.10/", nil, probeCheckJSON(`,"colour":"red"`)),
			"endpoints[1].checks[0].colour", "unknown field"},
		{"bad interval", endpoint("x", "https://203.0.113.10/", nil, json.RawMessage(`{"kind":"probe","interval":"soon"}`)),
			"endpoints[1].checks[0].interval", "bad duration"},
		// An explicit zero is refused; only a missing field means the default.
		{"zero interval", endpoint("x", "https://203.0.113.10/", nil, json.RawMessage(`{"kind":"probe","interval":"0s"}`)),
			"endpoints[1].checks[0].interval", "endpoints[1] (x) checks[0].interval: must be positive, got 0s"},
		{"zero timeout", endpoint("x", "https://203.0.113.10/", nil, probeCheckJSON(""), json.RawMessage(`{"kind":"probe","timeout":"0s"}`)),
			"endpoints[1].checks[1].timeout", "endpoints[1] (x) checks[1].timeout: must be positive, got 0s"},
		{"negative interval", endpoint("x", "https://203.0.113.10/", nil, json.RawMessage(`{"kind":"probe","interval":"-30s"}`)),
			"endpoints[1].checks[0].interval", "must be positive, got -30s"},
		{"null interval", endpoint("x", "https://203.0.113.10/", nil, json.RawMessage(`{"kind":"probe","interval":null}`)),
			"endpoints[1].checks[0].interval", "empty"},
		{"no checks", endpoint("x", "https://203.0.113.10/", nil), "endpoints[1].checks", "at least one check"},
		{"bad name", endpoint("Bad Name", "https://203.0.113.10/", nil, probeCheckJSON("")), "endpoints[1].name", "lower-case"},
		{"duplicate name", endpoint("ok", "https://203.0.113.10/", nil, probeCheckJSON("")), "endpoints[1].name", "duplicate of endpoints[0]"},
		{"all plus region", endpoint("x", "https://203.0.113.10/", []string{"all", "eu"}, probeCheckJSON("")), "endpoints[1].regions[0]", "cannot be combined"},
		{"loopback target", endpoint("x", "http://127.0.0.1:8080/", nil, probeCheckJSON("")), "endpoints[1].target", "denied by target policy"},
		{"metadata target", endpoint("x", "http://169.254.169.254/latest/meta-data", nil, probeCheckJSON("")), "endpoints[1].target", "denied by target policy"},
		{"rfc1918 host:port", endpoint("x", "10.1.2.3:443", nil, probeCheckJSON("")), "endpoints[1].target", "denied by target policy"},
		{"multicast", endpoint("x", "224.0.0.1", nil, probeCheckJSON("")), "endpoints[1].target", "denied by target policy"},
		{"ipv6 loopback", endpoint("x", "https://[::1]/", nil, probeCheckJSON("")), "endpoints[1].target", "denied by target policy"},
		{"file on the probers", endpoint("x", "https://203.0.113.10/", nil, probeCheckJSON(`,"ca_file":"/etc/shadow"`)), "endpoints[1].checks[0].ca_file", "put the PEM in ca_pem"},
		{"bad alert", func() results.Endpoint {
			ep := endpoint("x", "https://203.0.113.10/", nil, probeCheckJSON(""))
			ep.Alert = json.RawMessage(`{"severity":"page","quorum":0}`)
			return ep
		}(), "endpoints[1].alert.quorum", "at least 1"},
	}
	for _, tc := range tests {
		_, err := team.ApplyEndpoints(ctx, "", api.ApplyEndpoints{Prune: true, Endpoints: []results.Endpoint{ok, tc.ep}})
		var ae *client.Error
		if !errorsAs(err, &ae) || ae.Status != 422 {
			t.Errorf("%s: %v, want a 422", tc.name, err)
			continue
		}
		if ae.Body.Field != tc.wantField || !strings.Contains(ae.Body.Error, tc.wantMsg) {
			t.Errorf("%s: field %q error %q; want field %q and %q", tc.name, ae.Body.Field, ae.Body.Error, tc.wantField, tc.wantMsg)
		}
	}
	if names := endpointNames(t, team); names != "" {
		t.Errorf("invalid applies stored endpoints %s, want none", names)
	}
	status, body, _ := raw(t, e, "POST", "/v1/endpoints", testAdminToken, []byte(`{"endpoints":[]}`), nil)
	if status != 400 || !strings.Contains(body.Error, "team") {
		t.Errorf("admin apply without ?team=: %d %q, want 400 naming the team", status, body.Error)
	}
	status, body, _ = raw(t, e, "POST", "/v1/endpoints?team=payments", testAdminToken, []byte(`{"endpoints":[], "extra": 1}`), nil)
	if status != 400 || !strings.Contains(body.Error, "extra") {
		t.Errorf("unknown key: %d %q, want 400 naming it", status, body.Error)
	}
	big := append([]byte(`{"endpoints":[],"x":"`), bytes.Repeat([]byte("a"), maxEndpointsBody)...)
	if status, _, _ = raw(t, e, "POST", "/v1/endpoints?team=payments", testAdminToken, big, nil); status != 413 {
		t.Errorf("oversize apply: %d, want 413", status)
	}

	// An operator whose probers share an internal CA bundle allows ca_file.
	allowing := newEnv(t, open, func(o *Options) { o.AllowCAFiles = true })
	withFile := endpoint("intranet", "https://203.0.113.10/", nil, probeCheckJSON(`,"ca_file":"/etc/ssl/corp.pem"`))
	if _, err := allowing.team("payments").ApplyEndpoints(ctx, "", api.ApplyEndpoints{Prune: true, Endpoints: []results.Endpoint{withFile}}); err != nil {
		t.Errorf("ca_file with targets.allow_ca_files: %v", err)
	}
}

// testTeamScoping: a team sees and changes only its own endpoints and
// reports.
func testTeamScoping(t *testing.T, open storeOpener) {
	e := newEnv(t, open)
	ctx := context.Background()
	a, b := e.team("alpha"), e.team("beta")
	if _, err := a.ApplyEndpoints(ctx, "", api.ApplyEndpoints{Prune: true, Endpoints: []results.Endpoint{endpoint("web", "https://203.0.113.10/", nil, probeCheckJSON(""))}}); err != nil {
		t.Fatal(err)
	}
	v := e.vantage("v1", "eu", "p")
	at := time.Now().UTC().Add(-time.Hour)
	if _, err := v.PostResults(ctx, results.Batch{Results: []results.Result{record("r1", "alpha", "web", "v1", at, false, 5)}}, false); err != nil {
		t.Fatal(err)
	}
	if names := endpointNames(t, b); names != "" {
		t.Errorf("beta sees endpoints %q, want none", names)
	}
	// beta's declarative apply of an empty list must not delete alpha's web.
	if _, err := b.ApplyEndpoints(ctx, "", api.ApplyEndpoints{Prune: true}); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteEndpoint(ctx, "", "web"); !client.IsStatus(err, 404) {
		t.Errorf("beta deleting alpha's web: %v, want 404", err)
	}
	if err := b.DeleteEndpoint(ctx, "alpha", "web"); !client.IsStatus(err, 403) {
		t.Errorf("beta naming team alpha: %v, want 403", err)
	}
	// Check ids are made of endpoint names: beta cannot have a web too,
	// and an apply that tries applies nothing, dry run or not.
	for _, dry := range []bool{true, false} {
		_, err := b.ApplyEndpoints(ctx, "", api.ApplyEndpoints{DryRun: dry, Endpoints: []results.Endpoint{
			endpoint("shop", "https://203.0.113.20/", nil, probeCheckJSON("")),
			endpoint("web", "https://203.0.113.21/", nil, probeCheckJSON("")),
		}})
		var ae *client.Error
		if !errors.As(err, &ae) || ae.Status != 409 || ae.Body.Field != "endpoints[1].name" || ae.Body.Code != "conflict" ||
			!strings.Contains(ae.Body.Error, `another team has an endpoint named "web"`) {
			t.Errorf("beta applying a web (dry run %v): %v, want 409 on endpoints[1].name", dry, err)
		}
	}
	if names := endpointNames(t, b); names != "" {
		t.Errorf("beta's endpoints after the refused applies: %q, want none", names)
	}
	if names := endpointNames(t, a); names != "web" {
		t.Errorf("alpha's endpoints after beta's attempts: %q, want web", names)
	}
	rep, err := b.Availability(ctx, client.ReportQuery{Endpoint: "web", Since: "24h"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 0 {
		t.Errorf("beta's report shows alpha's rows: %+v", rep.Rows)
	}
	if _, err := b.Availability(ctx, client.ReportQuery{Team: "alpha", Since: "24h"}); !client.IsStatus(err, 403) {
		t.Errorf("beta asking for alpha's report: %v, want 403", err)
	}
	rep, err = a.Availability(ctx, client.ReportQuery{Since: "24h"})
	if err != nil || len(rep.Rows) != 1 || rep.Rows[0].Team != "alpha" {
		t.Errorf("alpha's own report: %+v, %v; want one row", rep.Rows, err)
	}
	rep, err = e.admin.Availability(ctx, client.ReportQuery{Since: "24h"})
	if err != nil || len(rep.Rows) != 1 {
		t.Errorf("admin report: %+v, %v; want one row", rep.Rows, err)
	}
}

func testAssignments(t *testing.T, open storeOpener) {
	e := newEnv(t, open)
	ctx := context.Background()
	pay, ops := e.team("payments"), e.team("ops")
	if _, err := pay.ApplyEndpoints(ctx, "", api.ApplyEndpoints{Prune: true, Endpoints: []results.Endpoint{
		endpoint("checkout-api", "https://203.0.113.10/", []string{"all"}, probeCheckJSON(""), json.RawMessage(`{"kind":"probe","interval":"60s"}`)),
		endpoint("eu-only", "https://203.0.113.11/", []string{"eu"}, probeCheckJSON("")),
		endpoint("us-only", "https://203.0.113.12/", []string{"us"}, probeCheckJSON("")),
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ops.ApplyEndpoints(ctx, "", api.ApplyEndpoints{Prune: true, Endpoints: []results.Endpoint{
		endpoint("dns", "203.0.113.53", []string{"eu", "us"}, probeCheckJSON("")),
	}}); err != nil {
		t.Fatal(err)
	}
	eu := e.vantage("hel1", "eu", "hetzner")
	a, notMod, err := eu.Assignment(ctx, "")
	if err != nil || notMod {
		t.Fatalf("assignment: %v, notModified=%v", err, notMod)
	}
	var got []string
	for _, c := range a.Checks {
		got = append(got, c.Team+":"+c.ID)
		if c.Target == "" || len(c.Spec) == 0 {
			t.Errorf("check %s has no target or spec", c.ID)
		}
	}
	want := []string{"ops:dns/probe", "payments:checkout-api/probe", "payments:checkout-api/probe-2", "payments:eu-only/probe"}
	if !slices.Equal(got, want) {
		t.Errorf("eu checks %v, want %v", got, want)
	}
	if a.Vantage != "hel1" || !a.Policy.DenyPrivate || a.HeartbeatEvery != 10*time.Second || a.ETag == "" {
		t.Errorf("assignment header fields %+v", a)
	}
	if !strings.Contains(string(a.Checks[2].Spec), `"60s"`) {
		t.Errorf("checkout-api/probe-2 spec %s, want the second check (60s)", a.Checks[2].Spec)
	}
	// Unchanged: 304 for the same ETag.
	if _, notMod, err = eu.Assignment(ctx, a.ETag); err != nil || !notMod {
		t.Errorf("same etag: notModified=%v, %v; want 304", notMod, err)
	}
	// A change for eu gives a new ETag; a change elsewhere leaves it.
	if _, err := pay.ApplyEndpoints(ctx, "", api.ApplyEndpoints{Endpoints: []results.Endpoint{
		endpoint("us-only", "https://203.0.113.13/", []string{"us"}, probeCheckJSON("")),
	}}); err != nil {
		t.Fatal(err)
	}
	if _, notMod, err = eu.Assignment(ctx, a.ETag); err != nil || !notMod {
		t.Errorf("after a us-only change: notModified=%v, %v; want 304 for eu", notMod, err)
	}
	if err := pay.DeleteEndpoint(ctx, "", "eu-only"); err != nil {
		t.Fatal(err)
	}
	b, notMod, err := eu.Assignment(ctx, a.ETag)
	if err != nil || notMod || b.ETag == a.ETag || len(b.Checks) != 3 {
		t.Errorf("after deleting eu-only: notModified=%v etag %s (was %s) %d checks, %v", notMod, b.ETag, a.ETag, len(b.Checks), err)
	}
	us := e.vantage("iad1", "us", "aws")
	c, _, err := us.Assignment(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Checks) != 4 {
		t.Errorf("us vantage got %d checks, want 4 (dns, checkout-api x2, us-only)", len(c.Checks))
	}
}

// testReport checks report numbers against values computed by hand from a
// fixed data set posted through the API.
func testReport(t *testing.T, open storeOpener) {
	e := newEnv(t, open)
	ctx := context.Background()
	team := e.team("payments")
	e.register("payments", "web")
	eu := e.vantage("hel1", "eu", "hetzner")
	us := e.vantage("iad1", "us", "aws")
	base := time.Now().UTC().Truncate(time.Hour).Add(-3 * time.Hour)
	var euBatch, usBatch results.Batch
	// eu: 20 minutes, one result a minute, latency 10,20,...,200 ms;
	// minutes 3 and 7 fail (http/status), minute 11 fails (connect/refused).
	for i := range 20 {
		ok := i != 3 && i != 7 && i != 11
		r := record(fmt.Sprintf("eu-%02d", i), "payments", "web", "hel1", base.Add(time.Duration(i)*time.Minute), ok, float64(10*(i+1)))
		if i == 11 {
			r.Error = &results.Error{Layer: results.LayerConnect, Code: results.CodeRefused}
		}
		euBatch.Results = append(euBatch.Results, r)
	}
	// us: 10 minutes, all fine at 50 ms.
	for i := range 10 {
		usBatch.Results = append(usBatch.Results, record(fmt.Sprintf("us-%02d", i), "payments", "web", "iad1", base.Add(time.Duration(i)*time.Minute), true, 50))
	}
	if _, err := eu.PostResults(ctx, euBatch, true); err != nil {
		t.Fatal(err)
	}
	if _, err := us.PostResults(ctx, usBatch, false); err != nil {
		t.Fatal(err)
	}
	rep, err := team.Availability(ctx, client.ReportQuery{By: "region", Since: "24h", Endpoint: "web"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 2 {
		t.Fatalf("rows %+v, want eu and us", rep.Rows)
	}
	rows := map[string]results.AvailabilityRow{}
	for _, r := range rep.Rows {
		rows[r.Group] = r
	}
	euRow, usRow := rows["eu"], rows["us"]
	if euRow.Results != 20 || euRow.Failures != 3 || euRow.FailedRounds != 3 || euRow.DowntimeMinutes != 3 {
		t.Errorf("eu counts %+v, want 20 results, 3 failures, 3 failed rounds, 3 downtime minutes", euRow)
	}
	if !near(euRow.AvailabilityPct, 85, 1e-9) {
		t.Errorf("eu availability %v, want 85", euRow.AvailabilityPct)
	}
	// Exact percentiles of 10..200 step 10 (nearest rank): p50 = 100, p95 = 190, p99 = 200.
	for _, p := range []struct {
		name      string
		got, want float64
	}{{"p50", ms(euRow.P50MS), 100}, {"p95", ms(euRow.P95MS), 190}, {"p99", ms(euRow.P99MS), 200}} {
		if !near(p.got, p.want, 0.02*p.want) {
			t.Errorf("eu %s = %v, want %v within 2%%", p.name, p.got, p.want)
		}
	}
	if euRow.TopError != "http/status" || euRow.TopErrorCount != 2 {
		t.Errorf("eu top error %q x%d, want http/status x2", euRow.TopError, euRow.TopErrorCount)
	}
	if usRow.Results != 10 || usRow.Failures != 0 || usRow.AvailabilityPct != 100 || usRow.TopError != "" || !near(ms(usRow.P99MS), 50, 1) {
		t.Errorf("us row %+v, want 10 results, 100%%, p99 50", usRow)
	}
	// By vantage and a narrower window: only minutes 0..4 of eu.
	rep, err = team.Availability(ctx, client.ReportQuery{By: "vantage", Since: base.Format(time.RFC3339), Until: base.Add(5 * time.Minute).Format(time.RFC3339)})
	if err != nil {
		t.Fatal(err)
	}
	rows = map[string]results.AvailabilityRow{}
	for _, r := range rep.Rows {
		rows[r.Group] = r
	}
	if r := rows["hel1"]; r.Results != 5 || r.Failures != 1 {
		t.Errorf("hel1 over 5 minutes: %+v, want 5 results, 1 failure", r)
	}
	if r := rows["iad1"]; r.Results != 5 || r.Failures != 0 {
		t.Errorf("iad1 over 5 minutes: %+v, want 5 results", r)
	}
	// The answer names the window its numbers are for, aligned to the
	// minute for a window this short.
	rep, err = team.Availability(ctx, client.ReportQuery{Since: base.Add(30 * time.Second).Format(time.RFC3339), Until: base.Add(270 * time.Second).Format(time.RFC3339)})
	if err != nil || !rep.Since.Equal(base.Truncate(time.Minute)) || !rep.Until.Equal(base.Truncate(time.Minute).Add(5*time.Minute)) {
		t.Errorf("window of a report over %v..%v: %v..%v (%v), want it aligned to the minute", base.Add(30*time.Second), base.Add(270*time.Second), rep.Since, rep.Until, err)
	}
	for _, q := range []string{"by=planet", "since=yesterday", "since=1h&until=2h"} {
		if status, _, _ := raw(t, e, "GET", "/v1/reports/availability?"+q, testAdminToken, nil, nil); status != 400 {
			t.Errorf("report ?%s: %d, want 400", q, status)
		}
	}
}

func testMetrics(t *testing.T, open storeOpener) {
	e := newEnv(t, open)
	ctx := context.Background()
	v := e.vantage("hel1", "eu", "hetzner")
	e.register("payments", "web")
	at := time.Now().UTC()
	batch := results.Batch{Results: []results.Result{
		record("m1", "payments", "web", "hel1", at.Add(-time.Minute), true, 100),
		record("m2", "payments", "web", "hel1", at, false, 250), // newer: wins
		record("m3", "payments", "web", "other", at, true, 1),   // refused
	}}
	if _, err := v.PostResults(ctx, batch, false); err != nil {
		t.Fatal(err)
	}
	raw(t, e, "GET", "/v1/endpoints", "", nil, nil) // one unauthorized request
	status, _, body := raw(t, e, "GET", "/metrics", testAdminToken, nil, nil)
	if status != 200 {
		t.Fatalf("metrics: %d", status)
	}
	text := string(body)
	labels := `{check="web/probe",endpoint="web",region="eu",team="payments",vantage="hel1"}`
	for _, want := range []string{
		"picket_probe_success" + labels + " 0",
		"picket_probe_duration_seconds" + labels + " 0.25",
		`picket_collector_results_ingested_total{outcome="accepted"} 2`,
		`picket_collector_rejected_results_total{reason="wrong_vantage"} 1`,
		`picket_collector_rejected_requests_total{reason="unauthorized"} 1`,
		"picket_collector_batch_results_count 1",
		`picket_collector_store_seconds_count{op="ingest"} 1`,
		"picket_probe_series 1",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func near(got, want, tol float64) bool { return got >= want-tol && got <= want+tol }

// ms is a report's latency percentile, +Inf when it has none, so that
// every comparison with a wanted latency fails.
func ms(m results.OptionalMS) float64 {
	if !m.Valid {
		return math.Inf(1)
	}
	return m.MS
}

// A spec stored before explicit zeros were refused (interval "0s", which
// then meant the default) is still assigned, and runs at the default:
// only what a team applies is checked for zeros.
func TestStoredZeroIntervalStillAssigned(t *testing.T) {
	e := newEnv(t, openSQLite)
	ctx := context.Background()
	e.team("payments")
	old := results.Endpoint{Team: "payments", Name: "old", Target: "https://203.0.113.10/", Regions: []string{"all"},
		Checks: []json.RawMessage{json.RawMessage(`{"interval":"0s","kind":"probe","timeout":"0s"}`)}, UpdatedAt: time.Now().UTC()}
	if err := e.store.PutEndpoint(ctx, old); err != nil {
		t.Fatal(err)
	}
	a, _, err := e.vantage("hel1", "eu", "hetzner").Assignment(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Checks) != 1 || a.Checks[0].ID != "old/probe" {
		t.Fatalf("assignment %+v, want the stored check", a.Checks)
	}
	p, err := checks.NewRegistry(probeKind{}).Parse(a.Checks[0].Target, a.Checks[0].Spec)
	if err != nil || p.Spec.Interval.Std() != checks.DefaultInterval {
		t.Errorf("the stored spec parses as %+v, %v; want the default interval", p.Spec, err)
	}
}
