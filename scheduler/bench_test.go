package scheduler

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"
)

// BenchmarkLag10k schedules 10,000 jobs on 10s intervals that do nothing
// and reports the scheduling lag percentiles of the scheduler alone, over
// PICKET_BENCH_DURATION (default 20s):
//
//	go test -run '^$' -bench Lag10k -benchtime 1x ./scheduler/
func BenchmarkLag10k(b *testing.B) {
	window := 20 * time.Second
	if v := os.Getenv("PICKET_BENCH_DURATION"); v != "" {
		window, _ = time.ParseDuration(v)
	}
	for b.Loop() {
		var mu sync.Mutex
		var lags []time.Duration
		s, err := New(Options{Seed: "bench", Hooks: Hooks{Started: func(_ string, lag time.Duration) {
			mu.Lock()
			lags = append(lags, lag)
			mu.Unlock()
		}}})
		if err != nil {
			b.Fatal(err)
		}
		s.Start()
		jobs := make([]Job, 10000)
		for i := range jobs {
			jobs[i] = Job{Key: fmt.Sprintf("c%05d", i), Interval: 10 * time.Second, Run: func(context.Context) {}}
		}
		if _, err := s.Set(jobs); err != nil {
			b.Fatal(err)
		}
		time.Sleep(window)
		s.Stop(context.Background())
		slices.Sort(lags)
		if len(lags) == 0 {
			b.Fatal("nothing ran")
		}
		b.ReportMetric(float64(len(lags))/window.Seconds(), "runs/s")
		b.ReportMetric(float64(lags[len(lags)/2].Microseconds())/1000, "lag-p50-ms")
		b.ReportMetric(float64(lags[len(lags)*99/100].Microseconds())/1000, "lag-p99-ms")
		b.ReportMetric(float64(lags[len(lags)-1].Microseconds())/1000, "lag-max-ms")
	}
}
