package loadgen

import (
	"bytes"
	"context"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/picketnet/picket/collector"
	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/results/sqlite/sqlitetest"
)

func batchOf(n int) []results.Result {
	rng := rand.New(rand.NewPCG(3, 4))
	s := Shape{Team: "bench", Checks: 1000, FailRatio: 0.02}
	rs := make([]results.Result, n)
	now := time.Now().UTC()
	for i := range rs {
		rs[i] = s.Record(rng, i%1000, "v-001", "bench-eu-west", "aws", 64501, now)
	}
	return rs
}

// BenchmarkDecodeBatch measures the collector's decoding of a 500-record
// gzip batch, per record.
func BenchmarkDecodeBatch(b *testing.B) {
	body := appendBatch(nil, batchOf(500))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := collector.DecodeBatch(bytes.NewReader(body), ""); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSQLiteIngest measures the store alone, by batch size.
func BenchmarkSQLiteIngest(b *testing.B) {
	for _, n := range []int{100, 500, 5000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) { benchIngest(b, n) })
	}
}

func benchIngest(b *testing.B, n int) {
	st := sqlitetest.Open(b)
	rs := batchOf(n)
	rng := rand.New(rand.NewPCG(5, 6))
	for b.Loop() {
		for i := range rs {
			rs[i].ID = uuid7(rng, rs[i].StartedAt)
		}
		if _, err := st.Ingest(context.Background(), rs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(rs))/b.Elapsed().Seconds(), "results/s")
}
