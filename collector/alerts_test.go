package collector

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/picketnet/picket/alerting"
	"github.com/picketnet/picket/collector/api"
	"github.com/picketnet/picket/collector/client"
	"github.com/picketnet/picket/results"
)

// The alerts API answers from the alerting service over the real store,
// and keeps each team to its own alerts and silences.
func TestAlertsAPI(t *testing.T) {
	e := newEnv(t, openSQLite)
	svc := alerting.NewService(e.store, alerting.Config{}, nil, alerting.Options{})
	e.srv.MountAlerts(svc)
	payments, search := e.team("payments"), e.team("search")
	ctx := context.Background()

	now := time.Now().UTC().Truncate(time.Second)
	for _, a := range []alerting.Alert{
		{Key: "reachability/payments/checkout/http", Type: alerting.TypeOutage, Severity: alerting.SeverityPage,
			State: alerting.StateFiring, Team: "payments", Endpoint: "checkout", Summary: "checkout: HTTPS connect/timeout from all regions",
			StartsAt: now.Add(-time.Minute), UpdatedAt: now},
		{Key: "latency/search/query/http", Type: alerting.TypeLatency, Severity: alerting.SeverityPage,
			State: alerting.StateFiring, Team: "search", Endpoint: "query", Summary: "query: slow", StartsAt: now, UpdatedAt: now},
	} {
		body, _ := json.Marshal(a)
		rec := results.AlertRecord{Key: a.Key, StartsAt: a.StartsAt, Team: a.Team, Endpoint: a.Endpoint, Type: string(a.Type),
			Severity: string(a.Severity), State: string(a.State), UpdatedAt: a.UpdatedAt, Body: body}
		if err := e.store.RecordAlerts(ctx, []results.AlertRecord{rec}, nil); err != nil {
			t.Fatal(err)
		}
	}

	got, err := payments.Alerts(ctx, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Key != "reachability/payments/checkout/http" || got[0].Summary == "" {
		t.Fatalf("payments sees %+v", got)
	}
	if all, err := e.admin.Alerts(ctx, "", ""); err != nil || len(all) != 2 {
		t.Fatalf("admin sees %d alerts, %v", len(all), err)
	}
	if _, err := payments.Alerts(ctx, "search", ""); !client.IsStatus(err, http.StatusForbidden) {
		t.Fatalf("payments reading search's alerts: %v", err)
	}
	if _, err := payments.Alerts(ctx, "", "forever"); !client.IsStatus(err, http.StatusBadRequest) {
		t.Fatalf("bad window: %v", err)
	}

	for _, ep := range []results.Endpoint{
		{Team: "payments", Name: "checkout", Target: "https://203.0.113.10/", Regions: []string{"all"}},
		{Team: "search", Name: "query", Target: "https://203.0.113.20/", Regions: []string{"all"}},
	} {
		if err := e.store.PutEndpoint(ctx, ep); err != nil {
			t.Fatal(err)
		}
	}
	e.vantage("hel1", "eu-central", "hetzner")

	s, err := payments.AddSilence(ctx, "", api.NewSilence{Endpoint: "checkout", For: "2h", Reason: "deploy"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Team != "payments" || s.EndsAt.Sub(s.StartsAt) != 2*time.Hour || s.Creator != "team:payments" {
		t.Fatalf("silence %+v", s)
	}
	// Silences without an endpoint match by what they name, every endpoint
	// of the team.
	byType, err := payments.AddSilence(ctx, "", api.NewSilence{Type: "latency", Vantage: "hel1", For: "1h", Reason: "hel1 congested"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		req           api.NewSilence
		status        int
		field, errMsg string
	}{
		{api.NewSilence{Endpoint: "checkout", For: "2h"}, 422, "reason", "reason: missing"},
		{api.NewSilence{Endpoint: "checkout", Reason: "x"}, 422, "ends_at", "ends_at: must be after starts_at"},
		{api.NewSilence{Endpoint: "checkout", For: "soon", Reason: "x"}, 400, "for", "for: expected a duration such as 2h"},
		{api.NewSilence{Endpoint: "checkout", For: "-2h", Reason: "x"}, 400, "for", `for: "-2h": the duration must be positive`},
		{api.NewSilence{Endpoint: "checkout", For: "-2d", Reason: "x"}, 400, "for", `for: "-2d": the duration must be positive`},
		{api.NewSilence{Endpoint: "checkout", For: "0s", Reason: "x"}, 400, "for", `for: "0s": the duration must be positive`},
		{api.NewSilence{Endpoint: "nosuch", For: "2h", Reason: "deploy"}, 422, "endpoint", `endpoint: team payments has no endpoint "nosuch"`},
		// Another team's endpoint is as unknown to payments as no endpoint.
		{api.NewSilence{Endpoint: "query", For: "2h", Reason: "deploy"}, 422, "endpoint", `endpoint: team payments has no endpoint "query"`},
		{api.NewSilence{Type: "bogus", For: "2h", Reason: "deploy"}, 422, "type",
			`type: "bogus" is not an alert type; one of reachability, regional_reachability, latency, path_detour, path_change, rtt_below_light_bound, cert_expiry, client_errors`},
		{api.NewSilence{Type: "vantage_missing", For: "2h", Reason: "deploy"}, 422, "type", "type: vantage_missing alerts belong to no team"},
		{api.NewSilence{Vantage: "nosuch", For: "2h", Reason: "deploy"}, 422, "vantage", `vantage: no vantage "nosuch" is enrolled`},
	} {
		_, err := payments.AddSilence(ctx, "", tt.req)
		var ce *client.Error
		if !errors.As(err, &ce) || ce.Status != tt.status || ce.Body.Field != tt.field || !strings.HasPrefix(ce.Body.Error, tt.errMsg) {
			t.Errorf("silence %+v: %v (%+v); want %d naming %s: %q", tt.req, err, ce, tt.status, tt.field, tt.errMsg)
		}
	}
	if ss, err := search.Silences(ctx, ""); err != nil || len(ss) != 0 {
		t.Fatalf("search sees payments' silences: %+v %v", ss, err)
	}
	if err := search.DeleteSilence(ctx, "", s.ID); !client.IsStatus(err, http.StatusNotFound) {
		t.Fatalf("search deleting payments' silence: %v", err)
	}
	// Nothing refused was stored.
	if ss, err := payments.Silences(ctx, ""); err != nil || len(ss) != 2 || ss[0].ID != s.ID || ss[1].ID != byType.ID {
		t.Fatalf("payments' silences %+v %v; want the two accepted", ss, err)
	}
	if err := payments.DeleteSilence(ctx, "", byType.ID); err != nil {
		t.Fatal(err)
	}
	// An endpoint deleted after its silence was made leaves the silence
	// listed until it ends or is removed.
	if err := e.store.DeleteEndpoint(ctx, "payments", "checkout"); err != nil {
		t.Fatal(err)
	}
	if ss, err := payments.Silences(ctx, ""); err != nil || len(ss) != 1 || ss[0].ID != s.ID || ss[0].Endpoint != "checkout" {
		t.Fatalf("payments' silences after deleting checkout: %+v %v", ss, err)
	}
	if err := payments.DeleteSilence(ctx, "", s.ID); err != nil {
		t.Fatal(err)
	}
	if ss, _ := payments.Silences(ctx, ""); len(ss) != 0 {
		t.Fatalf("silence not removed: %+v", ss)
	}
}

// The admin token naming a team that does not exist gets 404 with a JSON
// error naming it, on every path that takes ?team=: not an empty list, and
// never something written for no team.
func TestUnknownTeam(t *testing.T) {
	e := newEnv(t, openSQLite)
	e.srv.MountAlerts(alerting.NewService(e.store, alerting.Config{}, nil, alerting.Options{}))
	e.register("payments", "web")
	apply := []byte(`{"endpoints":[{"name":"ghost","target":"https://203.0.113.10/","checks":[{"kind":"probe"}]}]}`)
	silence := []byte(`{"for":"1h","reason":"deploy"}`)
	tests := []struct {
		method, path string
		body         []byte
	}{
		{"GET", "/v1/endpoints?team=nosuch", nil},
		{"POST", "/v1/endpoints?team=nosuch", apply},
		{"GET", "/v1/endpoints/web?team=nosuch", nil},
		{"DELETE", "/v1/endpoints/web?team=nosuch", nil},
		{"GET", "/v1/reports/availability?team=nosuch", nil},
		{"GET", "/v1/alerts?team=nosuch", nil},
		{"GET", "/v1/silences?team=nosuch", nil},
		{"POST", "/v1/silences?team=nosuch", silence},
		{"DELETE", "/v1/silences/01a2018a-89e6-7ea3-9c13-6e365ba0da9f?team=nosuch", nil},
		{"GET", "/v1/vantages?team=nosuch", nil},
	}
	for _, tt := range tests {
		status, body, _ := raw(t, e, tt.method, tt.path, testAdminToken, tt.body, nil)
		if status != 404 || body.Code != "not_found" || body.Error != `no team "nosuch" (picket teams list shows the teams)` {
			t.Errorf("%s %s: %d %+v, want 404 not_found naming the team", tt.method, tt.path, status, body)
		}
	}
	// Nothing was written, and the existing team is still answered.
	all, err := e.store.Endpoints(context.Background(), "")
	if err != nil || len(all) != 1 || all[0].Name != "web" {
		t.Errorf("endpoints after the refusals: %+v %v, want only payments' web", all, err)
	}
	if ss, err := e.store.Silences(context.Background(), "", time.Now()); err != nil || len(ss) != 0 {
		t.Errorf("silences after the refusals: %+v %v, want none", ss, err)
	}
	if status, _, _ := raw(t, e, "GET", "/v1/endpoints?team=payments", testAdminToken, nil, nil); status != 200 {
		t.Errorf("an existing team: %d, want 200", status)
	}
	// A team token naming another team is still 403, whether it exists or not.
	if status, _, _ := raw(t, e, "GET", "/v1/endpoints?team=nosuch", teamToken(t, e, "search"), nil, nil); status != 403 {
		t.Errorf("a team token naming another team: %d, want 403", status)
	}
}

func teamToken(t *testing.T, e *env, name string) string {
	t.Helper()
	out, err := e.admin.CreateTeam(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return out.Token
}
