package reporting

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkRoundTrip is the agent's cost on a successful request to a
// local server, against the bare transport (successes not sampled).
func BenchmarkRoundTrip(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
	defer srv.Close()
	agent, err := New(Config{Enabled: true, Collectors: []string{"http://127.0.0.1:1"}, QueueDir: b.TempDir(), Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		rt   http.RoundTripper
	}{{"bare", &http.Transport{}}, {"wrapped", agent.Wrap(&http.Transport{})}} {
		b.Run(bc.name, func(b *testing.B) {
			client := &http.Client{Transport: bc.rt}
			for b.Loop() {
				resp, err := client.Get(srv.URL)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body) //nolint:errcheck // benchmark
				resp.Body.Close()
			}
		})
	}
}

// BenchmarkFlush writes 1000 queued reports to disk and uploads them to
// a collector that accepts everything.
func BenchmarkFlush(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }))
	defer srv.Close()
	agent, err := New(Config{Enabled: true, Collectors: []string{srv.URL}, QueueDir: b.TempDir(), Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	u := mustURL(b, "https://api.example.com/x")
	for b.Loop() {
		for range 1000 {
			agent.record(u, wireBody{Phase: PhaseConnection, Type: "tcp.refused", Method: "GET"})
		}
		if err := agent.Flush(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "reports/s")
}
