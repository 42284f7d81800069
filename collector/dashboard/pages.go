package dashboard

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	iconfig "github.com/picketnet/picket/internal/config"

	"github.com/picketnet/picket/alerting"
	"github.com/picketnet/picket/collector/api"
	"github.com/picketnet/picket/collector/render"
	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/vantage"
)

// vantageRow is a vantage with its liveness, for the vantages page and the
// region drill-down.
type vantageRow struct {
	results.Vantage
	State string // live, missing, never
	Stale bool
}

func (d *Dashboard) vantageRows(vs []results.Vantage, now time.Time) []vantageRow {
	reg := vantage.Registry{DefaultEvery: d.opt.HeartbeatEvery}
	out := make([]vantageRow, len(vs))
	for i, v := range vs {
		st := reg.State(v, now)
		out[i] = vantageRow{Vantage: v, State: st, Stale: st != vantage.StateLive}
	}
	slices.SortFunc(out, func(a, b vantageRow) int { return cmp.Or(cmp.Compare(a.Region, b.Region), cmp.Compare(a.ID, b.ID)) })
	return out
}

// regionVantage is one vantage of the region drill-down.
type regionVantage struct {
	vantageRow
	Results, Failures int64
	Failing           bool
	TopError          string
	Latest            []results.Result // the newest result of each check
}

func (rv regionVantage) Avail() string {
	if rv.Results == 0 {
		return "—"
	}
	return pct(availability(rv.Results, rv.Failures))
}

type regionData struct {
	Endpoint results.Endpoint
	URL      string
	Region   string
	Cell     cell
	Window   string
	Vantages []regionVantage
}

func (d *Dashboard) handleRegion(w http.ResponseWriter, r *http.Request, v viewer) {
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
	region := r.PathValue("region")
	now := d.opt.Now().UTC()
	vs, err := d.opt.Store.Vantages(ctx)
	if err != nil {
		d.internal(w, r, err)
		return
	}
	rows, err := d.opt.Store.Availability(ctx, results.ReportQuery{Team: e.Team, Endpoint: e.Name, By: results.ByVantage, Since: now.Add(-d.opt.StateWindow), Until: now})
	if err != nil {
		d.internal(w, r, err)
		return
	}
	latest, err := d.opt.Store.Query(ctx, results.ResultQuery{Team: e.Team, Endpoint: e.Name, Region: region, Since: now.Add(-max(latestResultsSpan, d.opt.StateWindow)), Limit: 5000})
	if err != nil {
		d.internal(w, r, err)
		return
	}
	regionOf := map[string]string{}
	var inRegion []results.Vantage
	for _, vt := range vs {
		regionOf[vt.ID] = vt.Region
		if vt.Region == region {
			inRegion = append(inRegion, vt)
		}
	}
	byVantage := map[string]results.AvailabilityRow{}
	for _, row := range rows {
		byVantage[row.Group] = row
	}
	rs := seenByRegion(rows, regionOf)[epKey{e.Team, e.Name}][region]
	data := regionData{Endpoint: e, URL: endpointURL(e.Team, e.Name), Region: region, Window: shortDur(d.opt.StateWindow)}
	data.Cell = cell{Region: region, State: StateNotProbed}
	if probes(e, region) {
		data.Cell.State = rs.state()
		if rs != nil {
			data.Cell.Reporting, data.Cell.Failing, data.Cell.Results, data.Cell.Failures, data.Cell.TopError = rs.reporting, rs.failing, rs.results, rs.failures, rs.top()
		}
	}
	seenCheck := map[[2]string]bool{}
	latestOf := map[string][]results.Result{}
	for _, res := range latest { // newest first
		k := [2]string{res.Vantage, res.Check}
		if !seenCheck[k] {
			seenCheck[k] = true
			latestOf[res.Vantage] = append(latestOf[res.Vantage], res)
		}
	}
	for _, vr := range d.vantageRows(inRegion, now) {
		row := byVantage[vr.ID]
		rv := regionVantage{vantageRow: vr, Results: row.Results, Failures: row.Failures, Failing: failingVantage(row), TopError: row.TopError, Latest: latestOf[vr.ID]}
		slices.SortFunc(rv.Latest, func(a, b results.Result) int { return cmp.Compare(a.Check, b.Check) })
		data.Vantages = append(data.Vantages, rv)
	}
	d.render(w, r, http.StatusOK, "region", d.newPage(v, e.Name+" from "+region, "overview", data))
}

type vantagesData struct {
	Vantages []vantageRow
	Live     int
	Stale    int
}

func (d *Dashboard) handleVantages(w http.ResponseWriter, r *http.Request, v viewer) {
	vs, err := d.opt.Store.Vantages(r.Context())
	if err != nil {
		d.internal(w, r, err)
		return
	}
	data := vantagesData{Vantages: d.vantageRows(vs, d.opt.Now())}
	for _, vr := range data.Vantages {
		if vr.Stale {
			data.Stale++
		} else {
			data.Live++
		}
	}
	d.render(w, r, http.StatusOK, "vantages", d.newPage(v, "Vantages", "vantages", data))
}

