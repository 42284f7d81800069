package collector

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/picketnet/picket/alerting"
	"github.com/picketnet/picket/checks"
	"github.com/picketnet/picket/collector/config"
	"github.com/picketnet/picket/results"
)

// TestClientErrorsWired checks that the collector's alerting evaluates
// client-side failures: a burst of NEL reports in the store becomes a
// client_errors alert at the next evaluation.
func TestClientErrorsWired(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Parse("collector.yaml", []byte("store: sqlite:"+filepath.Join(dir, "p.db")+"\nadmin_token_file: "+filepath.Join(dir, "admin.token")+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rt, err := Start(ctx, cfg, checks.NewRegistry(probeKind{}), "127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Store.Close()
	defer rt.Listener.Close()
	ep := results.Endpoint{Team: "payments", Name: "checkout-api", Target: "https://checkout.example.com/",
		Checks: []json.RawMessage{json.RawMessage(`{"kind":"http","interval":"30s"}`)}, Regions: []string{"all"}, UpdatedAt: time.Now()}
	if err := rt.Store.CreateTeam(ctx, results.Team{Name: ep.Team, TokenHash: []byte("h-" + ep.Team)}); err != nil {
		t.Fatal(err)
	}
	if err := rt.Store.PutEndpoint(ctx, ep); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	var rs []results.NELReport
	for i := range 30 {
		at := now.Add(-time.Duration(i) * 5 * time.Second)
		rs = append(rs, results.NELReport{ReceivedAt: now, OccurredAt: at, Team: "payments", Endpoint: "checkout-api",
			URL: "https://checkout.example.com/", Phase: "dns", Type: "dns.name_not_resolved", SamplingFraction: 1,
			ClientASN: 3320, ClientCountry: "DE", ClientPrefix: "198.51.100.0/24", Browser: "Chrome 131"})
	}
	if err := rt.Store.InsertNELReports(ctx, rs); err != nil {
		t.Fatal(err)
	}
	if err := rt.Alerts.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	alerts, err := rt.Alerts.Alerts(ctx, "payments", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 1 || alerts[0].Type != alerting.TypeClientErrors || alerts[0].State != alerting.StateFiring ||
		!strings.Contains(alerts[0].Summary, "dns.name_not_resolved") || !strings.Contains(alerts[0].Summary, "AS3320 (DE)") {
		t.Fatalf("alerts %+v, want one firing client_errors alert naming dns.name_not_resolved and AS3320 (DE)", alerts)
	}
}
