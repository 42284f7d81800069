package alerting

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/results/postgres"
	"github.com/picketnet/picket/results/sqlite/sqlitetest"
	"github.com/picketnet/picket/results/synth"
)

// benchFleet is 200 endpoints (one HTTPS check each) probed every 30 s by
// 20 vantages in 5 regions: 4000 series, 133 results/s.
var benchFleet = synth.Config{Checks: 200, Vantages: 20, Interval: 30 * time.Second, Seed: 7,
	Start: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)}

// benchTick measures one steady-state Tick of the leader: read the
// result feed (nothing new), evaluate 4000 series, record nothing new.
// The first Tick (takeover and the replay of ten minutes of history) is
// not timed.
func benchTick(b *testing.B, st labStore) {
	ctx := context.Background()
	cfg := benchFleet
	cfg.End = cfg.Start.Add(10 * time.Minute)
	for _, v := range cfg.Fleet() {
		if err := st.CreateVantage(ctx, results.Vantage{ID: v.ID, Region: v.Region, Provider: v.Provider,
			ASN: v.ASN, TokenHash: []byte("token-of-" + v.ID)}); err != nil {
			b.Fatal(err)
		}
	}
	endpoints := map[[2]string]string{}
	err := cfg.Results(1000, func(batch []results.Result) error {
		for _, r := range batch {
			endpoints[[2]string{r.Team, r.Endpoint}] = r.Target
		}
		_, err := st.Ingest(ctx, batch)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	for k, target := range endpoints {
		if err := st.CreateTeam(ctx, results.Team{Name: k[0], TokenHash: []byte("h-" + k[0])}); err != nil && !errors.Is(err, results.ErrConflict) {
			b.Fatal(err)
		}
		if err := st.PutEndpoint(ctx, results.Endpoint{Team: k[0], Name: k[1], Target: target,
			Checks: []json.RawMessage{json.RawMessage(`{"kind":"http"}`)}, Regions: []string{"all"}}); err != nil {
			b.Fatal(err)
		}
	}
	now := cfg.End
	svc := NewService(st, Config{}, nil, Options{Now: func() time.Time { return now },
		Logger: slog.New(slog.DiscardHandler)})
	if err := svc.Tick(ctx); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if err := svc.Tick(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkServiceTickSQLite(b *testing.B) {
	benchTick(b, sqlitetest.Open(b))
}

func BenchmarkServiceTickPostgres(b *testing.B) {
	s, err := postgres.Open(context.Background(), pg.Database(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	benchTick(b, s)
}
