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

// Results of the current hour, as probers send them live; the two above
// send results of a day long past, which take compaction's path of late
// results once their hours are derived (derive.go).
func BenchmarkIngestLive(b *testing.B) {
	storetest.BenchIngestLive(b, benchStore(b), 1, storetest.NoServer)
}

func BenchmarkIngestLive4(b *testing.B) {
	storetest.BenchIngestLive(b, benchStore(b), 4, storetest.NoServer)
}

// BenchmarkCompact measures compaction alone: each op folds 64 pending
// batches of 1000 results (what the background loop folds at once,
// Compactor.KickAfter), of 1000 checks x 20 vantages, so that every
// series gets about three results per compaction. "live" results are of
// the current hour; "late" ones of a day long past, whose hours are
// derived already. It reports the CPU compaction costs per result.
func BenchmarkCompact(b *testing.B) {
	for _, tc := range []struct {
		name  string
		start time.Time
	}{
		{"live", time.Now().UTC().Truncate(time.Hour)},
		{"late", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			const perOp = 64
			s := benchStore(b)
			s.compactor.Stop()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			cfg := synth.Config{Checks: 1000, Vantages: 20, Seed: 1, Start: tc.start, End: tc.start.Add(24 * time.Hour)}
			batches := make(chan []results.Result) // made as needed, not while compacting
			go func() {
				defer close(batches)
				_ = cfg.Results(1000, func(batch []results.Result) error {
					select {
					case batches <- batch:
						return nil
					case <-ctx.Done():
						return ctx.Err()
					}
				})
			}()
			ingest := func() {
				for range perOp {
					if _, err := s.Ingest(ctx, <-batches); err != nil {
						b.Fatal(err)
					}
				}
			}
			// The first compaction of a store derives the past day: what
			// follows is late.
			ingest()
			if err := s.Compact(ctx); err != nil {
				b.Fatal(err)
			}
			var cpu time.Duration
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				ingest()
				b.StartTimer()
				cpu0 := cpuTime()
				if err := s.Compact(ctx); err != nil {
					b.Fatal(err)
				}
				cpu += cpuTime() - cpu0
			}
			b.StopTimer()
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*perOp*1000), "cpu-ns/result")
		})
	}
}

// BenchmarkIngestWide is the load of `picket bench ingest --vantages 100`
// at the store: 1000 checks x 100 vantages, batches of 500 records, eight
// senders. Its day and week packs are 100 vantages wide. b.N is the
// number of batches. Its results are of a day long past, whose hours are
// derived (compaction's path of late results); IngestWideLive's are of
// the current hour, as `picket bench ingest` sends them.
func BenchmarkIngestWide(b *testing.B) {
	benchIngestWide(b, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
}

func BenchmarkIngestWideLive(b *testing.B) {
	benchIngestWide(b, time.Now().UTC().Truncate(time.Hour))
}

func benchIngestWide(b *testing.B, start time.Time) {
	const size, senders = 500, 8
	s := benchStore(b)
	ctx := context.Background()
	cfg := synth.Config{Checks: 1000, Vantages: 100, Seed: 1, Start: start}
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
