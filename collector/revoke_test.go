package collector

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/picketnet/picket/alerting"
	"github.com/picketnet/picket/alerting/notify"
	"github.com/picketnet/picket/collector/api"
	"github.com/picketnet/picket/collector/client"
	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/vantage"
)

// revokeTests run against every store (TestRevokeSQLite, TestRevokePostgres).
var revokeTests = []struct {
	name string
	fn   func(t *testing.T, open storeOpener)
}{
	{"RotateVantageToken", testRotateVantageToken},
	{"RotateTeamToken", testRotateTeamToken},
	{"RemoveVantage", testRemoveVantage},
	{"RemoveTeam", testRemoveTeam},
	{"RevokeRefusals", testRevokeRefusals},
}

func TestRevokeSQLite(t *testing.T) {
	for _, tc := range revokeTests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, openSQLite) })
	}
}

func TestRevokePostgres(t *testing.T) {
	for _, tc := range revokeTests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, openPostgresStore) })
	}
}

// vantageRequest is one request a prober makes; body makes it unique so
// that it can be sent many times.
type vantageRequest struct {
	method, path string
	body         func(n int) []byte
}

func vantageRequests(id string) []vantageRequest {
	return []vantageRequest{
		{"POST", "/v1/results", func(n int) []byte {
			b, _ := json.Marshal(results.Batch{Results: []results.Result{
				record(fmt.Sprintf("%s-%d", id, n), "payments", "web", id, time.Now().UTC().Add(-time.Minute), true, 20),
			}})
			return b
		}},
		{"GET", "/v1/assignments", func(int) []byte { return nil }},
		{"POST", "/v1/heartbeat", func(int) []byte { return []byte(`{"version":"test"}`) }},
	}
}

// expect sends every request with token and checks the status: 2xx when
// ok, else 401 with a JSON error (raw checks the body is one).
func expect(t *testing.T, e *env, reqs []vantageRequest, token, what string, ok bool, n *int) {
	t.Helper()
	for _, rq := range reqs {
		*n++
		status, ae, body := raw(t, e, rq.method, rq.path, token, rq.body(*n), nil)
		switch {
		case ok && (status < 200 || status > 299):
			t.Errorf("%s: %s %s = %d %s, want 2xx", what, rq.method, rq.path, status, body)
		case !ok && (status != http.StatusUnauthorized || ae.Code != api.CodeUnauthorized):
			t.Errorf("%s: %s %s = %d %+v, want 401 unauthorized", what, rq.method, rq.path, status, ae)
		case ok && rq.path == "/v1/results":
			var ack results.BatchAck
			if err := json.Unmarshal(body, &ack); err != nil || len(ack.Accepted) != 1 || len(ack.Rejected) != 0 {
				t.Errorf("%s: %s %s answered %s, want the record accepted", what, rq.method, rq.path, body)
			}
		}
	}
}

