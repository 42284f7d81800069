package dashboard

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/picketnet/picket/results"
)

// BenchmarkClientSide reads the client-side section of a busy endpoint:
// 100,000 NEL reports over 30 days, of 5 types from 50 client networks,
// one report every 26 seconds.
func BenchmarkClientSide(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	types := []struct{ phase, typ string }{{"application", "ok"}, {"connection", "tcp.refused"}, {"connection", "tcp.timed_out"},
		{"dns", "dns.name_not_resolved"}, {"connection", "tls.cert.authority_invalid"}}
	const n = 100000
	step := 30 * 24 * time.Hour / n
	rs := make([]results.NELReport, 0, n)
	for i := range n {
		at := fixtureNow.Add(-time.Duration(i+1) * step)
		ty := types[i%len(types)]
		rs = append(rs, results.NELReport{ReceivedAt: at, OccurredAt: at, Team: "payments", Endpoint: "checkout-api",
			URL: "https://checkout.example.com/", Phase: ty.phase, Type: ty.typ, SamplingFraction: 0.5,
			ClientASN: uint32(64500 + i%50), ClientCountry: fmt.Sprintf("C%d", i%7), ClientPrefix: "198.51.100.0/24", Browser: "Chrome 131"})
	}
	must(b, f.store.InsertNELReports(ctx, rs))
	e, err := f.dash.findEndpoint(ctx, viewer{team: "payments"}, "payments", "checkout-api")
	must(b, err)
	for _, tr := range timeRanges {
		b.Run(tr.Name, func(b *testing.B) {
			for b.Loop() {
				c, err := f.dash.clientSide(ctx, e, tr.Name, fixtureNow.Add(-tr.Dur), fixtureNow)
				if err != nil || c.Reports == 0 {
					b.Fatal(c.Reports, err)
				}
			}
		})
	}
}
