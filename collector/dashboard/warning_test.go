package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/vantage"
)

// A certificate with 10 days left under min_days_left 14 fails the tls
// check (tls/cert_expiring), but the endpoint answers: the heat map, the
// region drill-down and the endpoint page show it up, at 100%, and list
// the runs as warnings, not outages.
func TestCertExpiringIsNotDown(t *testing.T) {
	f := newFixture(t)
	const token = "pkt_certs-token-for-tests"
	f.teamEndpoint(t, "certs", token, "cert-soon", "https://soon.example.com", `{"kind":"tls","interval":"30s","expect":{"min_days_left":14}}`)
	type vt struct{ id, region string }
	var rs []results.Result
	for i := 1; i <= 3; i++ {
		for _, v := range []vt{{"eu-a", "eu-central"}, {"eu-b", "eu-central"}, {"us-a", "us-east"}, {"us-b", "us-east"}, {"ap-a", "ap-south"}} {
			r := results.Result{ID: fmt.Sprintf("cert-%s-%d", v.id, i), Team: "certs", Endpoint: "cert-soon", Check: "cert-soon/tls", Kind: "tls",
				Vantage: v.id, Region: v.region, Target: "https://soon.example.com", StartedAt: fixtureNow.Add(-time.Duration(i) * time.Minute),
				DurationMS: 45, Phases: results.Phases{DNSMS: 5, ConnectMS: 15, TLSMS: 25},
				Error: &results.Error{Layer: results.LayerTLS, Code: results.CodeCertExpiring, Message: "certificate expires in 10.0 days; expected at least 14"}}
			rs = append(rs, r)
		}
	}
	f.ingestAll(t, rs)

	t.Run("heat map", func(t *testing.T) {
		r := f.get(t, "/", token)
		if r.code != http.StatusOK {
			t.Fatalf("GET / = %d", r.code)
		}
		for _, tt := range []struct {
			region string
			state  State
			title  string
		}{
			{"eu-central", StateUp, "0 of 2 vantages failing; 100% ok (6 results)"},
			{"us-east", StateUp, "0 of 2 vantages failing; 100% ok (6 results)"},
			{"ap-south", StateUp, "0 of 1 vantages failing; 100% ok (3 results)"},
		} {
			c := heatCell(t, r.doc, "cert-soon", tt.region)
			if got := State(attr(c, "data-state")); got != tt.state || text(c) != "✓ up" {
				t.Errorf("%s: state %q reads %q, want %q", tt.region, got, text(c), tt.state)
			}
			if !strings.Contains(attr(c, "title"), tt.title) || strings.Contains(attr(c, "title"), "top error") {
				t.Errorf("%s: title %q, want %q and no top error", tt.region, attr(c, "title"), tt.title)
			}
		}
	})
	t.Run("region drill-down", func(t *testing.T) {
		r := f.get(t, "/endpoints/certs/cert-soon/regions/us-east", token)
		if r.code != http.StatusOK {
			t.Fatalf("GET = %d", r.code)
		}
		if got := text(findAll(r.doc, tagged("p", "class", "regionstate"))[0]); !strings.Contains(got, "✓ up · 0 of 2 reporting vantages failing · 100% of 6 results ok") {
			t.Errorf("region state %q", got)
		}
		for _, id := range []string{"us-a", "us-b"} {
			rows := findAll(r.doc, tagged("tr", "data-vantage", id))
			if len(rows) != 1 {
				t.Fatalf("%d rows for %s", len(rows), id)
			}
			if attr(rows[0], "data-failing") != "false" {
				t.Errorf("%s failing", id)
			}
			latest := findAll(rows[0], func(n *html.Node) bool { return n.Data == "li" && hasClass(n, "warning") })
			if len(latest) != 1 || !strings.HasPrefix(text(latest[0]), "⚠ cert-soon/tls 45.0 ms tls/cert_expiring") {
				t.Errorf("%s latest result: %q, want a ⚠ warning", id, text(rows[0]))
			}
		}
	})
	t.Run("endpoint page", func(t *testing.T) {
		r := f.get(t, "/endpoints/certs/cert-soon", token)
		if r.code != http.StatusOK {
			t.Fatalf("GET = %d", r.code)
		}
		for _, region := range []string{"eu-central", "us-east", "ap-south"} {
			rows := findAll(r.doc, func(n *html.Node) bool { return n.Data == "tr" && attr(n, "data-region") == region })
			if len(rows) != 1 {
				t.Fatalf("%d %s rows", len(rows), region)
			}
			var cells []string
			for _, td := range findAll(rows[0], tagged("td")) {
				cells = append(cells, text(td))
			}
			if want := []string{"100%", "100%", "100%"}; !slices.Equal(cells[:3], want) || cells[len(cells)-1] != "" {
				t.Errorf("%s availability %v, want %v and no top error", region, cells, want)
			}
		}
		// Still listed, since the check failed, but as warnings.
		var rows []*html.Node
		for _, tb := range findAll(r.doc, tagged("table", "class", "list failures")) {
			rows = append(rows, findAll(tb, tagged("tr"))[1:]...)
		}
		if len(rows) != 15 {
			t.Fatalf("%d rows in recent failures, want 15", len(rows))
		}
		for _, row := range rows {
			if attr(row, "data-warning") != "true" || !strings.Contains(text(row), "tls cert_expiring ⚠ warning") {
				t.Errorf("row %q (data-warning=%q), want a warning", text(row), attr(row, "data-warning"))
			}
		}
	})
}

