package alerting

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/picketnet/picket/results"
)

// phaseNames are the phases a latency anomaly can be blamed on, as the
// record names them and as a human reads them.
var phaseNames = [...]struct{ field, human string }{
	{"dns", "DNS"}, {"connect", "connect"}, {"tls", "TLS"}, {"ttfb", "first byte"}, {"transfer", "transfer"},
}

func phaseValues(p results.Phases) [5]float64 {
	return [5]float64{p.DNSMS, p.ConnectMS, p.TLSMS, p.TTFBMS, p.TransferMS}
}

// window is the summary of one closed latency window.
type window struct {
	start    time.Time
	p50, p95 float64
	phases   [5]float64 // median of each phase
}

type latencyState struct {
	start   time.Time // start of the open window
	samples []float64
	phases  [5][]float64

	baseline []window // recent normal windows, oldest first
	// consecutive anomalous windows, the newest of them, and the phase that
	// grew most against the baseline.
	anomalous int
	last      window
	// pct is the percentile of last that broke its limit ("p50" or
	// "p95"); valueMS, limitMS and baseMS are that percentile's value,
	// limit and baseline median.
	pct      string
	valueMS  float64
	limitMS  float64
	baseMS   float64
	grew     string
	grewMS   float64
	absolute bool
}

func (e *Engine) observeLatency(s *checkVantage, r *results.Result) {
	// A run that was down says nothing of latency (its duration is a
	// timeout or a refusal); a tls/cert_expiring warning completed its
	// handshake, so its latency counts, and the check is not left without
	// a latency baseline for the weeks before its certificate is renewed.
	if r.Down() {
		return
	}
	v, ok := r.Latency()
	if !ok {
		return
	}
	l := &s.lat
	ws := r.StartedAt.Truncate(e.cfg.Latency.Window)
	if !l.start.IsZero() && ws.After(l.start) {
		e.closeWindow(s)
	}
	if l.start.IsZero() || ws.After(l.start) {
		l.start = ws
	}
	if l.samples == nil && s.interval > 0 {
		l.presize(int(e.cfg.Latency.Window / s.interval))
	}
	l.samples = append(l.samples, v)
	for i, p := range phaseValues(r.Phases) {
		l.phases[i] = append(l.phases[i], p)
	}
}

// presize gives an empty window room for about n samples, in one
// allocation: grown by append, the six slices of a window of a check run
// every 1.7 s were allocated seven times each per minute, a fifth of the
// engine's time under load.
func (l *latencyState) presize(n int) {
	n = min(n+1, maxPresized)
	buf := make([]float64, 0, n*(1+len(l.phases)))
	l.samples = buf[0:0:n]
	for i := range l.phases {
		l.phases[i] = buf[(i+1)*n : (i+1)*n : (i+2)*n]
	}
}

// maxPresized bounds the room presize gives a window's samples.
const maxPresized = 1024

// closeWindows closes windows that ended at least half a window ago, so a
// check whose results stopped still gets its last window judged.
func (e *Engine) closeWindows(now time.Time, states []*checkVantage) {
	for _, s := range states {
		if !s.lat.start.IsZero() && now.Sub(s.lat.start) >= e.cfg.Latency.Window+e.cfg.Latency.Window/2 {
			e.closeWindow(s)
		}
	}
}

