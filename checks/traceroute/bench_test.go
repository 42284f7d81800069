package traceroute

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkConcurrentTraces measures how many traces one process sustains
// over a 5-hop path of real routers in network namespaces, with c traces
// in flight at once sharing one Tracer. It reports traces/s and the share
// of traces that did not see every hop answer every probe (lost replies).
func BenchmarkConcurrentTraces(b *testing.B) {
	for _, mode := range []Mode{ModeICMP, ModeUDP, ModeTCP} {
		for _, c := range []int{1, 16, 64, 256} {
			b.Run(fmt.Sprintf("%s/c=%d", mode, c), func(b *testing.B) {
				lab := newChainLabTB(b)
				tr := NewTracer()
				dst := netip.MustParseAddr("198.18.4.2")
				cfg := Config{Mode: mode, Wait: 2 * time.Second}
				var next, incomplete, failed atomic.Int64
				n := int64(b.N)
				b.ResetTimer()
				var wg sync.WaitGroup
				for range c {
					wg.Go(func() {
						_ = lab.h1.Do(func() error {
							for next.Add(1) <= n {
								res, err := tr.Trace(context.Background(), dst, cfg)
								if err != nil || !res.Reached {
									failed.Add(1)
									continue
								}
								for _, h := range res.Hops {
									if len(h.RTTs) != h.Sent {
										incomplete.Add(1)
										break
									}
								}
							}
							return nil
						})
					})
				}
				wg.Wait()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "traces/s")
				b.ReportMetric(float64(incomplete.Load())/float64(b.N), "incomplete/op")
				b.ReportMetric(float64(failed.Load())/float64(b.N), "unreached/op")
			})
		}
	}
}
