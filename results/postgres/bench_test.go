package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/results/storetest"
	"github.com/picketnet/picket/results/synth"
)

func BenchmarkIngest(b *testing.B) {
	s := open(b)
	b.Cleanup(func() { s.Close() })
	storetest.BenchIngest(b, s, 1, pg.ServerCPU)
}

// Four probers posting at once, as the collector's handlers would.
func BenchmarkIngest4(b *testing.B) {
	s := open(b)
	b.Cleanup(func() { s.Close() })
	storetest.BenchIngest(b, s, 4, pg.ServerCPU)
}

// Results of the current hour, as probers send them live; the two above
// send results of a day long past, which take the path of late results.
func BenchmarkIngestLive(b *testing.B) {
	s := open(b)
	b.Cleanup(func() { s.Close() })
	storetest.BenchIngestLive(b, s, 1, pg.ServerCPU)
}

func BenchmarkIngestLive4(b *testing.B) {
	s := open(b)
	b.Cleanup(func() { s.Close() })
	storetest.BenchIngestLive(b, s, 4, pg.ServerCPU)
}

func BenchmarkReport30d(b *testing.B) {
	s := open(b)
	b.Cleanup(func() { s.Close() })
	storetest.BenchReport(b, s, s, 1000, 20, pg.ServerCPU)
}

// The store's part of ingest alone, without compaction (stopped): the
// CPU the server and this process spend per result to acknowledge live
// batches of 1000 results of 1000 endpoints, as one prober sends them.
func BenchmarkIngestOnly(b *testing.B) {
	s := open(b)
	b.Cleanup(func() { s.Close() })
	s.compactor.Stop()
	ctx := context.Background()
	batches := liveBatches(b.N)
	if _, err := s.Ingest(ctx, batches[0][:1]); err != nil { // partitions, connections
		b.Fatal(err)
	}
	b.ResetTimer()
	server0, self0 := pg.ServerCPU(), processCPU()
	n := 0
	for _, batch := range batches {
		out, err := s.Ingest(ctx, batch)
		if err != nil {
			b.Fatal(err)
		}
		n += len(out.Accepted)
	}
	b.StopTimer()
	b.ReportMetric(float64((pg.ServerCPU()-server0).Nanoseconds())/1e3/float64(n), "server-µs/result")
	b.ReportMetric(float64((processCPU()-self0).Nanoseconds())/1e3/float64(n), "go-µs/result")
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "results/s")
}

// liveBatches makes n batches of 1000 results of the current hour, one
// vantage's runs of 1000 checks each.
func liveBatches(n int) [][]results.Result {
	cfg := synth.Config{Checks: 1000, Vantages: 20, Seed: 1, Start: time.Now().UTC().Truncate(time.Hour)}
	cfg.End = cfg.Start.Add(time.Duration(n/cfg.Vantages+1) * time.Minute)
	var batches [][]results.Result
	_ = cfg.Results(1000, func(batch []results.Result) error {
		if len(batches) == n {
			return context.Canceled
		}
		batches = append(batches, batch)
		return nil
	})
	return batches
}

// The server's CPU for each step of the ingest transaction of live
// batches (as BenchmarkIngestOnly's), per result: the ids, the packs, the
// rollup_pending row, the commit. It reads the CPU time
// of the session's backend from /proc, so it needs the server on this
// machine (internal/pgtest's).
func BenchmarkIngestSteps(b *testing.B) {
	s := open(b)
	b.Cleanup(func() { s.Close() })
	s.compactor.Stop()
	ctx := context.Background()
	batches := liveBatches(b.N)
	if err := s.ensurePartitions(ctx, batches[0]); err != nil {
		b.Fatal(err)
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Release()
	pid := conn.Conn().PgConn().PID()
	if _, err := backendCPU(pid); err != nil {
		b.Skipf("the server is not on this machine: %v", err)
	}
	steps := []struct {
		name string
		run  func(tx pgx.Tx, rs []results.Result) error
	}{
		{"ids", func(tx pgx.Tx, rs []results.Result) error { return copyIDs(ctx, tx, "result_ids", rs, byKey(rs)) }},
		{"packs", func(tx pgx.Tx, rs []results.Result) error { _, err := copyPacks(ctx, tx, rs); return err }},
		{"pending", func(tx pgx.Tx, rs []results.Result) error { _, err := appendPending(ctx, tx, rs); return err }},
		{"commit", func(tx pgx.Tx, rs []results.Result) error { return tx.Commit(ctx) }},
	}
	spent := make([]time.Duration, len(steps))
	b.ResetTimer()
	for _, batch := range batches {
		tx, err := conn.Begin(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for i, step := range steps {
			before, _ := backendCPU(pid)
			if err := step.run(tx, batch); err != nil {
				b.Fatal(err)
			}
			after, _ := backendCPU(pid)
			spent[i] += after - before
		}
	}
	b.StopTimer()
	for i, step := range steps {
		b.ReportMetric(float64(spent[i].Nanoseconds())/1e3/float64(len(batches)*1000), step.name+"-µs/result")
	}
}

// backendCPU is the CPU time (user and system) the server process pid
// has used, read from /proc: clock ticks of 10 ms.
func backendCPU(pid uint32) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the parenthesised command name; utime and stime are
	// the 12th and 13th of them.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// An endpoint's newest 1000 results, as the dashboard asks for them, in a
// store of 300,000 results of 250 endpoints from 20 vantages (1,200 per
// endpoint), ingested in batches of 1000 (four vantages' runs at once,
// as the collector's group commit makes them).
func BenchmarkEndpointRead(b *testing.B) {
	s := open(b)
	b.Cleanup(func() { s.Close() })
	s.compactor.Stop()
	ctx := context.Background()
	cfg := synth.Config{Checks: 250, Vantages: 20, Seed: 1, Start: time.Now().UTC().Truncate(time.Hour).Add(-time.Hour)}
	cfg.End = cfg.Start.Add(60 * time.Minute)
	var group []results.Result
	err := cfg.Results(1000, func(batch []results.Result) error {
		if group = append(group, batch...); len(group) < 1000 {
			return nil
		}
		_, err := s.Ingest(ctx, group)
		group = group[:0:0]
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	q := results.ResultQuery{Endpoint: "ep-00042", Limit: 1000}
	b.ResetTimer()
	cpu0 := pg.ServerCPU() + processCPU()
	for b.Loop() {
		rs, err := s.Query(ctx, q)
		if err != nil {
			b.Fatal(err)
		}
		if len(rs) != 1000 {
			b.Fatalf("%d results, want 1000", len(rs))
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((pg.ServerCPU()+processCPU()-cpu0).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
}

// processCPU is this process's CPU time, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
