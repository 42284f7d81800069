package dashboard

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/picketnet/picket/results"
)

// State of a heat-map cell: what the vantages of one region saw of one
// endpoint in the last StateWindow.
//
// A vantage fails the endpoint when more than half of its results for the
// endpoint (all its checks together) in the window were down
// (results.Result.Down, which the report's failure counts follow: a
// tls/cert_expiring warning is up). Then, counting
// only the region's vantages that reported in the window:
//
//   - down: most of them (more than half) fail it;
//   - degraded: some fail it, but not most;
//   - up: none fails it;
//   - no data: none reported (the region is probed, but nothing arrived).
//
// A region the endpoint does not ask to be probed from is "not probed".
type State string

const (
	StateUp        State = "up"
	StateDegraded  State = "degraded"
	StateDown      State = "down"
	StateNoData    State = "nodata"
	StateNotProbed State = "none"
)

// severity orders states from best to worst, for sorting and summaries.
func (s State) severity() int {
	switch s {
	case StateDown:
		return 3
	case StateDegraded:
		return 2
	case StateNoData:
		return 1
	}
	return 0
}

// Symbol and Label are the text every cell carries besides its colour, so
// that the state does not depend on telling colours apart.
func (s State) Symbol() string {
	switch s {
	case StateUp:
		return "✓"
	case StateDegraded:
		return "◐"
	case StateDown:
		return "✕"
	case StateNoData:
		return "?"
	}
	return "·"
}

func (s State) Label() string {
	switch s {
	case StateUp:
		return "up"
	case StateDegraded:
		return "degraded"
	case StateDown:
		return "down"
	case StateNoData:
		return "no data"
	}
	return "not probed"
}

// Short is the label shown inside a cell, where space is tight.
func (s State) Short() string {
	switch s {
	case StateDegraded:
		return "deg"
	case StateNoData:
		return "n/d"
	case StateNotProbed:
		return ""
	}
	return s.Label()
}

// cell is one region of one endpoint on the heat map.
type cell struct {
	Region    string
	State     State
	Reporting int // vantages of the region that reported in the window
	Failing   int // of which fail the endpoint
	Results   int64
	Failures  int64
	TopError  string
	URL       string
}

// Title is the hover text of the cell.
func (c cell) Title() string {
	switch c.State {
	case StateNotProbed:
		return c.Region + ": not probed from this region"
	case StateNoData:
		return c.Region + ": no results in the window"
	}
	s := fmt.Sprintf("%s: %s, %d of %d vantages failing; %s ok (%d results)", c.Region, c.State.Label(), c.Failing, c.Reporting,
		pct(availability(c.Results, c.Failures)), c.Results)
	if c.TopError != "" {
		s += "; top error " + c.TopError
	}
	return s
}

type heatRow struct {
	Team, Name, Target string
	URL                string
	Cells              []cell
	Worst              State
}

type teamGroup struct {
	Team string
	Rows []heatRow
}

type overviewData struct {
	Filter    string
	Problems  bool
	Team      string   // the admin's team filter
	Teams     []string // for the admin's team filter
	Regions   []string
	Groups    []teamGroup
	Page      int
	Pages     int
	PrevURL   string
	NextURL   string
	Total     int // endpoints matching the filter
	Endpoints int // endpoints in scope
	Counts    map[string]int
	Window    string
	States    []State // for the legend
}

