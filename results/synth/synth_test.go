package synth

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/results/rollup"
)

var start = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// The generator is deterministic, its records pass validation, ids are
// unique UUIDv7s in time order, and every series runs once per interval.
func TestResults(t *testing.T) {
	c := Config{Checks: 30, Vantages: 7, Start: start, End: start.Add(2 * time.Hour), Seed: 1, FailureRate: 0.05}
	collect := func() []results.Result {
		var all []results.Result
		if err := c.Results(100, func(b []results.Result) error {
			if len(b) > 100 {
				t.Fatalf("batch of %d", len(b))
			}
			for i := range b {
				if b[i].Vantage != b[0].Vantage {
					t.Fatal("a batch mixes vantages")
				}
			}
			all = append(all, b...)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return all
	}
	a, b := collect(), collect()
	if len(a) != 30*7*120 {
		t.Fatalf("%d records, want %d", len(a), 30*7*120)
	}
	ids := make(map[string]bool)
	failed := 0
	for i := range a {
		if err := a[i].Validate(); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if a[i].ID != b[i].ID || a[i].DurationMS != b[i].DurationMS || a[i].OK != b[i].OK {
			t.Fatalf("record %d differs between runs", i)
		}
		if ids[a[i].ID] {
			t.Fatalf("duplicate id %s", a[i].ID)
		}
		ids[a[i].ID] = true
		if a[i].ID[14] != '7' {
			t.Fatalf("id %s is not a UUIDv7", a[i].ID)
		}
		if !a[i].OK {
			failed++
		}
	}
	if rate := float64(failed) / float64(len(a)); rate < 0.03 || rate > 0.08 {
		t.Errorf("failure rate %.3f, configured 0.05", rate)
	}
	regions := map[string]bool{}
	for _, v := range c.Fleet() {
		regions[v.Region] = true
	}
	if len(regions) != 5 {
		t.Errorf("%d regions, want 5", len(regions))
	}
}

// Generated rollups hold one day of runs per day row, with histograms
// centred where the records' latencies are, and hour rows only where no
// day row is: a store that folds hours into days would count them twice.
func TestRollups(t *testing.T) {
	daysEnd := start.Add(3 * 24 * time.Hour)
	c := Config{Checks: 3, Vantages: 2, Start: start, End: daysEnd.Add(2 * time.Hour), Seed: 1}
	var rows []*rollup.Row
	if err := c.Rollups(5*time.Hour, func(b []*rollup.Row) error { rows = append(rows, b...); return nil }); err != nil {
		t.Fatal(err)
	}
	days, hours := 0, 0
	for _, r := range rows {
		switch r.Level {
		case rollup.Day:
			days++
			if r.Count != 1440 || r.Hist.Count() != 1440 {
				t.Fatalf("day row count %d histogram %d, want 1440", r.Count, r.Hist.Count())
			}
		case rollup.Hour:
			hours++
			if r.Bucket < daysEnd.Unix() {
				t.Fatalf("hour row at %v, inside the last day row", time.Unix(r.Bucket, 0).UTC())
			}
			if r.Count != 60 || r.Hist.Count() != 60 {
				t.Fatalf("hour row count %d histogram %d, want 60", r.Count, r.Hist.Count())
			}
		}
	}
	if days != 3*3*2 || hours != 2*3*2 {
		t.Fatalf("%d day rows and %d hour rows, want 18 and 12", days, hours)
	}
	// The same series' records: their median matches the rollup's.
	var recs []float64
	if err := c.Results(1000, func(b []results.Result) error {
		for _, r := range b {
			if r.Check == "ep-00001/http" && r.Vantage == c.Fleet()[1].ID {
				recs = append(recs, r.DurationMS)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(recs)
	var h results.Histogram
	for _, r := range rows {
		if r.Check == "ep-00001/http" && r.Vantage == c.Fleet()[1].ID && r.Level == rollup.Day {
			h.Merge(r.Hist)
		}
	}
	exact := recs[len(recs)/2]
	if rel := math.Abs(h.Quantile(0.5)-exact) / exact; rel > 0.05 {
		t.Errorf("rollup median %.2f, records' median %.2f", h.Quantile(0.5), exact)
	}
}
