package dashboard

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/picketnet/picket/alerting"
	"github.com/picketnet/picket/collector/endpointspec"
	"github.com/picketnet/picket/results"
)

// timeRange is a choice of the endpoint page's charts.
type timeRange struct {
	Name string
	Dur  time.Duration
	Res  results.Resolution
	Step time.Duration // chart bucket
}

var timeRanges = []timeRange{
	{"24h", 24 * time.Hour, results.Minute, 15 * time.Minute},
	{"7d", 7 * 24 * time.Hour, results.Hour, 2 * time.Hour},
	{"30d", 30 * 24 * time.Hour, results.Hour, 8 * time.Hour},
}

// Limits on what one endpoint page reads.
const (
	maxPhaseResults   = 20000
	maxFailures       = 50
	maxTraceroutes    = 2000
	failureWindow     = 24 * time.Hour
	minPathHistory    = 24 * time.Hour
	alertsWindow      = 24 * time.Hour
	latestResultsSpan = time.Hour
)

type availCell struct {
	Has  bool
	Pct  float64
	Rows int64
}

func (a availCell) String() string {
	if !a.Has {
		return "—"
	}
	return pct(a.Pct)
}

// regionPanel is one region's section of the endpoint page.
type regionPanel struct {
	Region  string
	URL     string
	Avail   []availCell // one per timeRanges entry
	P50     results.OptionalMS
	P95     results.OptionalMS
	TopErr  string
	Latency chart
	Phases  chart
}

type failureRow struct {
	At      time.Time
	Region  string
	Vantage string
	Check   string
	Layer   string
	Code    string
	Message string
	// Warning marks a failed run that was not down (results.Result.Warning,
	// a certificate about to expire): listed, since the check failed, but
	// not an outage.
	Warning bool
}

// asHop is one AS of a path; ASN 0 is one or more silent hops.
type asHop struct {
	ASN  uint32
	Name string
	New  bool // not on the vantage's usual path
}

func (h asHop) String() string {
	if h.ASN == 0 {
		return "*"
	}
	return "AS" + strconv.FormatUint(uint64(h.ASN), 10)
}

type pathRow struct {
	Vantage  string
	Region   string
	At       time.Time
	Current  []asHop
	Usual    []asHop // empty when there is no history
	Detour   bool
	Reached  bool
	RTT      float64
	UsualRTT float64
	Rounds   int // traceroutes read for this vantage
}

type checkLink struct {
	ID, Kind, URL string
	Current       bool
}

type rangeLink struct {
	Name, URL string
	Current   bool
}

type endpointData struct {
	Endpoint     results.Endpoint
	Checks       []checkLink
	Check        string
	Range        timeRange
	Ranges       []rangeLink
	RangeNames   []string
	Panels       []regionPanel
	PhaseNote    string
	Failures     []failureRow
	Paths        []pathRow
	Alerts       []alerting.Alert
	AlertsOff    bool
	LatencyTitle string
	Client       clientData
}

// findEndpoint returns the endpoint named in the request if the viewer may
// see it; another team's endpoint is "not found", not "forbidden", so that
// its existence does not leak.
func (d *Dashboard) findEndpoint(ctx context.Context, v viewer, team, name string) (results.Endpoint, error) {
	if !v.canSee(team) {
		return results.Endpoint{}, results.ErrNotFound
	}
	eps, err := d.opt.Store.Endpoints(ctx, team)
	if err != nil {
		return results.Endpoint{}, err
	}
	for _, e := range eps {
		if e.Name == name {
			return e, nil
		}
	}
	return results.Endpoint{}, results.ErrNotFound
}

