package dnscheck

import (
	"context"
	"encoding/json"
	"syscall"
	"testing"
	"time"

	"github.com/picketnet/picket/checks"
)

// BenchmarkQuery measures one whole check run (query built, fresh socket,
// exchange, answer checked, record made) against the in-process test
// server. cpu-ns/op is the process's user+system CPU per run, so it
// includes the server's share of the work.
func BenchmarkQuery(b *testing.B) {
	s := startServer(b)
	for _, bc := range []struct{ name, spec string }{
		{"udp", `{"resolver":"` + s.udpAddr + `","expect":{"answer_contains":"192.0.2.2"}}`},
		{"tcp", `{"resolver":"` + s.udpAddr + `","transport":"tcp","expect":{"answer_contains":"192.0.2.2"}}`},
		{"tls", `{"resolver":"` + s.tlsAddr + `","transport":"tls","ca_file":"` + s.caFile + `","expect":{"answer_contains":"192.0.2.2"}}`},
		{"udp-truncated-tcp", `{"resolver":"` + s.udpAddr + `","query":{"name":"big.test","type":"TXT"},"expect":{"min_answers":40}}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c, err := Kind{}.Parse("example.test", json.RawMessage(bc.spec))
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			cpu0 := cpuTime(b)
			for b.Loop() {
				if r := c.Run(ctx, checks.Env{}); !r.OK {
					b.Fatalf("run failed: %v", r.Error)
				}
			}
			b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
