package nel

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/picketnet/picket/results"
)

// Detector says when client-side failures of an endpoint rose well above
// their baseline. It compares a recent window with the baseline period
// just before it, per endpoint and NEL type, weighting every report by
// 1/sampling_fraction:
//
//   - when the endpoint's clients also send success reports
//     (success_fraction > 0), it compares failure rates: failures of the
//     type over all requests (failures plus successes);
//   - without success reports it compares failures per minute.
//
// A finding needs at least MinFailures weighted failures in the window and
// a rise of Factor over the baseline; with rates, also a rate of at least
// MinRate. It is stateless: the caller (alerting) decides on persistence
// and the alert lifecycle.
//
// A failure that lasts soaks into its own baseline: after about
// Baseline/Factor (15 minutes with the defaults) the window no longer
// stands out, though the clients still fail. The caller therefore passes
// back, for the findings it holds open, the baselines they were found
// against (Pinned): while a finding is open, it is measured against the
// lower of its pinned baseline and the current one.
type Detector struct {
	Window      time.Duration // default 5m
	Baseline    time.Duration // default 1h, before the window
	Factor      float64       // default 4
	MinFailures float64       // default 20 (weighted)
	MinRate     float64       // default 0.02 (2% of requests)
	MaxNetworks int           // networks named per finding, default 5
}

// Finding is one endpoint and NEL type whose failures rose.
type Finding struct {
	Team     string `json:"team"`
	Endpoint string `json:"endpoint"`
	Type     string `json:"type"`
	Phase    string `json:"phase"`
	// Failures is the weighted count in the window.
	Failures float64 `json:"failures"`
	// WithRates says whether success reports allowed comparing rates;
	// then Rate and BaselineRate are failures of the type over all
	// requests, otherwise PerMinute and BaselinePerMinute compare counts.
	WithRates         bool    `json:"with_rates"`
	Rate              float64 `json:"rate,omitempty"`
	BaselineRate      float64 `json:"baseline_rate,omitempty"`
	PerMinute         float64 `json:"per_minute"`
	BaselinePerMinute float64 `json:"baseline_per_minute"`
	// Networks are the client networks hit, most failures above their own
	// baseline first.
	Networks []Network `json:"networks"`
}

// Network is a client network (AS and country) with its failures.
type Network struct {
	ASN      uint32  `json:"asn"`
	Country  string  `json:"country,omitempty"`
	Failures float64 `json:"failures"` // weighted, in the window
	Share    float64 `json:"share"`    // of the finding's failures
}

// Baseline is what a finding's window was compared with.
type Baseline struct {
	Rate      float64 `json:"rate,omitempty"`
	PerMinute float64 `json:"per_minute"`
}

// Baseline returns the baselines f was found against.
func (f Finding) Baseline() Baseline {
	return Baseline{Rate: f.BaselineRate, PerMinute: f.BaselinePerMinute}
}

// Pinned holds the baselines of open findings, by Finding.Key.
type Pinned map[string]Baseline

// Key identifies the condition for alert deduplication.
func (f Finding) Key() string { return "nel/" + f.Team + "/" + f.Endpoint + "/" + f.Type }

// Summary is one line for an alert.
func (f Finding) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "client-side %s (%s phase) on %s: %.0f failures", f.Type, f.Phase, f.Endpoint, f.Failures)
	if f.WithRates {
		fmt.Fprintf(&b, ", %.1f%% of requests (baseline %.2f%%)", 100*f.Rate, 100*f.BaselineRate)
	} else {
		fmt.Fprintf(&b, ", %.1f/min (baseline %.2f/min)", f.PerMinute, f.BaselinePerMinute)
	}
	if len(f.Networks) > 0 {
		b.WriteString(" from ")
		for i, n := range f.Networks {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "AS%d", n.ASN)
			if n.Country != "" {
				fmt.Fprintf(&b, " (%s)", n.Country)
			}
			fmt.Fprintf(&b, " %.0f%%", 100*n.Share)
		}
	}
	return b.String()
}

func (d Detector) withDefaults() Detector {
	if d.Window <= 0 {
		d.Window = 5 * time.Minute
	}
	if d.Baseline <= 0 {
		d.Baseline = time.Hour
	}
	if d.Factor <= 0 {
		d.Factor = 4
	}
	if d.MinFailures <= 0 {
		d.MinFailures = 20
	}
	if d.MinRate <= 0 {
		d.MinRate = 0.02
	}
	if d.MaxNetworks <= 0 {
		d.MaxNetworks = 5
	}
	return d
}

// CountSource gives aggregated NEL counts (results.NELStore does).
type CountSource interface {
	NELCounts(ctx context.Context, q results.NELQuery) ([]results.NELCount, error)
}