func (d *Dashboard) handleEndpoint(w http.ResponseWriter, r *http.Request, v viewer) {
	ctx := r.Context()
	e, err := d.findEndpoint(ctx, v, r.PathValue("team"), r.PathValue("name"))
	if errors.Is(err, results.ErrNotFound) {
		d.renderError(w, r, http.StatusNotFound, "No such endpoint.")
		return
	}
	if err != nil {
		d.internal(w, r, err)
		return
	}
	q := r.URL.Query()
	now := d.opt.Now().UTC()
	data := endpointData{Endpoint: e, Range: timeRanges[0]}
	for _, tr := range timeRanges {
		if tr.Name == q.Get("range") {
			data.Range = tr
		}
		data.RangeNames = append(data.RangeNames, tr.Name)
	}
	base := endpointURL(e.Team, e.Name)
	ids, err := endpointspec.CheckIDs(e)
	if err != nil {
		d.internal(w, r, err)
		return
	}
	kindOf := map[string]string{}
	for i, id := range ids {
		kindOf[id] = kindOfSpec(e, i)
	}
	data.Check = q.Get("check")
	if _, ok := kindOf[data.Check]; !ok {
		data.Check = defaultCheck(ids, kindOf)
	}
	link := func(rng, check string) string {
		return base + "?" + url.Values{"range": {rng}, "check": {check}}.Encode()
	}
	for _, id := range ids {
		if kindOf[id] == "traceroute" {
			continue // its latency is the path's RTT, shown with the AS paths
		}
		data.Checks = append(data.Checks, checkLink{ID: id, Kind: kindOf[id], URL: link(data.Range.Name, id), Current: id == data.Check})
	}
	for _, tr := range timeRanges {
		data.Ranges = append(data.Ranges, rangeLink{Name: tr.Name, URL: link(tr.Name, data.Check), Current: tr.Name == data.Range.Name})
	}
	if err := d.fillPanels(ctx, &data, now); err != nil {
		d.internal(w, r, err)
		return
	}
	fails, err := d.opt.Store.Query(ctx, results.ResultQuery{Team: e.Team, Endpoint: e.Name, OnlyFailed: true, Since: now.Add(-failureWindow), Limit: maxFailures})
	if err != nil {
		d.internal(w, r, err)
		return
	}
	for _, f := range fails {
		fr := failureRow{At: f.StartedAt, Region: f.Region, Vantage: f.Vantage, Check: f.Check, Warning: f.Warning()}
		if f.Error != nil {
			fr.Layer, fr.Code, fr.Message = string(f.Error.Layer), string(f.Error.Code), f.Error.Message
		}
		data.Failures = append(data.Failures, fr)
	}
	var open []alerting.Alert
	if d.opt.Alerts == nil {
		data.AlertsOff = true
	} else {
		all, err := d.opt.Alerts.Alerts(ctx, e.Team, alertsWindow)
		if err != nil {
			d.internal(w, r, err)
			return
		}
		for _, a := range all {
			if a.Endpoint == e.Name && a.Team == e.Team && a.Open() {
				open = append(open, a)
			}
		}
	}
	data.Alerts = open
	paths, err := d.paths(ctx, e, now.Add(-max(data.Range.Dur, minPathHistory)), open)
	if err != nil {
		d.internal(w, r, err)
		return
	}
	data.Paths = paths
	data.Client, err = d.clientSide(ctx, e, data.Range.Name, now.Add(-data.Range.Dur), now)
	if err != nil {
		d.internal(w, r, err)
		return
	}
	d.render(w, r, http.StatusOK, "endpoint", d.newPage(v, e.Name, "overview", data))
}

func kindOfSpec(e results.Endpoint, i int) string {
	var s struct {
		Kind string `json:"kind"`
	}
	_ = json.Unmarshal(e.Checks[i], &s)
	return s.Kind
}

// defaultCheck picks the check whose latency the page charts first: the
// one closest to what users experience.
func defaultCheck(ids []string, kindOf map[string]string) string {
	for _, k := range []string{"http", "tls", "tcp", "dns", "icmp"} {
		for _, id := range ids {
			if kindOf[id] == k {
				return id
			}
		}
	}
	if len(ids) > 0 {
		return ids[0]
	}
	return ""
}