func testRotateVantageToken(t *testing.T, open storeOpener) {
	e := newEnv(t, open)
	ctx := context.Background()
	out, err := e.admin.EnrolVantage(ctx, api.EnrolVantage{ID: "hel1", Region: "eu", Provider: "hetzner", ASN: 24940})
	if err != nil {
		t.Fatal(err)
	}
	other := e.vantage("iad1", "us", "aws")
	e.register("payments", "web")
	before, err := e.store.Vantages(ctx)
	if err != nil || len(before) != 2 || before[0].ID != "hel1" {
		t.Fatalf("vantages: %+v %v", before, err)
	}
	reqs := vantageRequests("hel1")
	n := 0
	// The old token works, and is now in the collector's token cache.
	expect(t, e, reqs, out.Token, "before rotation", true, &n)

	rot, err := e.admin.RotateVantageToken(ctx, "hel1")
	if err != nil {
		t.Fatalf("rotate: %v", err)
	}
	if rot.Vantage != "hel1" || !strings.HasPrefix(rot.Token, "pkv_") || rot.Token == out.Token {
		t.Fatalf("rotate answered %+v, want a new pkv_ token for hel1", rot)
	}
	expect(t, e, reqs, out.Token, "old token after rotation", false, &n)
	expect(t, e, reqs, rot.Token, "new token", true, &n)
	// Rotating again retires the second token too.
	rot2, err := e.admin.RotateVantageToken(ctx, "hel1")
	if err != nil {
		t.Fatal(err)
	}
	expect(t, e, reqs, rot.Token, "second token after another rotation", false, &n)
	expect(t, e, reqs, rot2.Token, "third token", true, &n)
	// Another vantage is not affected.
	if _, _, err := other.Assignment(ctx, ""); err != nil {
		t.Errorf("other vantage after rotation: %v", err)
	}

	// The vantage kept its identity and history: the results sent with
	// the old token and with the new ones are all its own.
	vs, err := e.store.Vantages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(vs, func(v results.Vantage) bool { return v.ID == "hel1" })
	if i < 0 || vs[i].Region != "eu" || vs[i].Provider != "hetzner" || vs[i].ASN != 24940 ||
		!vs[i].CreatedAt.Equal(before[0].CreatedAt) || vs[i].Version != "test" {
		t.Errorf("vantage after rotations: %+v, want hel1 eu/hetzner/AS24940 created %v, heartbeat version test", vs, before[0].CreatedAt)
	}
	rs, err := e.store.Query(ctx, results.ResultQuery{Vantage: "hel1"})
	if err != nil || len(rs) != 3 {
		t.Errorf("hel1 results: %d, %v; want 3 (old token, new token, third token)", len(rs), err)
	}
	for _, r := range rs {
		if r.Region != "eu" || r.Provider != "hetzner" {
			t.Errorf("result %s stored as %s/%s, want eu/hetzner", r.ID, r.Region, r.Provider)
		}
	}
}

func testRotateTeamToken(t *testing.T, open storeOpener) {
	e := newEnv(t, open)
	ctx := context.Background()
	created, err := e.admin.CreateTeam(ctx, "payments")
	if err != nil {
		t.Fatal(err)
	}
	old := e.client(created.Token)
	if _, err := old.ApplyEndpoints(ctx, "", api.ApplyEndpoints{Prune: true, Endpoints: []results.Endpoint{
		endpoint("checkout-api", "https://203.0.113.10/", []string{"all"}, probeCheckJSON("")),
	}}); err != nil {
		t.Fatal(err)
	}
	ops := e.team("ops")
	list := func(token string) (int, api.Error, []results.Endpoint) {
		t.Helper()
		status, ae, body := raw(t, e, "GET", "/v1/endpoints", token, nil, nil)
		var out api.Endpoints
		if status == http.StatusOK {
			if err := json.Unmarshal(body, &out); err != nil {
				t.Fatalf("GET /v1/endpoints: %v in %s", err, body)
			}
		}
		return status, ae, out.Endpoints
	}
	if status, _, _ := list(created.Token); status != http.StatusOK {
		t.Fatalf("before rotation: %d", status)
	}
	before, err := e.admin.Teams(ctx)
	if err != nil || len(before) != 2 {
		t.Fatalf("teams: %+v %v", before, err)
	}

	rot, err := e.admin.RotateTeamToken(ctx, "payments")
	if err != nil {
		t.Fatalf("rotate: %v", err)
	}
	if rot.Team != "payments" || !strings.HasPrefix(rot.Token, TeamTokenPrefix) || rot.Token == created.Token {
		t.Fatalf("rotate answered %+v, want a new %s token for payments", rot, TeamTokenPrefix)
	}
	tests := []struct {
		name, token string
		want        int
		endpoints   []string
	}{
		{"old token", created.Token, http.StatusUnauthorized, nil},
		{"new token", rot.Token, http.StatusOK, []string{"payments/checkout-api"}},
	}
	for _, tc := range tests {
		status, ae, eps := list(tc.token)
		if status != tc.want {
			t.Errorf("%s: GET /v1/endpoints = %d %+v, want %d", tc.name, status, ae, tc.want)
		}
		if status == http.StatusUnauthorized && ae.Code != api.CodeUnauthorized {
			t.Errorf("%s: error code %q, want %q", tc.name, ae.Code, api.CodeUnauthorized)
		}
		var got []string
		for _, ep := range eps {
			got = append(got, ep.Team+"/"+ep.Name)
		}
		if !slices.Equal(got, tc.endpoints) {
			t.Errorf("%s: endpoints %v, want %v", tc.name, got, tc.endpoints)
		}
	}
	// The client API says so too, and other teams are not affected.
	if _, err := old.Endpoints(ctx, ""); !client.IsStatus(err, http.StatusUnauthorized) {
		t.Errorf("old token through the client: %v, want 401", err)
	}
	if _, err := ops.Endpoints(ctx, ""); err != nil {
		t.Errorf("another team after the rotation: %v", err)
	}
	teams, err := e.admin.Teams(ctx)
	if err != nil || !slices.EqualFunc(teams, before, func(a, b results.Team) bool { return a.Name == b.Name && a.CreatedAt.Equal(b.CreatedAt) }) {
		t.Errorf("teams after rotation: %+v %v, want them unchanged: %+v", teams, err, before)
	}
}