// regionsOf lists the regions to show: those of the enrolled vantages, and
// those endpoints name, sorted.
func regionsOf(vs []results.Vantage, eps []results.Endpoint) []string {
	set := map[string]bool{}
	for _, v := range vs {
		set[v.Region] = true
	}
	for _, e := range eps {
		for _, r := range e.Regions {
			if r != "all" {
				set[r] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for r := range set {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

func probes(e results.Endpoint, region string) bool {
	return len(e.Regions) == 0 || slices.Contains(e.Regions, "all") || slices.Contains(e.Regions, region)
}

type epKey struct{ team, name string }

// regionSeen is what the vantages of one region saw of one endpoint.
type regionSeen struct {
	reporting, failing int
	results, failures  int64
	topErr             map[string]int64
}

// failingVantage is the rule of State's doc: most of a vantage's results failed.
func failingVantage(row results.AvailabilityRow) bool {
	return row.Results > 0 && 2*row.Failures > row.Results
}

func (rs *regionSeen) state() State {
	switch {
	case rs == nil || rs.reporting == 0:
		return StateNoData
	case 2*rs.failing > rs.reporting:
		return StateDown
	case rs.failing > 0:
		return StateDegraded
	}
	return StateUp
}

func (rs *regionSeen) top() string {
	best, n := "", int64(0)
	for k, c := range rs.topErr {
		if c > n || (c == n && k < best) {
			best, n = k, c
		}
	}
	return best
}

// seenByRegion aggregates per-vantage availability rows by endpoint and region.
func seenByRegion(rows []results.AvailabilityRow, regionOf map[string]string) map[epKey]map[string]*regionSeen {
	out := map[epKey]map[string]*regionSeen{}
	for _, row := range rows {
		region, ok := regionOf[row.Group]
		if !ok {
			continue
		}
		k := epKey{row.Team, row.Endpoint}
		m := out[k]
		if m == nil {
			m = map[string]*regionSeen{}
			out[k] = m
		}
		rs := m[region]
		if rs == nil {
			rs = &regionSeen{topErr: map[string]int64{}}
			m[region] = rs
		}
		if row.Results == 0 {
			continue
		}
		rs.reporting++
		if failingVantage(row) {
			rs.failing++
		}
		rs.results += row.Results
		rs.failures += row.Failures
		if row.TopError != "" {
			rs.topErr[row.TopError] += row.TopErrorCount
		}
	}
	return out
}

func endpointURL(team, name string) string {
	return "/endpoints/" + url.PathEscape(team) + "/" + url.PathEscape(name)
}

func regionURL(team, name, region string) string {
	return endpointURL(team, name) + "/regions/" + url.PathEscape(region)
}

func (d *Dashboard) handleOverview(w http.ResponseWriter, r *http.Request, v viewer) {
	ctx := r.Context()
	q := r.URL.Query()
	team := v.scope(r)
	now := d.opt.Now().UTC()
	eps, err := d.opt.Store.Endpoints(ctx, team)
	if err != nil {
		d.internal(w, r, err)
		return
	}
	vs, err := d.opt.Store.Vantages(ctx)
	if err != nil {
		d.internal(w, r, err)
		return
	}
	rows, err := d.opt.Store.Availability(ctx, results.ReportQuery{Team: team, By: results.ByVantage, Since: now.Add(-d.opt.StateWindow), Until: now})
	if err != nil {
		d.internal(w, r, err)
		return
	}
	regionOf := make(map[string]string, len(vs))
	for _, vt := range vs {
		regionOf[vt.ID] = vt.Region
	}
	data := overviewData{
		Filter:    truncate(strings.TrimSpace(q.Get("q")), maxFilterBytes),
		Problems:  q.Get("problems") == "1",
		Team:      team,
		Regions:   regionsOf(vs, eps),
		Endpoints: len(eps),
		Counts:    map[string]int{},
		Window:    shortDur(d.opt.StateWindow),
		States:    []State{StateUp, StateDegraded, StateDown, StateNoData, StateNotProbed},
	}
	if v.admin {
		all := eps
		if team != "" {
			if all, err = d.opt.Store.Endpoints(ctx, ""); err != nil {
				d.internal(w, r, err)
				return
			}
		}
		set := map[string]bool{}
		for _, e := range all {
			set[e.Team] = true
		}
		for t := range set {
			data.Teams = append(data.Teams, t)
		}
		slices.Sort(data.Teams)
	}
	seen := seenByRegion(rows, regionOf)
	slices.SortFunc(eps, func(a, b results.Endpoint) int {
		return cmp.Or(cmp.Compare(a.Team, b.Team), cmp.Compare(a.Name, b.Name))
	})
	filter := strings.ToLower(data.Filter)
	var matched []heatRow
	for _, e := range eps {
		if filter != "" && !strings.Contains(strings.ToLower(e.Team+" "+e.Name+" "+e.Target), filter) {
			continue
		}
		hr := heatRow{Team: e.Team, Name: e.Name, Target: e.Target, URL: endpointURL(e.Team, e.Name), Worst: StateUp}
		byRegion := seen[epKey{e.Team, e.Name}]
		for _, region := range data.Regions {
			c := cell{Region: region, State: StateNotProbed, URL: regionURL(e.Team, e.Name, region)}
			if probes(e, region) {
				rs := byRegion[region]
				c.State = rs.state()
				if rs != nil {
					c.Reporting, c.Failing, c.Results, c.Failures, c.TopError = rs.reporting, rs.failing, rs.results, rs.failures, rs.top()
				}
			}
			if c.State.severity() > hr.Worst.severity() {
				hr.Worst = c.State
			}
			hr.Cells = append(hr.Cells, c)
		}
		if data.Problems && hr.Worst != StateDown && hr.Worst != StateDegraded {
			continue
		}
		for _, c := range hr.Cells {
			data.Counts[string(c.State)]++
		}
		matched = append(matched, hr)
	}
	data.Total = len(matched)
	size := d.opt.PageSize
	data.Pages = max(1, (len(matched)+size-1)/size)
	data.Page, _ = strconv.Atoi(q.Get("page"))
	data.Page = min(max(data.Page, 1), data.Pages)
	pageRows := matched[(data.Page-1)*size : min(data.Page*size, len(matched))]
	for _, hr := range pageRows {
		if n := len(data.Groups); n == 0 || data.Groups[n-1].Team != hr.Team {
			data.Groups = append(data.Groups, teamGroup{Team: hr.Team})
		}
		g := &data.Groups[len(data.Groups)-1]
		g.Rows = append(g.Rows, hr)
	}
	link := func(p int) string {
		lq := url.Values{}
		for _, k := range []string{"q", "team", "problems"} {
			if v := q.Get(k); v != "" {
				lq.Set(k, v)
			}
		}
		lq.Set("page", strconv.Itoa(p))
		return "/?" + lq.Encode()
	}
	if data.Page > 1 {
		data.PrevURL = link(data.Page - 1)
	}
	if data.Page < data.Pages {
		data.NextURL = link(data.Page + 1)
	}
	d.render(w, r, http.StatusOK, "overview", d.newPage(v, "Overview", "overview", data))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

func availability(res, fail int64) float64 {
	if res == 0 {
		return 0
	}
	return 100 * float64(res-fail) / float64(res)
}

// pct formats an availability: enough digits to tell 99.9 from 99.99.
func pct(v float64) string {
	switch {
	case v >= 99.995 && v < 100:
		return strconv.FormatFloat(v, 'f', 3, 64) + "%"
	case v == 100 || v == 0:
		return strconv.FormatFloat(v, 'f', 0, 64) + "%"
	}
	return strconv.FormatFloat(v, 'f', 2, 64) + "%"
}

func ms(v float64) string {
	if v >= 100 {
		return strconv.FormatFloat(v, 'f', 0, 64) + " ms"
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " ms"
}

// ago is a short relative age: "42s", "5m", "3h", "2d".
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

// shortDur writes a whole duration without its zero parts: "5m", "1h".
func shortDur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
