package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/results/sqlite"
	"github.com/picketnet/picket/vantage"
)

// BenchmarkOverview renders the heat map of 500 endpoints (10 teams) over
// 30 regions of 2 vantages each, from one result per endpoint and vantage
// in the state window (30,000 results), over the sqlite store.
func BenchmarkOverview(b *testing.B) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	now := fixtureNow
	var vs []results.Vantage
	for r := range 30 {
		for i := range 2 {
			v := results.Vantage{ID: fmt.Sprintf("v-%02d-%d", r, i), Region: fmt.Sprintf("region-%02d", r), Provider: "aws",
				TokenHash: vantage.HashToken(fmt.Sprintf("pkv_%d_%d", r, i)), CreatedAt: now}
			must(b, st.CreateVantage(ctx, v))
			vs = append(vs, v)
		}
	}
	must(b, st.CreateTeam(ctx, results.Team{Name: "team-0", TokenHash: vantage.HashToken(paymentsToken), CreatedAt: now}))
	for i := 1; i < 10; i++ {
		must(b, st.CreateTeam(ctx, results.Team{Name: fmt.Sprintf("team-%d", i), TokenHash: []byte(fmt.Sprint("h-team-", i)), CreatedAt: now}))
	}
	var batch []results.Result
	flush := func() {
		if _, err := st.Ingest(ctx, batch); err != nil {
			b.Fatal(err)
		}
		batch = batch[:0]
	}
	for e := range 500 {
		team, name := fmt.Sprintf("team-%d", e%10), fmt.Sprintf("endpoint-%03d", e)
		must(b, st.PutEndpoint(ctx, results.Endpoint{Team: team, Name: name, Target: "https://" + name + ".example/",
			Checks: []json.RawMessage{json.RawMessage(`{"kind":"http"}`)}, Regions: []string{"all"}, UpdatedAt: now}))
		for i, v := range vs {
			id, _ := uuid.NewV7()
			r := results.Result{ID: id.String(), Team: team, Endpoint: name, Check: name + "/http", Kind: "http", Vantage: v.ID,
				Region: v.Region, Provider: v.Provider, StartedAt: now.Add(-time.Minute), DurationMS: 50, OK: true}
			if (e+i)%17 == 0 {
				r.OK, r.Error = false, &results.Error{Layer: results.LayerConnect, Code: results.CodeRefused}
			}
			batch = append(batch, r)
			if len(batch) == 5000 {
				flush()
			}
		}
	}
	flush()
	d, err := New(Options{Store: st, AdminToken: adminToken, Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct{ name, token, target string }{
		{"admin-500", adminToken, "/"},
		{"team-50", paymentsToken, "/"},
		{"admin-filtered", adminToken, "/?q=endpoint-42"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, bc.target, nil)
				req.AddCookie(&http.Cookie{Name: cookieName, Value: bc.token})
				rec := httptest.NewRecorder()
				d.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("%d", rec.Code)
				}
			}
		})
	}
}

// BenchmarkEndpointPage renders the fixture's endpoint page: 24h of
// history from three regions, traceroutes and failures.
func BenchmarkEndpointPage(b *testing.B) {
	f := newFixture(b)
	for _, rng := range []string{"24h", "30d"} {
		b.Run(rng, func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, "/endpoints/payments/checkout-api?range="+rng, nil)
				req.AddCookie(&http.Cookie{Name: cookieName, Value: paymentsToken})
				rec := httptest.NewRecorder()
				f.dash.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("%d", rec.Code)
				}
			}
		})
	}
}