type alertsData struct {
	Off      bool
	Open     []alerting.Alert
	Recent   []alerting.Alert
	Silences []alerting.Silence
	Window   string
}

func (d *Dashboard) handleAlerts(w http.ResponseWriter, r *http.Request, v viewer) {
	data := alertsData{Window: "24h"}
	if d.opt.Alerts == nil {
		data.Off = true
	} else {
		team := v.scope(r)
		all, err := d.opt.Alerts.Alerts(r.Context(), team, alertsWindow)
		if err != nil {
			d.internal(w, r, err)
			return
		}
		for _, a := range all {
			if !v.canSee(a.Team) && !(a.Team == "" && v.admin) {
				continue // defence in depth: the source filtered by team already
			}
			if a.Open() {
				data.Open = append(data.Open, a)
			} else {
				data.Recent = append(data.Recent, a)
			}
		}
		sils, err := d.opt.Alerts.Silences(r.Context(), team)
		if err != nil {
			d.internal(w, r, err)
			return
		}
		for _, s := range sils {
			if v.admin || s.Team == v.team {
				data.Silences = append(data.Silences, s)
			}
		}
	}
	d.render(w, r, http.StatusOK, "alerts", d.newPage(v, "Alerts", "alerts", data))
}

// Report bounds, as the API's.
const maxReportWindow = 2 * 366 * 24 * time.Hour

type reportData struct {
	By, Since, Endpoint string
	Bys                 []string
	Sinces              []string
	Endpoints           []string
	Rows                []results.AvailabilityRow
	From, To            time.Time
	CSVURL              string
	Error               string
}

// reportQuery reads the report form. It returns the query and the values
// to show back in the form, or an error for the viewer.
func (d *Dashboard) reportQuery(r *http.Request, v viewer) (results.ReportQuery, reportData, error) {
	q := r.URL.Query()
	now := d.opt.Now().UTC()
	data := reportData{By: q.Get("by"), Since: q.Get("since"), Endpoint: q.Get("endpoint"),
		Bys: []string{"region", "asn", "provider", "vantage"}, Sinces: []string{"1h", "24h", "7d", "30d", "90d"}}
	if data.By == "" {
		data.By = "region"
	}
	if data.Since == "" {
		data.Since = "24h"
	}
	rq := results.ReportQuery{Team: v.scope(r), Endpoint: data.Endpoint, By: results.GroupBy(data.By), Until: now}
	if !slices.Contains(data.Bys, data.By) {
		return rq, data, fmt.Errorf("by: %q is not one of region, asn, provider, vantage", truncate(data.By, 40))
	}
	dur, err := iconfig.ParseDuration(data.Since)
	if err != nil || dur <= 0 || dur > maxReportWindow {
		return rq, data, fmt.Errorf("since: %q is not a duration like 24h or 30d (at most two years)", truncate(data.Since, 40))
	}
	rq.Since = now.Add(-dur)
	data.From, data.To = rq.Since, rq.Until
	return rq, data, nil
}

func (d *Dashboard) handleReport(w http.ResponseWriter, r *http.Request, v viewer) {
	ctx := r.Context()
	rq, data, err := d.reportQuery(r, v)
	eps, eerr := d.opt.Store.Endpoints(ctx, v.scope(r))
	if eerr != nil {
		d.internal(w, r, eerr)
		return
	}
	for _, e := range eps {
		data.Endpoints = append(data.Endpoints, e.Name)
	}
	slices.Sort(data.Endpoints)
	data.Endpoints = slices.Compact(data.Endpoints)
	status := http.StatusOK
	if err != nil {
		data.Error = err.Error()
		status = http.StatusBadRequest
	} else {
		rows, err := d.opt.Store.Availability(ctx, rq)
		if err != nil {
			d.internal(w, r, err)
			return
		}
		data.Rows = rows
		cq := url.Values{"by": {data.By}, "since": {data.Since}}
		if data.Endpoint != "" {
			cq.Set("endpoint", data.Endpoint)
		}
		if t := r.URL.Query().Get("team"); t != "" && v.admin {
			cq.Set("team", t)
		}
		data.CSVURL = "/report.csv?" + cq.Encode()
	}
	d.render(w, r, status, "report", d.newPage(v, "Availability report", "report", data))
}

// handleReportCSV answers the report as CSV, in the columns of
// `picket report availability --format csv`.
func (d *Dashboard) handleReportCSV(w http.ResponseWriter, r *http.Request, v viewer) {
	rq, data, err := d.reportQuery(r, v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rows, err := d.opt.Store.Availability(r.Context(), rq)
	if err != nil {
		d.log.Error("dashboard: report", "err", err)
		http.Error(w, "the store could not answer; retry", http.StatusInternalServerError)
		return
	}
	name := "availability-by-" + data.By + "-" + strings.ReplaceAll(data.Since, " ", "") + ".csv"
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Cache-Control", "no-store")
	if err := render.Report(w, api.Report{By: rq.By, Since: rq.Since, Until: rq.Until, Rows: rows}, render.CSV); err != nil {
		d.log.Warn("dashboard: write csv", "err", err)
	}
}
