package render

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/picketnet/picket/alerting"
	"github.com/picketnet/picket/collector/api"
	"github.com/picketnet/picket/results"
)

var rep = api.Report{
	By:    results.ByRegion,
	Since: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC),
	Until: time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC),
	Rows: []results.AvailabilityRow{
		{Team: "payments", Endpoint: "checkout-api", Group: "eu-central", Results: 2880, Failures: 12, AvailabilityPct: 99.58333, FailedRounds: 7, DowntimeMinutes: 3, P50MS: results.OptionalMS{MS: 81.2, Valid: true}, P95MS: results.OptionalMS{MS: 190.04, Valid: true}, P99MS: results.OptionalMS{MS: 402.5, Valid: true}, TopError: "tls/cert_expired", TopErrorCount: 9},
		{Team: "payments", Endpoint: "checkout-api", Group: "us-east", Results: 2880, AvailabilityPct: 100, P50MS: results.OptionalMS{MS: 20, Valid: true}, P95MS: results.OptionalMS{MS: 31, Valid: true}, P99MS: results.OptionalMS{MS: 40, Valid: true}},
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

// A traceroute-only endpoint has no latency: the report says so instead
// of claiming 0 ms.
func TestReportWithoutLatency(t *testing.T) {
	noLatency := api.Report{By: results.ByRegion, Since: rep.Since, Until: rep.Until, Rows: []results.AvailabilityRow{
		{Team: "net", Endpoint: "path-only", Group: "eu-central", Results: 60, AvailabilityPct: 100},
	}}
	tests := []struct {
		format string
		want   string // the row's line, spaces squeezed
	}{
		{CSV, "net,path-only,eu-central,60,0,100.0000,0,0,,,,,0"},
		{Table, "path-only eu-central 100.000% 60 0 0 - - -"},
	}
	for _, tc := range tests {
		var b bytes.Buffer
		if err := Report(&b, noLatency, tc.format); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(b.String()), "\n")
		if got := strings.Join(strings.Fields(lines[len(lines)-1]), " "); got != tc.want {
			t.Errorf("%s row %q, want %q", tc.format, got, tc.want)
		}
	}
	var b bytes.Buffer
	if err := Report(&b, noLatency, JSON); err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Rows []map[string]any `json:"rows"`
	}
	if err := json.Unmarshal(b.Bytes(), &raw); err != nil || len(raw.Rows) != 1 {
		t.Fatalf("json %s: %v", b.String(), err)
	}
	for _, k := range []string{"p50_ms", "p95_ms", "p99_ms"} {
		if v, ok := raw.Rows[0][k]; !ok || v != nil {
			t.Errorf("json %s = %v (present %v), want null", k, v, ok)
		}
	}
}

// The operator sees in `picket vantages list` why a vantage is in
// trouble (a full spool, a refused token), not only that its spool grows.
func TestVantagesShowLastError(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	vs := []api.VantageStatus{
		{State: "live", Vantage: results.Vantage{ID: "hel1", Region: "eu-central", Provider: "hetzner", ASN: 24940,
			LastHeartbeat: now.Add(-3 * time.Second), Version: "1.2.0", SpoolDepth: 4711, Running: 3,
			LastError: "spool_full: spool full (max_bytes 536870912, or the disk):\ndropped the 12 oldest " + strings.Repeat("x", 300)}},
		{State: "never", Vantage: results.Vantage{ID: "sgp1", Region: "ap-southeast", Provider: "vultr"}},
	}
	var b bytes.Buffer
	if err := Vantages(&b, vs, now); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want a header and one per vantage:\n%s", len(lines), b.String())
	}
	for _, want := range []string{"LAST ERROR", "AS24940", "3s ago", "1.2.0", "4711", "spool_full: spool full (max_bytes 536870912, or the disk): dropped the 12 oldest xxx"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("no %q in\n%s", want, b.String())
		}
	}
	if strings.Contains(lines[1], strings.Repeat("x", 200)) || !strings.HasSuffix(lines[1], "…") {
		t.Errorf("a long error is not cut short: %s", lines[1])
	}
	if f := strings.Fields(lines[2]); f[len(f)-1] != "-" {
		t.Errorf("a vantage without an error shows %q, want -", f[len(f)-1])
	}
}

