package sqlite_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/results/sqlite"
)

// Store two runs of a check, one failed, and ask for the availability
// report of the last hour by region.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "picket-example")
	defer os.RemoveAll(dir)
	s, err := sqlite.Open(ctx, filepath.Join(dir, "picket.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	at := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	run := results.Result{Team: "payments", Endpoint: "checkout-api", Check: "checkout-api/http",
		Kind: "http", Vantage: "hel1-hetzner-a", Region: "eu-central", Provider: "hetzner", ASN: 24940}
	ok, failed := run, run
	ok.ID, ok.StartedAt, ok.DurationMS, ok.OK = "0192f1c4-0000-7000-8000-000000000001", at, 182.4, true
	failed.ID, failed.StartedAt, failed.DurationMS = "0192f1c4-0000-7000-8000-000000000002", at.Add(time.Minute), 10000
	failed.Error = &results.Error{Layer: results.LayerTLS, Code: results.CodeCertExpired}

	out, err := s.Ingest(ctx, []results.Result{ok, failed, ok}) // ok twice: stored once
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("accepted", len(out.Accepted), "duplicate", len(out.Duplicate))

	rows, err := s.Availability(ctx, results.ReportQuery{By: results.ByRegion, Since: at, Until: at.Add(time.Hour)})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range rows {
		fmt.Printf("%s %s: %.1f%% of %d, %d failed rounds, %d min down, top %s\n",
			r.Endpoint, r.Group, r.AvailabilityPct, r.Results, r.FailedRounds, r.DowntimeMinutes, r.TopError)
	}
	// Output:
	// accepted 2 duplicate 1
	// checkout-api eu-central: 50.0% of 2, 1 failed rounds, 1 min down, top tls/cert_expired
}
