package dashboard

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// rowsOf returns the text of each body row of the tables with class.
func rowsOf(doc *html.Node, class string) [][]string {
	var out [][]string
	for _, tb := range findAll(doc, func(n *html.Node) bool { return n.Data == "table" && hasClass(n, class) }) {
		for _, tr := range findAll(tb, tagged("tr")) {
			if tr.Parent == nil || tr.Parent.Data != "tbody" {
				continue
			}
			var cells []string
			for _, c := range findAll(tr, func(n *html.Node) bool { return n.Data == "td" || n.Data == "th" }) {
				cells = append(cells, text(c))
			}
			out = append(out, cells)
		}
	}
	return out
}

func TestEndpointClientSideReports(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name, target, token string
		summary             string
		types               [][]string // phase, type, reports, weighted
		networks            [][]string // AS, country, reports, failed, rate, top failure
	}{
		{
			name: "24h", target: "/endpoints/payments/checkout-api", token: paymentsToken,
			summary: "51 reports standing for 766 requests: 66 failed (8.62% of reported requests)",
			types: [][]string{
				{"connection", "tcp.refused", "40", "50"},
				{"dns", "dns.name_not_resolved", "4", "16"},
				{"application", "ok", "7", "700"},
			},
			networks: [][]string{
				{"AS7922", "US", "16", "36", "15.25%", "tcp.refused"},
				{"AS3320", "DE", "35", "30", "5.66%", "tcp.refused"},
			},
		},
		{
			// The 7d range adds the three-day-old certificate failures.
			name: "7d as admin", target: "/endpoints/payments/checkout-api?range=7d", token: adminToken,
			summary: "54 reports standing for 769 requests: 69 failed (8.97% of reported requests)",
			types: [][]string{
				{"connection", "tcp.refused", "40", "50"},
				{"dns", "dns.name_not_resolved", "4", "16"},
				{"connection", "tls.cert.date_invalid", "3", "3"},
				{"application", "ok", "7", "700"},
			},
			networks: [][]string{
				{"AS7922", "US", "16", "36", "15.25%", "tcp.refused"},
				{"AS3320", "DE", "38", "33", "6.19%", "tcp.refused"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.get(t, tt.target, tt.token)
			if r.code != http.StatusOK {
				t.Fatalf("GET %s = %d", tt.target, r.code)
			}
			secs := findAll(r.doc, tagged("section", "id", "client"))
			if len(secs) != 1 {
				t.Fatalf("%d client-side sections", len(secs))
			}
			sec := secs[0]
			sum := findAll(sec, func(n *html.Node) bool { return hasClass(n, "clientsummary") })
			if len(sum) != 1 || !strings.Contains(text(sum[0]), tt.summary) {
				t.Errorf("summary %q, want %q", text(sum[0]), tt.summary)
			}
			if got := rowsOf(sec, "clienttypes"); !slices.EqualFunc(got, tt.types, slices.Equal) {
				t.Errorf("by type:\n got %q\nwant %q", got, tt.types)
			}
			if got := rowsOf(sec, "clientnets"); !slices.EqualFunc(got, tt.networks, slices.Equal) {
				t.Errorf("by network:\n got %q\nwant %q", got, tt.networks)
			}
			recent := rowsOf(sec, "clientreports")
			if len(recent) != maxClientReports {
				t.Fatalf("%d recent reports, want the newest %d", len(recent), maxClientReports)
			}
			// Newest first: AS7922's DNS failure a minute ago (11:59:30).
			if want := []string{"2026-11-21 11:59:30 UTC", "dns.name_not_resolved", "dns", "AS7922 (US)", "Firefox 133", "4"}; !slices.Equal(recent[0], want) {
				t.Errorf("newest report %q, want %q", recent[0], want)
			}
			got := text(sec)
			// Another endpoint's and another team's reports never show,
			// nor any client address.
			for _, leak := range []string{"AS64496", "http.error", "AS65009", "JP", "Edge", "198.51.100"} {
				if strings.Contains(got, leak) {
					t.Errorf("the client-side section shows %q: %s", leak, got)
				}
			}
			if strings.Contains(r.body, "198.51.100") {
				t.Error("the page shows a client prefix")
			}
		})
	}

	t.Run("scoped to the viewer's team", func(t *testing.T) {
		if r := f.get(t, "/endpoints/search/search-api", paymentsToken); r.code != http.StatusNotFound {
			t.Errorf("payments reads search-api's page: %d", r.code)
		}
		for _, token := range []string{searchToken, adminToken} {
			r := f.get(t, "/endpoints/search/search-api", token)
			sec := findAll(r.doc, tagged("section", "id", "client"))
			if len(sec) != 1 {
				t.Fatalf("%d client-side sections", len(sec))
			}
			if got := rowsOf(sec[0], "clientnets"); !slices.EqualFunc(got, [][]string{{"AS65009", "JP", "6", "6", "—", "dns.name_not_resolved"}}, slices.Equal) {
				t.Errorf("search-api's networks: %q", got)
			}
			if got := text(sec[0]); strings.Contains(got, "AS3320") || strings.Contains(got, "AS7922") {
				t.Errorf("search-api's section shows payments' networks: %s", got)
			}
		}
	})
}

func TestEndpointClientSideEmpty(t *testing.T) {
	f := newFixture(t)
	must(t, f.store.DeleteNELReportsBefore(context.Background(), fixtureNow.Add(time.Hour)))
	r := f.get(t, "/endpoints/payments/checkout-api", paymentsToken)
	sec := findAll(r.doc, tagged("section", "id", "client"))
	if r.code != http.StatusOK || len(sec) != 1 {
		t.Fatalf("GET = %d, %d client-side sections", r.code, len(sec))
	}
	got := text(sec[0])
	for _, want := range []string{"No client-side report in the last 24h", "picket nel headers --endpoint checkout-api"} {
		if !strings.Contains(got, want) {
			t.Errorf("empty state lacks %q: %s", want, got)
		}
	}
	if n := len(findAll(sec[0], tagged("table"))); n != 0 {
		t.Errorf("empty state shows %d tables", n)
	}
}
