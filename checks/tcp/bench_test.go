package tcpcheck_test

import (
	"context"
	"encoding/json"
	"syscall"
	"testing"
	"time"

	"github.com/picketnet/picket/checks"
	tcpcheck "github.com/picketnet/picket/checks/tcp"
	"github.com/picketnet/picket/checks/tls/tlstest"
)

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkConnect measures one tcp check (connect and close) against a
// loopback listener in the same process; cpu-ns/op counts both ends.
func BenchmarkConnect(b *testing.B) {
	srv := tlstest.Serve(b, tlstest.Silent)
	c, err := tcpcheck.Kind{}.Parse(srv.Addr, json.RawMessage(`{}`))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	b.ResetTimer()
	for b.Loop() {
		if r := c.Run(ctx, checks.Env{}); !r.OK {
			b.Fatal(r.Error)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
}