// fillPanels computes the per-region availability table and charts.
func (d *Dashboard) fillPanels(ctx context.Context, data *endpointData, now time.Time) error {
	e, rng := data.Endpoint, data.Range
	panels := map[string]*regionPanel{}
	panel := func(region string) *regionPanel {
		p := panels[region]
		if p == nil {
			p = &regionPanel{Region: region, URL: regionURL(e.Team, e.Name, region), Avail: make([]availCell, len(timeRanges))}
			panels[region] = p
		}
		return p
	}
	for i, tr := range timeRanges {
		rows, err := d.opt.Store.Availability(ctx, results.ReportQuery{Team: e.Team, Endpoint: e.Name, By: results.ByRegion, Since: now.Add(-tr.Dur), Until: now})
		if err != nil {
			return err
		}
		for _, row := range rows {
			p := panel(row.Group)
			p.Avail[i] = availCell{Has: row.Results > 0, Pct: row.AvailabilityPct, Rows: row.Results}
			if tr.Name == rng.Name {
				p.P50, p.P95, p.TopErr = row.P50MS, row.P95MS, row.TopError
			}
		}
	}
	to := now.Truncate(rng.Step).Add(rng.Step)
	from := to.Add(-rng.Dur)
	rolls, err := d.opt.Store.Rollups(ctx, results.RollupQuery{Resolution: rng.Res, Team: e.Team, Endpoint: e.Name, Check: data.Check, Since: from, Until: to})
	if err != nil {
		return err
	}
	type rb struct {
		region string
		bucket time.Time
	}
	hists := map[rb]*results.Histogram{}
	for _, ro := range rolls {
		k := rb{ro.Region, bucketOf(ro.Bucket, from, rng.Step)}
		h := hists[k]
		if h == nil {
			h = &results.Histogram{}
			hists[k] = h
		}
		h.Merge(ro.Latency)
		panel(ro.Region)
	}
	raw, err := d.opt.Store.Query(ctx, results.ResultQuery{Team: e.Team, Endpoint: e.Name, Check: data.Check, Since: from, Limit: maxPhaseResults})
	if err != nil {
		return err
	}
	if len(raw) == maxPhaseResults {
		data.PhaseNote = fmt.Sprintf("Phases are from the newest %d results, since %s.", maxPhaseResults, raw[len(raw)-1].StartedAt.Format(time.RFC3339))
	}
	type phaseKey struct {
		region string
		bucket time.Time
	}
	phases := map[phaseKey]*[4][]float64{}
	for _, res := range raw {
		// A run that was down stopped early and its phases are partial; a
		// tls/cert_expiring warning ran every phase.
		if res.Down() {
			continue
		}
		k := phaseKey{res.Region, bucketOf(res.StartedAt, from, rng.Step)}
		ph := phases[k]
		if ph == nil {
			ph = &[4][]float64{}
			phases[k] = ph
		}
		for i, v := range []float64{res.Phases.DNSMS, res.Phases.ConnectMS, res.Phases.TLSMS, res.Phases.TTFBMS} {
			ph[i] = append(ph[i], v)
		}
		panel(res.Region)
	}
	data.LatencyTitle = "latency of " + data.Check
	for _, p := range panels {
		p50 := series{Name: "p50", Class: "s-p50"}
		p95 := series{Name: "p95", Class: "s-p95"}
		phaseSeries := []series{{Name: "dns", Class: "s-dns"}, {Name: "connect", Class: "s-connect"}, {Name: "tls", Class: "s-tls"}, {Name: "first byte", Class: "s-ttfb"}}
		for t := from; t.Before(to); t = t.Add(rng.Step) {
			if h := hists[rb{p.Region, t}]; h != nil && h.Count() > 0 {
				mid := t.Add(rng.Step / 2)
				p50.Pts = append(p50.Pts, point{mid, h.Quantile(0.5)})
				p95.Pts = append(p95.Pts, point{mid, h.Quantile(0.95)})
			}
			if ph := phases[phaseKey{p.Region, t}]; ph != nil {
				for i := range ph {
					phaseSeries[i].Pts = append(phaseSeries[i].Pts, point{t.Add(rng.Step / 2), median(ph[i])})
				}
			}
		}
		p.Latency = chart{Label: fmt.Sprintf("%s: p50 and p95 latency of %s from %s over %s", e.Name, data.Check, p.Region, rng.Name),
			From: from, To: to, Step: rng.Step, Series: []series{p50, p95}}
		// A phase that never took time (no TLS on plain HTTP) is left out.
		var kept []series
		for _, s := range phaseSeries {
			if slices.ContainsFunc(s.Pts, func(pt point) bool { return pt.V > 0 }) {
				kept = append(kept, s)
			}
		}
		p.Phases = chart{Label: fmt.Sprintf("%s: median phase times of %s from %s over %s", e.Name, data.Check, p.Region, rng.Name),
			From: from, To: to, Step: rng.Step, Series: kept}
		data.Panels = append(data.Panels, *p)
	}
	slices.SortFunc(data.Panels, func(a, b regionPanel) int { return cmp.Compare(a.Region, b.Region) })
	return nil
}