// Evaluate reads the counts Detect needs from src and detects at now.
func (d Detector) Evaluate(ctx context.Context, src CountSource, now time.Time, pinned Pinned) ([]Finding, error) {
	counts, err := src.NELCounts(ctx, results.NELQuery{Since: d.Since(now), Until: now})
	if err != nil {
		return nil, fmt.Errorf("nel: counts: %w", err)
	}
	return d.Detect(now, counts, pinned), nil
}

// Since is the start of the counts Detect needs for an evaluation at now.
func (d Detector) Since(now time.Time) time.Time {
	d = d.withDefaults()
	return now.Add(-d.Window - d.Baseline)
}

type netKey struct {
	asn     uint32
	country string
}

// tally is one endpoint's weighted counts in the window and the baseline.
type tally struct {
	okRecent, okBase   float64
	allRecent, allBase float64 // every failure, any type
	types              map[string]*typeTally
}

type typeTally struct {
	phase        string
	recent, base float64
	netRecent    map[netKey]float64
	netBase      map[netKey]float64
}

// Detect evaluates counts (NELCounts since d.Since(now)) at now, and
// returns the findings sorted by team, endpoint and type. pinned may be
// nil.
func (d Detector) Detect(now time.Time, counts []results.NELCount, pinned Pinned) []Finding {
	d = d.withDefaults()
	winStart := now.Add(-d.Window)
	baseStart := winStart.Add(-d.Baseline)
	endpoints := map[[2]string]*tally{}
	for _, c := range counts {
		if c.Bucket.Before(baseStart) || !c.Bucket.Before(now) {
			continue
		}
		recent := !c.Bucket.Before(winStart)
		k := [2]string{c.Team, c.Endpoint}
		t := endpoints[k]
		if t == nil {
			t = &tally{types: map[string]*typeTally{}}
			endpoints[k] = t
		}
		if c.Type == TypeOK {
			if recent {
				t.okRecent += c.Weighted
			} else {
				t.okBase += c.Weighted
			}
			continue
		}
		tt := t.types[c.Type]
		if tt == nil {
			tt = &typeTally{phase: c.Phase, netRecent: map[netKey]float64{}, netBase: map[netKey]float64{}}
			t.types[c.Type] = tt
		}
		nk := netKey{c.ClientASN, c.ClientCountry}
		if recent {
			tt.recent += c.Weighted
			tt.netRecent[nk] += c.Weighted
			t.allRecent += c.Weighted
		} else {
			tt.base += c.Weighted
			tt.netBase[nk] += c.Weighted
			t.allBase += c.Weighted
		}
	}
	win, base := d.Window.Minutes(), d.Baseline.Minutes()
	var out []Finding
	for k, t := range endpoints {
		withRates := t.okRecent+t.okBase > 0
		for typ, tt := range t.types {
			if tt.recent < d.MinFailures {
				continue
			}
			f := Finding{Team: k[0], Endpoint: k[1], Type: typ, Phase: tt.phase, Failures: tt.recent,
				WithRates: withRates, PerMinute: tt.recent / win, BaselinePerMinute: tt.base / base}
			if withRates && t.allBase+t.okBase > 0 {
				f.BaselineRate = tt.base / (t.allBase + t.okBase)
			}
			if p, ok := pinned[f.Key()]; ok {
				f.BaselineRate = min(f.BaselineRate, p.Rate)
				f.BaselinePerMinute = min(f.BaselinePerMinute, p.PerMinute)
			}
			if withRates {
				f.Rate = tt.recent / (t.allRecent + t.okRecent)
				if f.Rate < d.MinRate || f.Rate < d.Factor*f.BaselineRate {
					continue
				}
			} else if f.PerMinute < d.Factor*f.BaselinePerMinute {
				continue
			}
			f.Networks = d.networks(tt, win, base)
			out = append(out, f)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out
}

// networks names the client networks whose failures rose: recent
// failures above what each network's own baseline predicts for the
// window, largest excess first.
func (d Detector) networks(tt *typeTally, win, base float64) []Network {
	type excess struct {
		k      netKey
		recent float64
		extra  float64
	}
	var xs []excess
	for k, r := range tt.netRecent {
		e := r - tt.netBase[k]/base*win
		if e > 0 {
			xs = append(xs, excess{k, r, e})
		}
	}
	sort.Slice(xs, func(i, j int) bool {
		if xs[i].extra != xs[j].extra {
			return xs[i].extra > xs[j].extra
		}
		return xs[i].k.asn < xs[j].k.asn
	})
	var out []Network
	for _, x := range xs[:min(len(xs), d.MaxNetworks)] {
		out = append(out, Network{ASN: x.k.asn, Country: x.k.country, Failures: x.recent, Share: x.recent / tt.recent})
	}
	return out
}