func (e *Engine) closeWindow(s *checkVantage) {
	l := &s.lat
	if len(l.samples) == 0 {
		l.start = time.Time{}
		return
	}
	w := window{start: l.start, p50: quantile(l.samples, 0.5), p95: quantile(l.samples, 0.95)}
	for i := range l.phases {
		w.phases[i] = median(l.phases[i])
	}
	l.samples, l.phases, l.start = nil, [5][]float64{}, time.Time{}

	cfg := e.cfg.Latency
	policy := e.policies[endpointKey{s.team, s.endpoint}].policy
	anomalous, absolute := false, false
	var pct string
	var value, limit, base float64
	if len(l.baseline) >= cfg.MinBaselineWindows {
		p50s := make([]float64, len(l.baseline))
		p95s := make([]float64, len(l.baseline))
		for i, b := range l.baseline {
			p50s[i], p95s[i] = b.p50, b.p95
		}
		lim50, med50 := robustLimit(p50s, cfg.K, cfg.Ratio, cfg.FloorMS)
		lim95, med95 := robustLimit(p95s, cfg.K, cfg.Ratio, cfg.FloorMS)
		// The alert quotes the percentile that broke its limit: a slow
		// tail under a normal median is a p95 anomaly, and quoting its
		// p50 would read as a value within its limit.
		switch {
		case w.p50 > lim50:
			anomalous, pct, value, limit, base = true, "p50", w.p50, lim50, med50
		case w.p95 > lim95:
			anomalous, pct, value, limit, base = true, "p95", w.p95, lim95, med95
		}
	}
	if policy.LatencyMS > 0 && w.p50 > policy.LatencyMS {
		anomalous, absolute = true, true
		pct, value, limit = "p50", w.p50, policy.LatencyMS
		base = median(baselineP50s(l.baseline))
	}
	if !anomalous {
		l.anomalous = 0
		l.baseline = append(l.baseline, w)
		// Keep only windows inside the baseline period.
		cut := 0
		for cut < len(l.baseline) && w.start.Sub(l.baseline[cut].start) > cfg.Baseline {
			cut++
		}
		l.baseline = l.baseline[cut:]
		return
	}
	// An anomalous window never joins the baseline: the baseline stays
	// robust to the anomaly it is judging.
	l.anomalous++
	l.last, l.pct, l.valueMS, l.limitMS, l.baseMS, l.absolute = w, pct, value, limit, base, absolute
	l.grew, l.grewMS = "", 0
	for i, name := range phaseNames {
		var past []float64
		for _, b := range l.baseline {
			past = append(past, b.phases[i])
		}
		if d := w.phases[i] - median(past); d > l.grewMS {
			l.grew, l.grewMS = name.human, d
		}
	}
}

func baselineP50s(ws []window) []float64 {
	out := make([]float64, len(ws))
	for i, w := range ws {
		out[i] = w.p50
	}
	return out
}

// latencyConditions fires when enough vantages have seen cfg.Windows
// consecutive anomalous windows of check.
func (e *Engine) latencyConditions(now time.Time, check string, states []*checkVantage, p Policy) []condition {
	e.closeWindows(now, states)
	var slow []*checkVantage
	withData := 0
	for _, s := range states {
		if len(s.lat.baseline) > 0 || s.lat.anomalous > 0 {
			withData++
		}
		if s.lat.anomalous >= e.cfg.Latency.Windows {
			slow = append(slow, s)
		}
	}
	need := min(e.cfg.Latency.MinVantages, withData)
	if len(slow) == 0 || len(slow) < need {
		return nil
	}
	first := slow[0]
	c := condition{Alert{
		Type: TypeLatency, Severity: p.Severity, Team: first.team, Endpoint: first.endpoint,
		Check: check, Kind: first.kind,
	}}
	c.Key = alertKey(TypeLatency, first.team, check)
	regions, asns, vantages, from := where(slow)
	c.Regions, c.ASNs, c.Vantages = regions, asns, vantages
	// The numbers quoted are those of the percentile most of the slow
	// vantages broke (the p50 on a tie), so value, baseline and limit
	// are of one percentile.
	pct, n95 := "p50", 0
	for _, s := range slow {
		if s.lat.pct == "p95" {
			n95++
		}
	}
	if 2*n95 > len(slow) {
		pct = "p95"
	}
	var values, bases, limits []float64
	grew := map[string]float64{}
	for _, s := range slow {
		if s.lat.pct == pct {
			values = append(values, s.lat.valueMS)
			bases = append(bases, s.lat.baseMS)
			limits = append(limits, s.lat.limitMS)
		}
		if s.lat.grew != "" {
			grew[s.lat.grew] += s.lat.grewMS
		}
	}
	c.Value, c.Threshold = median(values), median(limits)
	phase, phaseMS := "", 0.0
	for _, k := range slices.Sorted(maps.Keys(grew)) {
		if grew[k] > phaseMS {
			phase, phaseMS = k, grew[k]
		}
	}
	c.Phase = phase
	c.Summary = fmt.Sprintf("%s: %s latency %s %.0f ms vs baseline %.0f ms (limit %.0f ms) from %s",
		first.endpoint, kindLabel(first.kind, first.target), pct, c.Value, median(bases), c.Threshold, from)
	if phase != "" {
		c.Summary += fmt.Sprintf("; %s grew +%.0f ms", phase, phaseMS/float64(len(slow)))
	}
	return []condition{c}
}