func bucketOf(t, from time.Time, step time.Duration) time.Time {
	return from.Add(t.Sub(from) / step * step)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// paths reads the endpoint's recent traceroutes and returns, per vantage,
// the current AS path beside its usual one. The usual path is the one seen
// most often in the vantage's earlier traceroutes; the current path is a
// detour when it crosses an AS that none of them crossed (silent hops are
// wildcards, never a change), or when an open path_detour alert names the
// vantage.
func (d *Dashboard) paths(ctx context.Context, e results.Endpoint, since time.Time, open []alerting.Alert) ([]pathRow, error) {
	trs, err := d.opt.Store.Query(ctx, results.ResultQuery{Team: e.Team, Endpoint: e.Name, Kind: "traceroute", Since: since, Limit: maxTraceroutes})
	if err != nil {
		return nil, err
	}
	type run struct {
		at     time.Time
		region string
		det    results.TracerouteDetails
	}
	byVantage := map[string][]run{}
	names := map[uint32]string{}
	for _, r := range trs {
		var det results.TracerouteDetails
		if r.DecodeDetails(&det) != nil {
			continue
		}
		for _, h := range det.Hops {
			if h.ASN != 0 && h.ASName != "" {
				names[h.ASN] = h.ASName
			}
		}
		byVantage[r.Vantage] = append(byVantage[r.Vantage], run{r.StartedAt, r.Region, det}) // newest first
	}
	alerted := map[string]map[uint32]bool{}
	for _, a := range open {
		if a.Type != alerting.TypeDetour {
			continue
		}
		for _, v := range a.Vantages {
			if alerted[v] == nil {
				alerted[v] = map[uint32]bool{}
			}
			for _, n := range a.NewASNs {
				alerted[v][n.Number] = true
				if n.Name != "" {
					names[n.Number] = n.Name
				}
			}
		}
	}
	var out []pathRow
	for v, runs := range byVantage {
		cur := runs[0]
		row := pathRow{Vantage: v, Region: cur.region, At: cur.at, Reached: cur.det.Reached, RTT: cur.det.RTTMS, Rounds: len(runs)}
		known := map[uint32]bool{}
		counts := map[string]int{}
		var usual []uint32
		var usualRTTs []float64
		best := 0
		for _, r := range runs[1:] {
			for _, a := range r.det.ASPath {
				known[a] = true
			}
			k := fmt.Sprint(r.det.ASPath)
			counts[k]++
			// Ties go to the most recent path: runs are newest first.
			if counts[k] > best {
				best, usual = counts[k], r.det.ASPath
			}
		}
		for _, r := range runs[1:] {
			if slices.Equal(r.det.ASPath, usual) && r.det.RTTMS > 0 {
				usualRTTs = append(usualRTTs, r.det.RTTMS)
			}
		}
		row.UsualRTT = median(usualRTTs)
		for _, a := range cur.det.ASPath {
			h := asHop{ASN: a, Name: names[a]}
			if a != 0 && ((len(runs) > 1 && !known[a]) || alerted[v][a]) {
				h.New = true
				row.Detour = true
			}
			row.Current = append(row.Current, h)
		}
		for _, a := range usual {
			row.Usual = append(row.Usual, asHop{ASN: a, Name: names[a]})
		}
		out = append(out, row)
	}
	slices.SortFunc(out, func(a, b pathRow) int {
		return cmp.Or(cmp.Compare(a.Region, b.Region), cmp.Compare(a.Vantage, b.Vantage))
	})
	return out, nil
}
