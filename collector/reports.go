package collector

import (
	"net/http"
	"time"

	iconfig "github.com/picketnet/picket/internal/config"

	"github.com/picketnet/picket/collector/api"
	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/results/rollup"
)

// Report window bounds.
const (
	defaultReportWindow = 24 * time.Hour
	maxReportWindow     = 2 * 366 * 24 * time.Hour
)

// ParseTime reads a report bound: an RFC 3339 time, or a duration before
// now ("24h", "30d").
func ParseTime(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	d, err := iconfig.ParseDuration(s)
	if err != nil {
		return time.Time{}, err
	}
	return now.Add(-d).UTC(), nil
}

func (s *Server) handleAvailability(w http.ResponseWriter, r *http.Request, sc scope) {
	q := r.URL.Query()
	now := s.opt.Now().UTC()
	rq := results.ReportQuery{Team: sc.team, Endpoint: q.Get("endpoint"), By: results.GroupBy(q.Get("by")), Since: now.Add(-defaultReportWindow), Until: now}
	switch rq.By {
	case "":
		rq.By = results.ByRegion
	case results.ByRegion, results.ByASN, results.ByProvider, results.ByVantage:
	default:
		s.writeError(w, r, http.StatusBadRequest, &httpError{code: codeBadRequest, field: "by", msg: "by: " + quote(string(rq.By)) + " is not one of region, asn, provider, vantage"})
		return
	}
	for _, b := range []struct {
		name string
		dst  *time.Time
	}{{"since", &rq.Since}, {"until", &rq.Until}} {
		v := q.Get(b.name)
		if v == "" {
			continue
		}
		t, err := ParseTime(v, now)
		if err != nil {
			s.writeError(w, r, http.StatusBadRequest, &httpError{code: codeBadRequest, field: b.name, msg: b.name + ": expected a duration (24h, 30d) or an RFC 3339 time"})
			return
		}
		*b.dst = t
	}
	if !rq.Since.Before(rq.Until) {
		s.writeError(w, r, http.StatusBadRequest, apiErr(codeBadRequest, "since (%s) is not before until (%s)", rq.Since.Format(time.RFC3339), rq.Until.Format(time.RFC3339)))
		return
	}
	if rq.Until.Sub(rq.Since) > maxReportWindow {
		s.writeError(w, r, http.StatusBadRequest, apiErr(codeBadRequest, "window longer than %s", maxReportWindow))
		return
	}
	start := time.Now()
	rows, err := s.store.Availability(r.Context(), rq)
	s.metrics.storeSeconds.WithLabelValues("availability").Observe(time.Since(start).Seconds())
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if rows == nil {
		rows = []results.AvailabilityRow{}
	}
	// The answer names the window the numbers are for: the store aligns
	// the one asked for to its resolution (rollup.Window).
	since, until, _ := rollup.Window(rq.Since, rq.Until)
	writeJSON(w, http.StatusOK, api.Report{By: rq.By, Since: since, Until: until, Rows: rows})
}
