package storetest

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/results/rollup"
	"github.com/picketnet/picket/results/synth"
)

// The benchmarks report, besides the wall clock, the CPU time they cost:
// this process's plus serverCPU's (a database server's), which on a shared
// machine is the steadier measure of what a store needs.

// BenchIngest measures Ingest of batches of 1000 generated records (one
// vantage's runs of 1000 checks, as a prober sends them) by workers
// concurrent senders, as several probers post at once, reporting
// results/s. Generating the records is not timed: they are made before
// the clock starts.
func BenchIngest(b *testing.B, s results.Store, workers int, serverCPU func() time.Duration) {
	benchIngest(b, s, workers, serverCPU, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
}

// BenchIngestLive is BenchIngest with records from the start of the
// current hour, as probers send them, instead of a day in the past. A
// store that treats results for hours long gone (a prober's spool) apart
// from live ones is measured here on the live path, and by BenchIngest on
// the other.
func BenchIngestLive(b *testing.B, s results.Store, workers int, serverCPU func() time.Duration) {
	benchIngest(b, s, workers, serverCPU, time.Now().UTC().Truncate(time.Hour))
}

func benchIngest(b *testing.B, s results.Store, workers int, serverCPU func() time.Duration, start time.Time) {
	ctx := context.Background()
	cfg := synth.Config{Checks: 1000, Vantages: 20, Seed: 1, Start: start}
	cfg.End = cfg.Start.Add(time.Duration(b.N/cfg.Vantages+1) * time.Minute)
	var batches [][]results.Result
	_ = cfg.Results(1000, func(batch []results.Result) error {
		if len(batches) == b.N {
			return context.Canceled
		}
		batches = append(batches, batch)
		return nil
	})
	work := make(chan []results.Result, len(batches))
	for _, batch := range batches {
		work <- batch
	}
	close(work)
	b.ResetTimer()
	cpu0 := cpuTime() + serverCPU()
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for batch := range work {
				out, err := s.Ingest(ctx, batch)
				if err == nil && len(out.Accepted) != len(batch) {
					err = fmt.Errorf("%d of %d accepted", len(out.Accepted), len(batch))
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	// A store that defers rollups to a compaction has done its work only
	// once the compaction has: that is timed too.
	if c, ok := s.(Compacter); ok {
		if err := c.Compact(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(len(batches)*1000)/b.Elapsed().Seconds(), "results/s")
	// What one core would sustain if the store had it to itself.
	b.ReportMetric(float64(len(batches)*1000)/(cpuTime()+serverCPU()-cpu0).Seconds(), "results/cpu-s")
}

// Compacter is a store that folds pending rollup deltas into its rollup
// tables in the background; Compact does it now.
type Compacter interface {
	Compact(ctx context.Context) error
}

// NoServer is the serverCPU of an embedded store.
func NoServer() time.Duration { return 0 }

// cpuTime is the CPU time this process has used, user and system. On a
// shared machine it says more about a store's cost than the wall clock.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// RollupLoader is the bulk path of a store (LoadRollups), which writes
// generated rollups without raw results.
type RollupLoader interface {
	LoadRollups(ctx context.Context, rows []*rollup.Row) error
}

// BenchReport fills the store with 31 days of day rollups (and the last
// six hours of hour rollups) for checks × vantages series at a 60 s
// interval, then measures an availability report by region over the last
// 30 days, for every team.
func BenchReport(b *testing.B, s results.Store, load RollupLoader, checks, vantages int, serverCPU func() time.Duration) {
	ctx := context.Background()
	now := time.Date(2026, 11, 21, 14, 30, 0, 0, time.UTC)
	cfg := synth.Config{Checks: checks, Vantages: vantages, Seed: 1,
		Start: now.Add(-31 * 24 * time.Hour).Truncate(24 * time.Hour), End: now}
	fill := time.Now()
	if err := cfg.Rollups(6*time.Hour, func(rows []*rollup.Row) error { return load.LoadRollups(ctx, rows) }); err != nil {
		b.Fatal(err)
	}
	b.Logf("filled %d checks x %d vantages x 31 days of rollups in %v", checks, vantages, time.Since(fill).Round(time.Millisecond))
	q := results.ReportQuery{By: results.ByRegion, Since: now.Add(-30 * 24 * time.Hour), Until: now}
	b.ResetTimer()
	cpu0 := cpuTime() + serverCPU()
	var rows []results.AvailabilityRow
	for b.Loop() {
		var err error
		rows, err = s.Availability(ctx, q)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()+serverCPU()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
	if want := checks * min(vantages, 5); len(rows) != want {
		b.Fatalf("%d report rows, want %d", len(rows), want)
	}
	b.ReportMetric(float64(len(rows)), "rows")
}
