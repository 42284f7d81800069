package render

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/picketnet/picket/collector/api"
	"github.com/picketnet/picket/results"
)

var rep = api.Report{
	By:    results.ByRegion,
	Since: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC),
	Until: time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC),
	Rows: []results.AvailabilityRow{
		{Team: "payments", Endpoint: "checkout-api", Group: "eu-central", Results: 2880, Failures: 12, AvailabilityPct: 99.58333, FailedRounds: 7, DowntimeMinutes: 3, P50MS: 81.2, P95MS: 190.04, P99MS: 402.5, TopError: "tls/cert_expired", TopErrorCount: 9},
		{Team: "payments", Endpoint: "checkout-api", Group: "us-east", Results: 2880, AvailabilityPct: 100, P50MS: 20, P95MS: 31, P99MS: 40},
	},
}

func TestReportFormats(t *testing.T) {
	var b bytes.Buffer
	if err := Report(&b, rep, CSV); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || recs[0][2] != "region" || strings.Join(recs[1], ",") != "payments,checkout-api,eu-central,2880,12,99.5833,7,3,81.2,190.0,402.5,tls/cert_expired,9" {
		t.Errorf("csv = %q", recs)
	}
	b.Reset()
	if err := Report(&b, rep, JSON); err != nil {
		t.Fatal(err)
	}
	var back api.Report
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || len(back.Rows) != 2 || back.Rows[0].TopErrorCount != 9 {
		t.Errorf("json round trip: %+v %v", back, err)
	}
	b.Reset()
	if err := Report(&b, rep, Table); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 4 || !strings.Contains(lines[1], "REGION") || !strings.Contains(lines[2], "99.583%") || !strings.Contains(lines[2], "tls/cert_expired x9") ||
		strings.Contains(lines[1], "TEAM") {
		t.Errorf("table =\n%s", b.String())
	}
	// An operator's report across teams says whose each row is.
	b.Reset()
	shared := rep
	shared.Rows = append(slices.Clone(rep.Rows), results.AvailabilityRow{Team: "shop", Endpoint: "web", Group: "eu-central", Results: 10, AvailabilityPct: 100})
	if err := Report(&b, shared, Table); err != nil {
		t.Fatal(err)
	}
	lines = strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 5 || !strings.HasPrefix(strings.TrimSpace(lines[1]), "TEAM") || !strings.HasPrefix(strings.TrimSpace(lines[2]), "payments") ||
		!strings.HasPrefix(strings.TrimSpace(lines[4]), "shop") {
		t.Errorf("table across teams =\n%s", b.String())
	}
	if err := Report(&b, rep, "xml"); err == nil {
		t.Error("format xml accepted")
	}
}

func TestApplied(t *testing.T) {
	var b bytes.Buffer
	err := Applied(&b, api.Applied{DryRun: true, Changes: []api.Change{{Op: "create", Name: "a"}, {Op: "update", Name: "b", Fields: []string{"checks"}}, {Op: "delete", Name: "c"}}, Unchanged: []string{"d"}})
	if err != nil {
		t.Fatal(err)
	}
	want := "(dry run) + create a\n(dry run) ~ update b (checks)\n(dry run) - delete c\n(dry run) 1 created, 1 updated, 1 deleted, 1 unchanged\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}
