package dashboard

import (
	"context"
	"testing"
	"time"

	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/results/sqlite"
)

// seedNEL stores the fixture's client-side (NEL) reports through the real
// store, as the collector's NEL handler does. The numbers the tests assert:
//
// payments/checkout-api, in the last 24 hours (51 reports):
//
//	tcp.refused (connection)           30 from AS3320 DE at fraction 1    -> 30
//	                                   10 from AS7922 US at fraction 0.5  -> 20
//	dns.name_not_resolved (dns)         4 from AS7922 US at fraction 0.25 -> 16
//	ok (application)                    5 from AS3320 DE at fraction 0.01 -> 500
//	                                    2 from AS7922 US at fraction 0.01 -> 200
//
// so 766 requests of which 66 failed (8.62%); AS7922 US: 36 failed of 236
// (15.25%), AS3320 DE: 30 of 530 (5.66%). The newest report is AS7922's
// dns.name_not_resolved from Firefox 133, a minute ago. Three days ago, 3
// tls.cert.date_invalid from AS3320 DE: only in the 7d and 30d ranges.
//
// payments/ledger: 2 http.error from AS64496 FR. search/search-api (the
// other team): 6 dns.name_not_resolved from AS65009 JP. Neither may show
// on checkout-api's page.
func seedNEL(t testing.TB, st *sqlite.Store) {
	now := fixtureNow
	var rs []results.NELReport
	add := func(team, ep, phase, typ string, n int, frac float64, asn uint32, country, browser string, first time.Duration) {
		for i := range n {
			at := now.Add(-first - time.Duration(i)*time.Minute)
			rs = append(rs, results.NELReport{ReceivedAt: at.Add(2 * time.Second), OccurredAt: at, Team: team, Endpoint: ep,
				URL: "https://" + ep + ".example.com/", Phase: phase, Type: typ, SamplingFraction: frac, ElapsedMS: 120,
				Protocol: "h2", Method: "GET", ClientASN: asn, ClientCountry: country,
				ClientPrefix: "198.51.100.0/24", Browser: browser})
		}
	}
	add("payments", "checkout-api", "connection", "tcp.refused", 30, 1, 3320, "DE", "Chrome 131", 5*time.Minute)
	add("payments", "checkout-api", "connection", "tcp.refused", 10, 0.5, 7922, "US", "Chrome 131", 3*time.Minute)
	add("payments", "checkout-api", "dns", "dns.name_not_resolved", 4, 0.25, 7922, "US", "Firefox 133", time.Minute)
	add("payments", "checkout-api", "application", "ok", 5, 0.01, 3320, "DE", "Chrome 131", 2*time.Hour)
	add("payments", "checkout-api", "application", "ok", 2, 0.01, 7922, "US", "Safari 18", 3*time.Hour)
	add("payments", "checkout-api", "connection", "tls.cert.date_invalid", 3, 1, 3320, "DE", "Chrome 131", 72*time.Hour)
	add("payments", "ledger", "application", "http.error", 2, 1, 64496, "FR", "Chrome 131", 10*time.Minute)
	add("search", "search-api", "dns", "dns.name_not_resolved", 6, 1, 65009, "JP", "Edge 131", 2*time.Minute)
	must(t, st.InsertNELReports(context.Background(), rs))
}
