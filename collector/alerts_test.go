package collector

import (
	"context"
	"encoding/json"
	"net/http"
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

	s, err := payments.AddSilence(ctx, "", api.NewSilence{Endpoint: "checkout", For: "2h", Reason: "deploy"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Team != "payments" || s.EndsAt.Sub(s.StartsAt) != 2*time.Hour || s.Creator != "team:payments" {
		t.Fatalf("silence %+v", s)
	}
	for _, bad := range []api.NewSilence{
		{Endpoint: "checkout", For: "2h"},               // no reason
		{Endpoint: "checkout", Reason: "x"},             // no end
		{Endpoint: "checkout", For: "-1h", Reason: "x"}, // negative
	} {
		if _, err := payments.AddSilence(ctx, "", bad); !client.IsStatus(err, http.StatusBadRequest) && !client.IsStatus(err, http.StatusUnprocessableEntity) {
			t.Errorf("silence %+v accepted or wrong status: %v", bad, err)
		}
	}
	if ss, err := search.Silences(ctx, ""); err != nil || len(ss) != 0 {
		t.Fatalf("search sees payments' silences: %+v %v", ss, err)
	}
	if err := search.DeleteSilence(ctx, "", s.ID); !client.IsStatus(err, http.StatusNotFound) {
		t.Fatalf("search deleting payments' silence: %v", err)
	}
	if ss, err := payments.Silences(ctx, ""); err != nil || len(ss) != 1 || ss[0].ID != s.ID {
		t.Fatalf("payments' silences %+v %v", ss, err)
	}
	if err := payments.DeleteSilence(ctx, "", s.ID); err != nil {
		t.Fatal(err)
	}
	if ss, _ := payments.Silences(ctx, ""); len(ss) != 0 {
		t.Fatalf("silence not removed: %+v", ss)
	}
}
