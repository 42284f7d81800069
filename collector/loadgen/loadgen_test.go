package loadgen

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/picketnet/picket/checks"
	"github.com/picketnet/picket/collector"
	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/results/sqlite"
	"github.com/picketnet/picket/results/synth"
)

func openStore(t *testing.T) *sqlite.Store { return openStoreB(t) }

func openStoreB(t testing.TB) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestRecordsDecode: the hand-written JSON is what the collector decodes,
// and every record is valid.
func TestRecordsDecode(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s := Shape{Team: "bench", Checks: 10, FailRatio: 0.3}
	var want []results.Result
	for i := range 50 {
		want = append(want, s.Record(rng, i%10, "v-001", "eu-west", "aws", 64501, time.Now().UTC()))
	}
	b, err := collector.DecodeBatch(bytes.NewReader(appendBatch(nil, want)), "")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i, r := range b.Results {
		if err := r.Validate(); err != nil {
			t.Errorf("record %d: %v", i, err)
		}
		if r.ID != want[i].ID || r.OK != want[i].OK || r.DurationMS != want[i].DurationMS || !r.StartedAt.Equal(want[i].StartedAt) {
			t.Errorf("record %d decoded as %+v, want %+v", i, r, want[i])
		}
		if seen[r.ID] {
			t.Errorf("duplicate id %s", r.ID)
		}
		seen[r.ID] = true
	}
}

// TestRun drives a real collector over SQLite briefly: everything sent is
// acknowledged and stored, nothing is rejected or duplicated.
func TestRun(t *testing.T) {
	st := openStore(t)
	const admin = "pka_bench-test"
	srv, err := collector.New(collector.Options{Store: st, Kinds: checks.NewRegistry(), AdminToken: admin,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	rep, err := Run(context.Background(), Config{
		Collector: hs.URL, AdminToken: admin, Vantages: 3, Rate: 600, Duration: 1500 * time.Millisecond,
		BatchEvery: 250 * time.Millisecond, Gzip: true, Shape: Shape{Checks: 20, FailRatio: 0.1},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Accepted == 0 || rep.Accepted != rep.Sent || rep.Rejected != 0 || rep.Duplicate != 0 || rep.Failed != 0 {
		t.Errorf("report %+v: want every sent record accepted once", rep)
	}
	if rep.P99 < rep.P50 || rep.Max < rep.P99 || rep.P50 <= 0 {
		t.Errorf("latency percentiles out of order: %+v", rep)
	}
	stored, err := st.Query(context.Background(), results.ResultQuery{Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(stored)) != rep.Accepted {
		t.Errorf("stored %d, acknowledged %d", len(stored), rep.Accepted)
	}
}

// TestGenerate writes a small history both ways; the report over it counts
// every run, and a repeated raw run stores nothing new.
func TestGenerate(t *testing.T) {
	end := time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		raw    bool
		window time.Duration
	}{{false, 48 * time.Hour}, {true, 2 * time.Hour}} {
		sc := synth.Config{Checks: 2, Vantages: 3, Start: end.Add(-tc.window), End: end, Seed: 7}
		runs := int64(2 * 3 * tc.window / time.Minute)
		st := openStore(t)
		n, err := Generate(context.Background(), st, GenerateConfig{Synth: sc, Raw: tc.raw, HourDetail: 6 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if tc.raw && n != runs {
			t.Errorf("raw: wrote %d records, want %d", n, runs)
		}
		rows, err := st.Availability(context.Background(), results.ReportQuery{By: results.ByRegion, Since: sc.Start, Until: end})
		if err != nil {
			t.Fatal(err)
		}
		var total, failures int64
		for _, r := range rows {
			total += r.Results
			failures += r.Failures
		}
		if total != runs || (!tc.raw && failures == 0) || failures > runs/10 {
			t.Errorf("raw=%v: report counts %d results, %d failures; want %d results and a few failures", tc.raw, total, failures, runs)
		}
		if !tc.raw {
			continue
		}
		dup := &countingIngester{st: st}
		if _, err := Generate(context.Background(), dup, GenerateConfig{Synth: sc, Raw: true}); err != nil {
			t.Fatal(err)
		}
		if dup.accepted != 0 || dup.duplicate != runs {
			t.Errorf("second raw run: %d accepted, %d duplicate; want 0 and %d", dup.accepted, dup.duplicate, runs)
		}
	}
}

type countingIngester struct {
	st                  *sqlite.Store
	accepted, duplicate int64
}

func (c *countingIngester) Ingest(ctx context.Context, rs []results.Result) (results.IngestOutcome, error) {
	out, err := c.st.Ingest(ctx, rs)
	c.accepted += int64(len(out.Accepted))
	c.duplicate += int64(len(out.Duplicate))
	return out, err
}