// The alert list tells apart one endpoint's alerts by check (its http and
// tcp checks both page when it is down: before, two identical rows), and
// says how long a resolved alert lasted.
func TestAlertsNameCheckAndDuration(t *testing.T) {
	now := time.Date(2026, 11, 21, 10, 10, 0, 0, time.UTC)
	start := now.Add(-5 * time.Minute)
	as := []alerting.Alert{
		{Type: alerting.TypeOutage, Severity: alerting.SeverityPage, State: alerting.StateFiring, Team: "payments",
			Endpoint: "shop", Check: "shop/http", Regions: []string{"eu-central", "us-east"}, StartsAt: start, Summary: "shop: HTTP down"},
		{Type: alerting.TypeOutage, Severity: alerting.SeverityPage, State: alerting.StateResolved, Team: "payments",
			Endpoint: "shop", Check: "shop/tcp", Regions: []string{"eu-central"}, StartsAt: start, ResolvedAt: now.Add(-time.Minute),
			Summary: "shop: TCP down", Silenced: "s-1"},
		{Type: alerting.TypeVantageMissing, Severity: alerting.SeverityNotify, State: alerting.StateFiring,
			Regions: []string{"ap-south"}, StartsAt: start, Summary: "vantage bom missing"},
	}
	var b bytes.Buffer
	if err := Alerts(&b, as, now); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	want := [][]string{
		{"STATE", "SEVERITY", "TYPE", "ENDPOINT", "CHECK", "REGIONS", "SINCE", "SUMMARY"},
		{"firing", "page", "reachability", "shop", "shop/http", "eu-central,us-east", "5m0s", "ago", "shop:", "HTTP", "down"},
		{"resolved", "(silenced", "s-1)", "page", "reachability", "shop", "shop/tcp", "eu-central", "resolved", "1m0s", "ago,", "lasted", "4m0s", "shop:", "TCP", "down"},
		{"firing", "notify", "vantage_missing", "-", "-", "ap-south", "5m0s", "ago", "vantage", "bom", "missing"},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), b.String())
	}
	for i, l := range lines {
		if got := strings.Fields(l); !slices.Equal(got, want[i]) {
			t.Errorf("line %d: %q, want %q", i, got, want[i])
		}
	}
}

// The admin sees silences of several teams: a silence of every endpoint
// ("-") would not say whose it is without the team column.
func TestSilencesTeamColumn(t *testing.T) {
	at := time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)
	ss := []alerting.Silence{
		{ID: "s1", Team: "payments", Endpoint: "checkout-api", StartsAt: at, EndsAt: at.Add(time.Hour), Reason: "deploy"},
		{ID: "s2", Team: "search", Type: alerting.TypeLatency, StartsAt: at, EndsAt: at.Add(2 * time.Hour), Reason: "reindex"},
	}
	tests := []struct {
		withTeam bool
		want     string
	}{
		{false, `ID  ENDPOINT      TYPE     VANTAGE  STARTS                ENDS                  REASON
s1  checkout-api  -        -        2026-11-22T02:00:00Z  2026-11-22T03:00:00Z  deploy
s2  -             latency  -        2026-11-22T02:00:00Z  2026-11-22T04:00:00Z  reindex
`},
		{true, `TEAM      ID  ENDPOINT      TYPE     VANTAGE  STARTS                ENDS                  REASON
payments  s1  checkout-api  -        -        2026-11-22T02:00:00Z  2026-11-22T03:00:00Z  deploy
search    s2  -             latency  -        2026-11-22T02:00:00Z  2026-11-22T04:00:00Z  reindex
`},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		if err := Silences(&b, ss, tt.withTeam); err != nil {
			t.Fatal(err)
		}
		if b.String() != tt.want {
			t.Errorf("withTeam %v:\n%s\nwant\n%s", tt.withTeam, b.String(), tt.want)
		}
	}
}