// A traceroute has no latency (results.Result.Latency): the endpoint page
// shows none for a region that ran only traceroutes, not 0.0 ms.
func TestNoLatencyIsNotZero(t *testing.T) {
	f := newFixture(t)
	const token = "pkt_paths-token-for-tests"
	f.teamEndpoint(t, "paths", token, "path-only", "203.0.113.7", `{"kind":"traceroute","interval":"1m"}`)
	var rs []results.Result
	for i := 1; i <= 3; i++ {
		r := results.Result{ID: fmt.Sprintf("trace-%d", i), Team: "paths", Endpoint: "path-only", Check: "path-only/traceroute", Kind: "traceroute",
			Vantage: "eu-a", Region: "eu-central", Target: "203.0.113.7", StartedAt: fixtureNow.Add(-time.Duration(i) * time.Minute),
			DurationMS: 900, OK: true}
		rs = append(rs, r)
	}
	f.ingestAll(t, rs)
	cells := f.rowCells(t, "/endpoints/paths/path-only", token, "data-region", "eu-central")
	// Availability over three ranges, p50, p95, top error.
	if len(cells) != 6 || cells[0] != "100%" || cells[3] != "—" || cells[4] != "—" {
		t.Errorf("eu-central row %q, want 100%% and no p50 or p95", cells)
	}
	// The report page says the same, and its CSV leaves the cells empty.
	cells = f.rowCells(t, "/report?by=region&since=24h&endpoint=path-only", token, "data-group", "eu-central")
	// team, endpoint, region, availability, results, failures, failed
	// rounds, downtime, p50, p95, p99, top error.
	if len(cells) != 12 || cells[3] != "100%" || cells[8] != "—" || cells[9] != "—" || cells[10] != "—" {
		t.Errorf("eu-central report row %q, want 100%% and no p50, p95 or p99", cells)
	}
	csvResp := f.get(t, "/report.csv?by=region&since=24h&endpoint=path-only", token)
	if want := "paths,path-only,eu-central,3,0,100.0000,0,0,,,,,0"; !strings.Contains(csvResp.body, want+"\n") {
		t.Errorf("report CSV %q, want the row %q", csvResp.body, want)
	}
}

// teamEndpoint creates team, whose token is token, with one endpoint
// name probing target with check, in every region.
func (f *fixture) teamEndpoint(t *testing.T, team, token, name, target, check string) {
	t.Helper()
	ctx := context.Background()
	must(t, f.store.CreateTeam(ctx, results.Team{Name: team, TokenHash: vantage.HashToken(token), CreatedAt: fixtureNow.Add(-time.Hour)}))
	must(t, f.store.PutEndpoint(ctx, results.Endpoint{Team: team, Name: name, Target: target,
		Checks: []json.RawMessage{json.RawMessage(check)}, Regions: []string{"all"}, UpdatedAt: fixtureNow}))
}

// rowCells gets page path and returns the text of the cells of its one
// table row whose attribute key is value.
func (f *fixture) rowCells(t *testing.T, path, token, key, value string) []string {
	t.Helper()
	r := f.get(t, path, token)
	if r.code != http.StatusOK {
		t.Fatalf("GET %s = %d", path, r.code)
	}
	rows := findAll(r.doc, tagged("tr", key, value))
	if len(rows) != 1 {
		t.Fatalf("GET %s: %d rows with %s=%s, want 1", path, len(rows), key, value)
	}
	var cells []string
	for _, td := range findAll(rows[0], tagged("td")) {
		cells = append(cells, text(td))
	}
	return cells
}

// ingestAll stores rs, every one of them new and valid.
func (f *fixture) ingestAll(t *testing.T, rs []results.Result) {
	t.Helper()
	for i := range rs {
		must(t, rs[i].Validate())
	}
	out, err := f.store.Ingest(context.Background(), rs)
	must(t, err)
	if len(out.Accepted) != len(rs) {
		t.Fatalf("ingested %d of %d", len(out.Accepted), len(rs))
	}
}

// A vantage whose traceroutes never resolved an AS has no usual path, so
// its path row shows no "usual" round trip either, though earlier runs
// had round trips.
func TestNoUsualRTTWithoutUsualPath(t *testing.T) {
	f := newFixture(t)
	const token = "pkt_private-token-for-tests"
	f.teamEndpoint(t, "private", token, "no-asn", "203.0.113.9", `{"kind":"traceroute","interval":"1m"}`)
	var rs []results.Result
	for i, rtt := range []float64{25, 21, 22, 23} { // newest first
		det, err := json.Marshal(results.TracerouteDetails{Mode: "udp", Reached: true, RTTMS: rtt,
			Hops: []results.Hop{{TTL: 1, Sent: 3, Addr: "192.0.2.1", RTTMS: []float64{rtt}}}})
		must(t, err)
		rs = append(rs, results.Result{ID: fmt.Sprintf("no-asn-%d", i), Team: "private", Endpoint: "no-asn", Check: "no-asn/traceroute", Kind: "traceroute",
			Vantage: "eu-a", Region: "eu-central", Target: "203.0.113.9", StartedAt: fixtureNow.Add(-time.Duration(i+1) * 10 * time.Minute),
			DurationMS: 900, OK: true, Details: det})
	}
	f.ingestAll(t, rs)
	r := f.get(t, "/endpoints/private/no-asn", token)
	if r.code != http.StatusOK {
		t.Fatalf("GET = %d", r.code)
	}
	rows := findAll(r.doc, tagged("tr", "data-vantage", "eu-a"))
	if len(rows) != 1 {
		t.Fatalf("%d eu-a path rows", len(rows))
	}
	if got := text(findAll(rows[0], tagged("td", "class", "num"))[0]); got != "25.0 ms" {
		t.Errorf("eu-a RTT %q, want 25.0 ms and no usual round trip", got)
	}
	if got := text(rows[0]); !strings.Contains(got, "no history") {
		t.Errorf("eu-a path row %q, want no usual path", got)
	}
}
