package nel

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/picketnet/picket/results"
)

// traffic makes per-minute counts for the minutes from now-to up to
// now-from, with the given weighted counts per minute.
type flow struct {
	typ     string
	asn     uint32
	country string
	perMin  float64 // weighted
	sf      float64 // sampling fraction of the reports
}

func traffic(now time.Time, from, to time.Duration, flows ...flow) []results.NELCount {
	var out []results.NELCount
	for m := from; m < to; m += time.Minute {
		for _, f := range flows {
			phase := PhaseConnection
			if f.typ == TypeOK {
				phase = PhaseApplication
			}
			if strings.HasPrefix(f.typ, "dns.") {
				phase = PhaseDNS
			}
			out = append(out, results.NELCount{
				Bucket: now.Add(-to).Add(m - from), Team: "pay", Endpoint: "checkout-api",
				Phase: phase, Type: f.typ, ClientASN: f.asn, ClientCountry: f.country,
				Reports: int64(f.perMin*f.sf + 0.5), Weighted: f.perMin,
			})
		}
	}
	return out
}

func TestDetector(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	d := Detector{}
	base := func(flows ...flow) []results.NELCount { return traffic(now, 5*time.Minute, 65*time.Minute, flows...) }
	recent := func(flows ...flow) []results.NELCount { return traffic(now, 0, 5*time.Minute, flows...) }
	steady := []flow{
		{TypeOK, 3320, "DE", 1000, 0.01},
		{TypeOK, 7922, "US", 1000, 0.01},
		{"tcp.timed_out", 3320, "DE", 1, 1},
		{"tcp.timed_out", 7922, "US", 1, 1},
	}
	tests := []struct {
		name     string
		counts   []results.NELCount
		want     string // "" for no finding, else the type
		networks []uint32
		rates    bool
	}{
		{"steady is quiet", append(base(steady...), recent(steady...)...), "", nil, true},
		{"one network's refusals rise", append(base(steady...), recent(append(steady,
			flow{"tcp.refused", 3320, "DE", 60, 1}, flow{"tcp.refused", 7922, "US", 2, 1})...)...),
			"tcp.refused", []uint32{3320, 7922}, true},
		{"traffic rises, the failure rate does not", append(base(steady...), recent(
			flow{TypeOK, 3320, "DE", 10000, 0.01}, flow{TypeOK, 7922, "US", 10000, 0.01},
			flow{"tcp.timed_out", 3320, "DE", 10, 1}, flow{"tcp.timed_out", 7922, "US", 10, 1})...),
			"", nil, true},
		{"no success reports: counts per minute", append(base(flow{"dns.name_not_resolved", 3320, "DE", 0.2, 1}),
			recent(flow{"dns.name_not_resolved", 3320, "DE", 8, 1})...), "dns.name_not_resolved", []uint32{3320}, false},
		{"sampled reports are weighted", recent(flow{"tls.cert.date_invalid", 7922, "US", 10, 0.1}),
			"tls.cert.date_invalid", []uint32{7922}, false},
		{"a handful of failures is not an alert", recent(flow{"tls.cert.date_invalid", 7922, "US", 1, 1}), "", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := d.Detect(now, tt.counts, nil)
			if tt.want == "" {
				if len(got) != 0 {
					t.Errorf("findings %+v, want none", got)
				}
				return
			}
			if len(got) != 1 || got[0].Type != tt.want || got[0].WithRates != tt.rates {
				t.Fatalf("findings %+v, want one of type %s (rates %v)", got, tt.want, tt.rates)
			}
			var asns []uint32
			for _, n := range got[0].Networks {
				asns = append(asns, n.ASN)
			}
			if len(asns) != len(tt.networks) || asns[0] != tt.networks[0] {
				t.Errorf("networks %v, want %v", asns, tt.networks)
			}
			sum := got[0].Summary()
			if !strings.Contains(sum, tt.want) || !strings.Contains(sum, "AS") || strings.Contains(sum, "\n") {
				t.Errorf("summary %q", sum)
			}
			t.Log(sum)
		})
	}
}

// From the wire to a finding: reports posted to the handler, counted by
// the store, evaluated by the detector.
func TestDetectFromStore(t *testing.T) {
	f := newFixture(t, Options{Burst: 1000})
	d := Detector{}
	var rs []any
	for range 30 {
		rs = append(rs, report("https://api.example.com/", map[string]any{"type": "tcp.refused"}))
	}
	if code, ans, _ := f.post(t, "203.0.113.5:1", envelope(t, rs...)); code != 200 {
		t.Fatalf("%d %v", code, ans)
	}
	got, err := d.Evaluate(context.Background(), f.store, f.now.Add(time.Minute), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Type != "tcp.refused" || got[0].Networks[0].ASN != 7922 || got[0].Networks[0].Country != "US" {
		t.Fatalf("findings %+v", got)
	}
}

// A failure that goes on must stay a finding for as long as it lasts when
// the caller pins the baseline it was found against; without the pin it
// soaks into its own baseline and fades.
func TestPinnedBaselineOutlastsTheFailure(t *testing.T) {
	start := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	healthy := []flow{{TypeOK, 3320, "DE", 1000, 0.01}, {"tcp.refused", 3320, "DE", 0.5, 1}}
	failing := append(healthy, flow{"tcp.refused", 3320, "DE", 100, 1})
	// Two hours of health, then the refusals from start on.
	counts := func(now time.Time) []results.NELCount {
		before := traffic(start, 0, 2*time.Hour, healthy...)
		return append(before, traffic(now, 0, now.Sub(start), failing...)...)
	}
	d := Detector{}
	pinned := Pinned{}
	for _, after := range []time.Duration{5 * time.Minute, 10 * time.Minute, 30 * time.Minute, time.Hour, 3 * time.Hour} {
		now := start.Add(after)
		got := d.Detect(now, counts(now), pinned)
		if len(got) != 1 || got[0].Type != "tcp.refused" {
			t.Fatalf("after %v with the pinned baseline: findings %+v, want tcp.refused", after, got)
		}
		if _, ok := pinned[got[0].Key()]; !ok {
			pinned[got[0].Key()] = got[0].Baseline()
		}
		if got[0].BaselineRate > 0.001 {
			t.Errorf("after %v: baseline rate %.4f, want the healthy one (%.4f) kept", after, got[0].BaselineRate, pinned[got[0].Key()].Rate)
		}
		if after >= 30*time.Minute {
			if faded := d.Detect(now, counts(now), nil); len(faded) != 0 {
				t.Errorf("after %v without a pin: findings %+v; the test no longer shows the failure fading into its baseline", after, faded)
			}
		}
	}
	// Once the clients stop failing, the finding ends, pin or not.
	now := start.Add(4 * time.Hour)
	recovered := append(traffic(start, 0, 2*time.Hour, healthy...), traffic(now, 10*time.Minute, now.Sub(start), failing...)...)
	recovered = append(recovered, traffic(now, 0, 10*time.Minute, healthy...)...)
	if got := d.Detect(now, recovered, pinned); len(got) != 0 {
		t.Errorf("after recovery: findings %+v, want none", got)
	}
}