// Text that a team, a vantage or the network wrote reaches the operator's
// terminal through these tables: a silence's reason (any team), a
// heartbeat's version and last error, AS names in alert summaries (any
// vantage token). Escape sequences in it must be shown, not obeyed.
func TestTablesNeutraliseControlCharacters(t *testing.T) {
	const hostile = "x\x1b]0;owned\a\x1b[2J\x9b31m\ry\tz\nw"
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		write func(*bytes.Buffer) error
		lines int // with the header
	}{
		{"silences", func(b *bytes.Buffer) error {
			return Silences(b, []alerting.Silence{{ID: "s-1", Endpoint: "shop", StartsAt: now, EndsAt: now.Add(time.Hour), Reason: hostile}}, false)
		}, 2},
		{"alerts", func(b *bytes.Buffer) error {
			return Alerts(b, []alerting.Alert{{Type: alerting.TypeDetour, Severity: alerting.SeverityInfo, State: alerting.StateFiring,
				Endpoint: "shop", StartsAt: now, Summary: "shop: path detours through AS64500 " + hostile}}, now)
		}, 2},
		{"vantages", func(b *bytes.Buffer) error {
			return Vantages(b, []api.VantageStatus{{State: "live", Vantage: results.Vantage{ID: "v1", Region: "eu", Provider: "p",
				LastHeartbeat: now, Version: hostile, LastError: hostile}}}, now)
		}, 2},
		{"endpoints", func(b *bytes.Buffer) error {
			return Endpoints(b, []results.Endpoint{{Team: "payments", Name: "shop", Target: "https://example.com/" + hostile}}, true)
		}, 2},
		{"report", func(b *bytes.Buffer) error {
			return Report(b, api.Report{By: results.ByASN, Rows: []results.AvailabilityRow{{Team: "payments", Endpoint: "shop", Group: hostile}}}, Table)
		}, 3}, // the window, the header, the row
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tt.write(&b); err != nil {
				t.Fatal(err)
			}
			out := strings.TrimRight(b.String(), "\n")
			if i := strings.IndexFunc(out, func(r rune) bool { return r != '\n' && (r < ' ' || r >= 0x7f && r < 0xa0) }); i >= 0 {
				t.Fatalf("control character %q reaches the terminal:\n%q", out[i:min(i+4, len(out))], out)
			}
			if n := strings.Count(out, "\n") + 1; n != tt.lines {
				t.Errorf("%d lines, want %d:\n%s", n, tt.lines, out)
			}
			if !strings.Contains(out, "x\uFFFD]0;owned\uFFFD\uFFFD[2J\uFFFD31m y") {
				t.Errorf("the text is not shown with its control characters replaced:\n%q", out)
			}
		})
	}
}

// A report cell a spreadsheet would read as a formula is quoted (OWASP
// CSV injection); the other cells are unchanged.
func TestReportCSVNeutralisesFormulas(t *testing.T) {
	r := api.Report{By: results.ByProvider, Rows: []results.AvailabilityRow{
		{Team: "=HYPERLINK(\"http://evil.example/\")", Endpoint: "+shop", Group: "-1+1", TopError: "@SUM(A1)"},
		{Team: "payments", Endpoint: "shop", Group: "hetzner", TopError: "tls/cert_expired"},
	}}
	var b bytes.Buffer
	if err := Report(&b, r, CSV); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		row, col int
		want     string
	}{
		{1, 0, "'=HYPERLINK(\"http://evil.example/\")"},
		{1, 1, "'+shop"},
		{1, 2, "'-1+1"},
		{1, 11, "'@SUM(A1)"},
		{2, 0, "payments"},
		{2, 1, "shop"},
		{2, 2, "hetzner"},
		{2, 11, "tls/cert_expired"},
	}
	for _, tt := range tests {
		if got := rows[tt.row][tt.col]; got != tt.want {
			t.Errorf("row %d column %s: %q, want %q", tt.row, rows[0][tt.col], got, tt.want)
		}
	}
}
