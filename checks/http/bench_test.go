package httpcheck

import (
	"context"
	"encoding/json"
	"syscall"
	"testing"
	"time"

	"github.com/picketnet/picket/checks"
)

// BenchmarkRun measures one whole check, on a fresh connection each time,
// against a local server. ns/op is wall time; cpu-ns/op is the CPU time of
// the process (user + system) per run, which includes the server's share
// since it runs in the same process; B/op and allocs/op count both too.
func BenchmarkRun(b *testing.B) {
	ca := newCA(b)
	caFile := `"ca_file":"` + ca.pemFile + `"`
	for _, bc := range []struct {
		name, target, spec string
	}{
		{"http1.1", startHTTP(b, false).URL + "/ok", `{}`},
		{"http1.1-tls", startTLS(b, ca.validLeaf(b), false).URL + "/ok", `{` + caFile + `}`},
		{"http2-tls", startTLS(b, ca.validLeaf(b), true).URL + "/ok", `{"http_version":"2",` + caFile + `}`},
		{"http3", startH3(b, ca.validLeaf(b)) + "/ok", `{"http_version":"3",` + caFile + `}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			chk, err := Kind{}.Parse(bc.target, json.RawMessage(bc.spec))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			cpu0 := cpuTime(b)
			for b.Loop() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				rec := chk.Run(ctx, checks.Env{})
				cancel()
				if !rec.OK {
					b.Fatalf("run failed: %v", rec.Error)
				}
			}
			b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime returns the user and system CPU time of the process so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
