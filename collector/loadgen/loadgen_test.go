package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/picketnet/picket/checks/all"
	"github.com/picketnet/picket/checks/targetpolicy"
	"github.com/picketnet/picket/collector"
	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/results/sqlite"
	"github.com/picketnet/picket/results/sqlite/sqlitetest"
	"github.com/picketnet/picket/results/synth"
)

// TestRecordsDecode: the hand-written JSON is what the collector decodes,
// and every record is valid.
func TestRecordsDecode(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s := Shape{Team: "bench", Checks: 10, FailRatio: 0.3}
	var want []results.Result
	for i := range 50 {
		want = append(want, s.Record(rng, i%10, "v-001", "bench-eu-west", "aws", 64501, time.Now().UTC()))
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

// TestRun drives a real collector over SQLite briefly, several times: each
// run offers exactly rate × duration results, all acknowledged and stored
// once, and the sustained rate divides them by the run's elapsed time.
// Later runs against the same collector find the bench team's endpoints
// registered and register the ones they add.
func TestRun(t *testing.T) {
	st := sqlitetest.Open(t)
	const admin = "pka_bench-test"
	srv, err := collector.New(collector.Options{Store: st, Kinds: all.New(), AdminToken: admin,
		Policy: targetpolicy.Policy{DenyPrivate: true}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	tests := []struct {
		vantages, checks int
		rate             float64
		duration, every  time.Duration
		want             int64
	}{
		{3, 20, 600, 1500 * time.Millisecond, 250 * time.Millisecond, 900},
		{2, 20, 50, time.Second, 250 * time.Millisecond, 50},
		// Fewer results per interval than vantages, and a duration that
		// is not a whole number of intervals.
		{4, 30, 10, 1100 * time.Millisecond, 400 * time.Millisecond, 11},
	}
	var total int64
	for i, tc := range tests {
		rep, err := Run(context.Background(), Config{
			Collector: hs.URL, AdminToken: admin, Vantages: tc.vantages, Rate: tc.rate, Duration: tc.duration,
			BatchEvery: tc.every, Gzip: i%2 == 0, Prefix: fmt.Sprintf("run%d", i), Shape: Shape{Checks: tc.checks, FailRatio: 0.1},
		})
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		if rep.Sent != tc.want || rep.Accepted != tc.want || rep.Unsent != 0 || rep.Rejected != 0 || rep.Duplicate != 0 || rep.Failed != 0 {
			t.Errorf("run %d: %d vantages at %v/s for %s: report %+v; want %d results sent and accepted, none rejected, duplicate or failed",
				i, tc.vantages, tc.rate, tc.duration, rep, tc.want)
		}
		if rep.Elapsed < tc.duration || rep.Duration != tc.duration {
			t.Errorf("run %d: elapsed %s, duration %s; want at least the duration %s", i, rep.Elapsed, rep.Duration, tc.duration)
		}
		if want := float64(rep.Accepted) / rep.Elapsed.Seconds(); rep.PerSecond != want {
			t.Errorf("run %d: %v results/s sustained, want acknowledged/elapsed = %v", i, rep.PerSecond, want)
		}
		if rep.P99 < rep.P50 || rep.Max < rep.P99 || rep.P50 <= 0 {
			t.Errorf("run %d: latency percentiles out of order: %+v", i, rep)
		}
		total += rep.Accepted
	}
	stored, err := st.Query(context.Background(), results.ResultQuery{Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(stored)) != total {
		t.Errorf("stored %d, acknowledged %d", len(stored), total)
	}
	eps, err := st.Endpoints(context.Background(), "bench")
	if err != nil || len(eps) != 30 {
		t.Fatalf("team bench has %d endpoints (%v), want 30", len(eps), err)
	}
	// No real prober is assigned them, and their alerts notify nobody.
	for _, e := range eps {
		if slices.ContainsFunc(e.Regions, func(r string) bool { return !strings.HasPrefix(r, "bench-") }) || string(e.Alert) != `{"severity":"info"}` {
			t.Errorf("endpoint %s: regions %v, alert %s; want only bench-* regions and severity info", e.Name, e.Regions, e.Alert)
		}
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
		st := sqlitetest.Open(t)
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

// appendHundredths writes what strconv does with two decimals, for the
// values records hold and on both sides of zero.
func TestAppendHundredths(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	values := []float64{0, 0.01, 0.1, 0.99, 1, 9.99, 10, 81.25, 100.5, 123456.78, -0.01, -81.25, 1e-9, 0.004999}
	for range 1000 {
		values = append(values, math.Round(math.Exp(4.4+0.6*rng.NormFloat64())*100)/100, rng.Float64()*1000)
	}
	for _, v := range values {
		got := string(appendHundredths([]byte("x"), v))
		want := "x" + strconv.FormatFloat(math.Round(v*100)/100, 'f', 2, 64)
		if got != want {
			t.Errorf("appendHundredths(%v) = %q, want %q", v, got, want)
		}
	}
}
