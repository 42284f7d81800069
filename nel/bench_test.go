package nel

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/results/sqlite/sqlitetest"
)

func benchEnvelope(b *testing.B, n int) string {
	rs := make([]any, n)
	for i := range rs {
		rs[i] = report(fmt.Sprintf("https://api.example.com/p/%d?q=%d", i, i), nil)
	}
	return envelope(b, rs...)
}

// BenchmarkParse validates an envelope of 100 reports (the per-request cap).
func BenchmarkParse(b *testing.B) {
	data := []byte(benchEnvelope(b, 100))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data, 100); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "reports/s")
}

// BenchmarkHandler posts envelopes of 10 reports through the handler into
// the embedded store, each from another /24 so the rate limit never bites.
func BenchmarkHandler(b *testing.B) {
	f := &fixture{store: sqlitetest.Open(b), now: time.Now()}
	register(b, f.store, "pay", "checkout-api", "https://api.example.com/health")
	h, err := NewHandler(Options{Store: f.store, Endpoints: f.store, ASN: nil, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	body := benchEnvelope(b, 10)
	i := 0
	for b.Loop() {
		i++
		r := httptest.NewRequest(http.MethodPost, "/v1/reports/nel", strings.NewReader(body))
		r.RemoteAddr = fmt.Sprintf("10.%d.%d.1:1", i>>8&255, i&255)
		r.Header.Set("Content-Type", "application/reports+json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
	b.ReportMetric(float64(b.N*10)/b.Elapsed().Seconds(), "reports/s")
}

// BenchmarkDetect evaluates 65 minutes of counts for 100 endpoints, each
// with 3 types from 20 client networks.
func BenchmarkDetect(b *testing.B) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	var counts []results.NELCount
	for m := range 65 {
		for e := range 100 {
			for _, typ := range []string{"ok", "tcp.timed_out", "dns.name_not_resolved"} {
				for n := range 20 {
					counts = append(counts, results.NELCount{Bucket: now.Add(-time.Duration(m+1) * time.Minute),
						Team: "t", Endpoint: fmt.Sprint(e), Type: typ, Phase: "connection",
						ClientASN: uint32(n), Reports: 3, Weighted: 3})
				}
			}
		}
	}
	for b.Loop() {
		Detector{}.Detect(now, counts, nil)
	}
	b.ReportMetric(float64(len(counts)), "counts/op")
}