func testRemoveVantage(t *testing.T, open storeOpener) {
	e := newEnv(t, open)
	ctx := context.Background()
	team := e.team("payments")
	e.register("payments", "web")
	out, err := e.admin.EnrolVantage(ctx, api.EnrolVantage{ID: "hel1", Region: "eu", Provider: "hetzner"})
	if err != nil {
		t.Fatal(err)
	}
	hel := e.client(out.Token)
	iad := e.vantage("iad1", "us", "aws")
	base := time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)
	var helBatch, iadBatch results.Batch
	for i := range 10 {
		at := base.Add(time.Duration(i) * time.Minute)
		helBatch.Results = append(helBatch.Results, record(fmt.Sprintf("hel-%02d", i), "payments", "web", "hel1", at, i != 4, 20))
		iadBatch.Results = append(iadBatch.Results, record(fmt.Sprintf("iad-%02d", i), "payments", "web", "iad1", at, true, 30))
	}
	for _, p := range []struct {
		c *client.Client
		b results.Batch
	}{{hel, helBatch}, {iad, iadBatch}} {
		if ack, err := p.c.PostResults(ctx, p.b, true); err != nil || len(ack.Accepted) != 10 {
			t.Fatalf("post: %+v %v", ack, err)
		}
	}
	if _, _, err := hel.Assignment(ctx, ""); err != nil { // and the token is cached
		t.Fatal(err)
	}

	removed, err := e.admin.RemoveVantage(ctx, "hel1")
	if err != nil || removed.Vantage != "hel1" {
		t.Fatalf("remove: %+v %v", removed, err)
	}
	n := 100
	expect(t, e, vantageRequests("hel1"), out.Token, "removed vantage", false, &n)
	if _, _, err := iad.Assignment(ctx, ""); err != nil {
		t.Errorf("the other vantage after the removal: %v", err)
	}

	// Gone from the list, for the operator and for teams.
	for name, c := range map[string]*client.Client{"admin": e.admin, "team": team} {
		vs, err := c.Vantages(ctx)
		var ids []string
		for _, v := range vs {
			ids = append(ids, v.ID)
		}
		if err != nil || !slices.Equal(ids, []string{"iad1"}) {
			t.Errorf("%s: vantages after removal %v, %v; want [iad1]", name, ids, err)
		}
	}

	// Its past results stay in the availability report.
	rep, err := team.Availability(ctx, client.ReportQuery{By: "vantage", Since: "24h", Endpoint: "web"})
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]results.AvailabilityRow{}
	for _, r := range rep.Rows {
		rows[r.Group] = r
	}
	if r := rows["hel1"]; len(rep.Rows) != 2 || r.Results != 10 || r.Failures != 1 || !near(r.AvailabilityPct, 90, 1e-9) {
		t.Errorf("report by vantage after removal: %+v; want hel1 with 10 results, 1 failure, 90%%", rep.Rows)
	}
	if r := rows["iad1"]; r.Results != 10 || r.Failures != 0 {
		t.Errorf("iad1 row %+v, want 10 results, no failures", r)
	}
	rep, err = team.Availability(ctx, client.ReportQuery{By: "region", Since: "24h", Endpoint: "web"})
	if err != nil || len(rep.Rows) != 2 {
		t.Errorf("report by region after removal: %+v %v; want eu and us", rep.Rows, err)
	}

	// The id can be enrolled again: a new token, a fresh record; the old
	// token stays dead, and the new vantage's results join the old ones.
	again, err := e.admin.EnrolVantage(ctx, api.EnrolVantage{ID: "hel1", Region: "eu", Provider: "hetzner"})
	if err != nil {
		t.Fatalf("enrol hel1 again: %v", err)
	}
	if again.Token == out.Token {
		t.Fatal("re-enrolment reused the old token")
	}
	expect(t, e, vantageRequests("hel1"), out.Token, "the removed token after re-enrolment", false, &n)
	expect(t, e, vantageRequests("hel1"), again.Token, "the re-enrolled vantage", true, &n)
	rs, err := e.store.Query(ctx, results.ResultQuery{Vantage: "hel1"})
	if err != nil || len(rs) != 11 {
		t.Errorf("hel1 results after re-enrolment: %d, %v; want 10 old + 1 new", len(rs), err)
	}
}

