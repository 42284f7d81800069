package sqlite

import (
	"context"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/results/storetest"
	"github.com/picketnet/picket/results/synth"
)

func benchStore(b *testing.B) *Store {
	s, err := Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func BenchmarkIngest(b *testing.B) { storetest.BenchIngest(b, benchStore(b), 1, storetest.NoServer) }

// Concurrent batches queue for the one writer.
func BenchmarkIngest4(b *testing.B) { storetest.BenchIngest(b, benchStore(b), 4, storetest.NoServer) }

// BenchmarkIngestWide is the load of `picket bench ingest --vantages 100`
// at the store: 1000 checks x 100 vantages, batches of 500 records, eight
// senders. Its day and week packs are 100 vantages wide. b.N is the
// number of batches.
func BenchmarkIngestWide(b *testing.B) {
	const size, senders = 500, 8
	s := benchStore(b)
	ctx := context.Background()
	cfg := synth.Config{Checks: 1000, Vantages: 100, Seed: 1, Start: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	cfg.End = cfg.Start.Add(time.Duration(b.N*size/(cfg.Checks*cfg.Vantages)+1) * time.Minute)
	work := make(chan []results.Result, b.N)
	n := 0
	_ = cfg.Results(size, func(batch []results.Result) error {
		if len(work) == b.N {
			return context.Canceled
		}
		work <- batch
		n += len(batch)
		return nil
	})
	close(work)
	b.ResetTimer()
	cpu0 := cpuTime()
	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() {
			for batch := range work {
				if _, err := s.Ingest(ctx, batch); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := s.Compact(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "results/s")
	b.ReportMetric(float64(n)/(cpuTime()-cpu0).Seconds(), "results/cpu-s")
}

// cpuTime is the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkReport30d(b *testing.B) {
	s := benchStore(b)
	storetest.BenchReport(b, s, s, 1000, 20, storetest.NoServer)
}