// testRemoveTeam removes a team through the API: its token is refused at
// once on every team route, its endpoints leave the probers' assignments
// and its silences are gone, another team keeps everything, and its past
// results stay for a team created again under the name.
func testRemoveTeam(t *testing.T, open storeOpener) {
	e := newEnv(t, open)
	e.srv.MountAlerts(alerting.NewService(e.store, alerting.Config{}, nil, alerting.Options{}))
	ctx := context.Background()
	created, err := e.admin.CreateTeam(ctx, "payments")
	if err != nil {
		t.Fatal(err)
	}
	payments, ops := e.client(created.Token), e.team("ops")
	hel := e.vantage("hel1", "eu", "hetzner")
	for _, reg := range []struct {
		c   *client.Client
		eps []results.Endpoint
	}{
		{payments, []results.Endpoint{
			endpoint("checkout-api", "https://203.0.113.10/", []string{"all"}, probeCheckJSON("")),
			endpoint("web", "https://203.0.113.11/", []string{"eu"}, probeCheckJSON("")),
		}},
		{ops, []results.Endpoint{endpoint("status", "https://203.0.113.20/", []string{"all"}, probeCheckJSON(""))}},
	} {
		if _, err := reg.c.ApplyEndpoints(ctx, "", api.ApplyEndpoints{Prune: true, Endpoints: reg.eps}); err != nil {
			t.Fatal(err)
		}
		if _, err := reg.c.AddSilence(ctx, "", api.NewSilence{Endpoint: reg.eps[0].Name, For: "2h", Reason: "deploy"}); err != nil {
			t.Fatal(err)
		}
	}
	// A maintenance window to come, which must not outlive the team.
	if _, err := payments.AddSilence(ctx, "", api.NewSilence{Endpoint: "web", StartsAt: time.Now().Add(24 * time.Hour), For: "1h", Reason: "migration"}); err != nil {
		t.Fatal(err)
	}
	var batch results.Batch
	base := time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)
	for i := range 10 {
		batch.Results = append(batch.Results, record(fmt.Sprintf("pay-%02d", i), "payments", "checkout-api", "hel1", base.Add(time.Duration(i)*time.Minute), i != 4, 20))
	}
	if ack, err := hel.PostResults(ctx, batch, true); err != nil || len(ack.Accepted) != 10 {
		t.Fatalf("post: %+v %v", ack, err)
	}
	checkIDs := func(a vantage.Assignment) []string {
		var ids []string
		for _, c := range a.Checks {
			ids = append(ids, c.Team+"/"+c.ID)
		}
		return ids
	}
	before, _, err := hel.Assignment(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := checkIDs(before), []string{"ops/status/probe", "payments/checkout-api/probe", "payments/web/probe"}; !slices.Equal(got, want) {
		t.Fatalf("assignment before removal: %v, want %v", got, want)
	}
	// The team's token works, and is now in the collector's token cache.
	teamRoutes := []struct{ method, path string }{
		{"GET", "/v1/endpoints"},
		{"POST", "/v1/endpoints"},
		{"DELETE", "/v1/endpoints/web"},
		{"GET", "/v1/reports/availability?by=region"},
		{"GET", "/v1/vantages"},
		{"GET", "/v1/alerts"},
		{"GET", "/v1/silences"},
	}
	if status, _, body := raw(t, e, "GET", "/v1/endpoints", created.Token, nil, nil); status != http.StatusOK {
		t.Fatalf("before removal: %d %s", status, body)
	}

	removed, err := e.admin.RemoveTeam(ctx, "payments")
	if err != nil || removed != (api.TeamRemoved{Team: "payments", EndpointsDeleted: 2}) {
		t.Fatalf("remove: %+v %v; want payments with 2 endpoints deleted", removed, err)
	}
	for _, rt := range teamRoutes {
		status, ae, _ := raw(t, e, rt.method, rt.path, created.Token, []byte(`{"endpoints":[]}`), nil)
		if status != http.StatusUnauthorized || ae.Code != api.CodeUnauthorized || ae.Error != "unknown token" {
			t.Errorf("removed team's token: %s %s = %d %+v, want 401 unknown token", rt.method, rt.path, status, ae)
		}
	}

	// Probers get the other team's checks only, at their next fetch.
	after, notModified, err := hel.Assignment(ctx, before.ETag)
	if err != nil || notModified {
		t.Fatalf("assignment after removal: not modified %v, %v; want a new one", notModified, err)
	}
	if got := checkIDs(after); !slices.Equal(got, []string{"ops/status/probe"}) {
		t.Errorf("assignment after removal: %v, want [ops/status/probe]", got)
	}
	// Every team's endpoints and silences are the remaining team's; the
	// removed team is no team to name with ?team= any more.
	eps, err := e.admin.Endpoints(ctx, "")
	var names []string
	for _, ep := range eps {
		names = append(names, ep.Team+"/"+ep.Name)
	}
	if err != nil || !slices.Equal(names, []string{"ops/status"}) {
		t.Errorf("every team's endpoints after removal: %v %v, want [ops/status]", names, err)
	}
	if ss, err := e.admin.Silences(ctx, ""); err != nil || len(ss) != 1 || ss[0].Team != "ops" {
		t.Errorf("every team's silences after removal: %+v %v, want ops' one", ss, err)
	}
	if _, err := e.admin.Endpoints(ctx, "payments"); !client.IsStatus(err, http.StatusNotFound) {
		t.Errorf("the removed team's endpoints: %v, want 404", err)
	}
	if _, err := e.admin.Silences(ctx, "payments"); !client.IsStatus(err, http.StatusNotFound) {
		t.Errorf("the removed team's silences: %v, want 404", err)
	}
	if _, err := ops.Endpoints(ctx, ""); err != nil {
		t.Errorf("the other team's token after the removal: %v", err)
	}
	teams, err := e.admin.Teams(ctx)
	if err != nil || len(teams) != 1 || teams[0].Name != "ops" {
		t.Errorf("teams after removal: %+v %v, want only ops", teams, err)
	}

	// The name may be used again: a new token, nothing registered, and
	// the past results of the name in its reports.
	again, err := e.admin.CreateTeam(ctx, "payments")
	if err != nil {
		t.Fatalf("create payments again: %v", err)
	}
	status, _, _ := raw(t, e, "GET", "/v1/endpoints", created.Token, nil, nil)
	if status != http.StatusUnauthorized {
		t.Errorf("the removed token after the team came back: %d, want 401", status)
	}
	back := e.client(again.Token)
	if eps, err := back.Endpoints(ctx, ""); err != nil || len(eps) != 0 {
		t.Errorf("endpoints of the team created again: %+v %v, want none", eps, err)
	}
	rep, err := back.Availability(ctx, client.ReportQuery{By: "region", Since: "24h"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 1 || rep.Rows[0].Endpoint != "checkout-api" || rep.Rows[0].Results != 10 || rep.Rows[0].Failures != 1 {
		t.Errorf("report of the team created again: %+v; want checkout-api with its 10 past results, 1 failure", rep.Rows)
	}
}

func testRevokeRefusals(t *testing.T, open storeOpener) {
	e := newEnv(t, open)
	ctx := context.Background()
	team, err := e.admin.CreateTeam(ctx, "payments")
	if err != nil {
		t.Fatal(err)
	}
	van, err := e.admin.EnrolVantage(ctx, api.EnrolVantage{ID: "hel1", Region: "eu", Provider: "hetzner"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method, path, token string
		want                int
		code, mentions      string
	}{
		{"POST", "/v1/vantages/ghost/token", testAdminToken, 404, api.CodeNotFound, `"ghost"`},
		{"DELETE", "/v1/vantages/ghost", testAdminToken, 404, api.CodeNotFound, `"ghost"`},
		{"POST", "/v1/teams/ghost/token", testAdminToken, 404, api.CodeNotFound, `"ghost"`},
		{"POST", "/v1/teams/HEL1/token", testAdminToken, 404, api.CodeNotFound, `"HEL1"`},
		{"POST", "/v1/vantages/hel1/token", "", 401, api.CodeUnauthorized, "token"},
		{"DELETE", "/v1/vantages/hel1", "pkv_wrong", 401, api.CodeUnauthorized, "token"},
		{"POST", "/v1/vantages/hel1/token", team.Token, 403, api.CodeForbidden, "admin token"},
		{"POST", "/v1/vantages/hel1/token", van.Token, 403, api.CodeForbidden, "admin token"},
		{"DELETE", "/v1/vantages/hel1", van.Token, 403, api.CodeForbidden, "admin token"},
		{"DELETE", "/v1/vantages/hel1", team.Token, 403, api.CodeForbidden, "admin token"},
		{"POST", "/v1/teams/payments/token", team.Token, 403, api.CodeForbidden, "admin token"},
		{"DELETE", "/v1/teams/ghost", testAdminToken, 404, api.CodeNotFound, `"ghost"`},
		{"DELETE", "/v1/teams/PAYMENTS", testAdminToken, 404, api.CodeNotFound, `"PAYMENTS"`},
		{"DELETE", "/v1/teams/payments", "", 401, api.CodeUnauthorized, "token"},
		{"DELETE", "/v1/teams/payments", "pkt_wrong", 401, api.CodeUnauthorized, "token"},
		{"DELETE", "/v1/teams/payments", team.Token, 403, api.CodeForbidden, "admin token"},
		{"DELETE", "/v1/teams/payments", van.Token, 403, api.CodeForbidden, "admin token"},
		{"PUT", "/v1/teams/payments", testAdminToken, 405, api.CodeMethod, "PUT"},
		{"GET", "/v1/vantages/hel1/token", testAdminToken, 405, api.CodeMethod, "GET"},
		{"PUT", "/v1/vantages/hel1", testAdminToken, 405, api.CodeMethod, "PUT"},
	}
	for _, tc := range tests {
		status, ae, _ := raw(t, e, tc.method, tc.path, tc.token, nil, nil)
		if status != tc.want || ae.Code != tc.code || !strings.Contains(ae.Error, tc.mentions) {
			t.Errorf("%s %s with token %.8q: %d %+v, want %d %s mentioning %s", tc.method, tc.path, tc.token, status, ae, tc.want, tc.code, tc.mentions)
		}
	}
	// None of the refused requests changed a token.
	if _, _, err := e.client(van.Token).Assignment(ctx, ""); err != nil {
		t.Errorf("vantage token after refused requests: %v", err)
	}
	if _, err := e.client(team.Token).Endpoints(ctx, ""); err != nil {
		t.Errorf("team token after refused requests: %v", err)
	}
	// Removing twice: the second is a 404.
	if _, err := e.admin.RemoveVantage(ctx, "hel1"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.admin.RemoveVantage(ctx, "hel1"); !client.IsStatus(err, http.StatusNotFound) {
		t.Errorf("removing hel1 twice: %v, want 404", err)
	}
	if _, err := e.admin.RotateVantageToken(ctx, "hel1"); !client.IsStatus(err, http.StatusNotFound) {
		t.Errorf("new token for a removed vantage: %v, want 404", err)
	}
	if _, err := e.admin.RemoveTeam(ctx, "payments"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.admin.RemoveTeam(ctx, "payments"); !client.IsStatus(err, http.StatusNotFound) {
		t.Errorf("removing payments twice: %v, want 404", err)
	}
	if _, err := e.admin.RotateTeamToken(ctx, "payments"); !client.IsStatus(err, http.StatusNotFound) {
		t.Errorf("new token for a removed team: %v, want 404", err)
	}
}

// A lookup that read the store before a token was revoked must not put
// what it read in the cache after the revocation.
func TestAuthCacheForgetDuringLookup(t *testing.T) {
	now := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	c := newAuthCache(func() time.Time { return now })
	hel := Principal{Vantage: &results.Vantage{ID: "hel1"}}
	iad := Principal{Vantage: &results.Vantage{ID: "iad1"}}
	pay := Principal{Team: "payments"}
	gen := c.generation()
	c.put([]byte("h-hel"), hel, gen)
	c.put([]byte("h-iad"), iad, gen)
	c.put([]byte("h-pay"), pay, gen)

	inFlight := c.generation() // a lookup of h-hel-old starts
	c.forget(func(p Principal) bool { return p.Vantage != nil && p.Vantage.ID == "hel1" })
	c.put([]byte("h-hel-old"), hel, inFlight) // and ends after the revocation

	for _, tc := range []struct {
		hash   string
		cached bool
	}{{"h-hel", false}, {"h-hel-old", false}, {"h-iad", true}, {"h-pay", true}} {
		if _, ok := c.get([]byte(tc.hash)); ok != tc.cached {
			t.Errorf("%s cached = %v, want %v", tc.hash, ok, tc.cached)
		}
	}
	c.forget(func(p Principal) bool { return p.Team == "payments" })
	if _, ok := c.get([]byte("h-pay")); ok {
		t.Error("team payments still cached after forget")
	}
	if _, ok := c.get([]byte("h-iad")); !ok {
		t.Error("iad1 forgotten with the team")
	}
}

// BenchmarkAuthCacheForget is what a rotation or removal costs the token
// cache when it is full: forget holds the lock that every authenticated
// request takes while it scans the entries.
func BenchmarkAuthCacheForget(b *testing.B) {
	c := newAuthCache(time.Now)
	gen := c.generation()
	for i := range authCacheSize - 1 {
		c.put([]byte(fmt.Sprintf("h-%d", i)), Principal{Vantage: &results.Vantage{ID: fmt.Sprintf("v%d", i)}}, gen)
	}
	for b.Loop() {
		c.forget(func(p Principal) bool { return p.Vantage != nil && p.Vantage.ID == "absent" })
	}
}

// TestRemoveTeamResolvesItsAlerts runs the collector's alerting over the
// real store while a team is removed: the team's firing outage resolves at
// the next evaluation, with a resolve notification, because its endpoint
// is gone; its alert stays in the history; another team's outage goes on
// untouched. Results its probers measured before their next assignment
// fetch are still accepted.
func TestRemoveTeamResolvesItsAlerts(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	now := time.Now().UTC().Truncate(time.Second)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	var sent []notify.WebhookPayload
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p notify.WebhookPayload
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		mu.Lock()
		sent = append(sent, p)
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	delivered := func() []string {
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for _, p := range sent {
			out = append(out, p.Status+" "+p.Team+"/"+p.Endpoint)
		}
		sent = nil
		return out
	}

	e := newEnv(t, openSQLite, func(o *Options) { o.Now = clock })
	svc := alerting.NewService(e.store, alerting.Config{}, []alerting.Route{{Name: "hook", Sender: notify.Webhook{URL: hook.URL}}},
		alerting.Options{Now: clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	e.srv.MountAlerts(svc)
	eps := map[string]string{"payments": "checkout-api", "ops": "status"}
	for team, ep := range eps {
		if _, err := e.team(team).ApplyEndpoints(ctx, "", api.ApplyEndpoints{Endpoints: []results.Endpoint{
			endpoint(ep, "https://203.0.113.10/", []string{"all"}, probeCheckJSON("")),
		}}); err != nil {
			t.Fatal(err)
		}
	}
	probers := map[string]*client.Client{"eu-1": e.vantage("eu-1", "eu", "hetzner"), "us-1": e.vantage("us-1", "us", "aws")}
	n := 0
	// round is 30 s of the network: every vantage heartbeats and reports
	// both endpoints down; then alerting evaluates.
	round := func() {
		t.Helper()
		mu.Lock()
		now = now.Add(30 * time.Second)
		at := now
		mu.Unlock()
		for id, p := range probers {
			if _, err := p.Heartbeat(ctx, results.Heartbeat{Every: 10 * time.Second, Version: "test"}); err != nil {
				t.Fatal(err)
			}
			var b results.Batch
			for team, ep := range eps {
				n++
				b.Results = append(b.Results, record(fmt.Sprintf("r-%04d", n), team, ep, id, at.Add(-time.Millisecond), false, 10000))
			}
			if ack, err := p.PostResults(ctx, b, false); err != nil || len(ack.Accepted) != len(b.Results) {
				t.Fatalf("post at %v: %+v %v; want every result accepted", at, ack, err)
			}
		}
		if err := svc.Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}

	for range 3 { // down twice (fail_after 2) fires; the third passes the warm-up
		round()
	}
	got := delivered()
	slices.Sort(got)
	if want := []string{"firing ops/status", "firing payments/checkout-api"}; !slices.Equal(got, want) {
		t.Fatalf("notifications of the outages: %q, want %q", got, want)
	}

	if _, err := e.admin.RemoveTeam(ctx, "payments"); err != nil {
		t.Fatal(err)
	}
	round() // the probers have not fetched their assignments yet
	if got, want := delivered(), []string{"resolved payments/checkout-api"}; !slices.Equal(got, want) {
		t.Errorf("notifications after the removal: %q, want %q", got, want)
	}
	round()
	if got := delivered(); len(got) != 0 {
		t.Errorf("notifications a round later: %q, want none", got)
	}
	// The removed team's alert history stays, in every team's alerts (the
	// team itself is no longer one to name with ?team=).
	all, err := e.admin.Alerts(ctx, "", "1h")
	if err != nil {
		t.Fatal(err)
	}
	for team, want := range map[string]alerting.State{"payments": alerting.StateResolved, "ops": alerting.StateFiring} {
		var as []alerting.Alert
		for _, a := range all {
			if a.Team == team {
				as = append(as, a)
			}
		}
		if len(as) != 1 || as[0].State != want || as[0].Endpoint != eps[team] {
			t.Errorf("%s's alerts after the removal: %+v; want its one outage, %s", team, as, want)
		}
	}
}
