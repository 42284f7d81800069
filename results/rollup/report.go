package rollup

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/picketnet/picket/internal/intern"
	"github.com/picketnet/picket/results"
)

// Span is a range [From, To) of buckets of one level, both aligned to it.
type Span struct {
	Level    Level
	From, To time.Time
}

// Window limits on how a report window is aligned: a window of up to
// MinuteWindow is answered to the minute, up to HourWindow to the hour,
// longer ones to the day. Aligning keeps the rows a report reads near
// (days in window + 2) per series whatever the window, at the price of
// widening the window's start to the bucket boundary (its end is widened
// too, which only matters for windows ending in the past).
const (
	MinuteWindow = 6 * time.Hour
	HourWindow   = 7 * 24 * time.Hour
)

// Window aligns [since, until) as described above and splits it into spans
// of the coarsest level that fits: whole weeks as week rollups, the days
// at either end as day rollups, then hours and minutes likewise.
// It returns the aligned window and the spans.
func Window(since, until time.Time) (from, to time.Time, spans []Span) {
	since, until = since.UTC(), until.UTC()
	if !until.After(since) {
		return since, until, nil
	}
	align := Day
	switch d := until.Sub(since); {
	case d <= MinuteWindow:
		align = Minute
	case d <= HourWindow:
		align = Hour
	}
	from = align.Truncate(since)
	to = align.Truncate(until)
	if to.Before(until) {
		to = to.Add(align.Step())
	}
	return from, to, cover(from, to, Week, align)
}

// cover splits [lo, hi), aligned to align, into whole buckets of level l
// in the middle and finer ones at the edges.
func cover(lo, hi time.Time, l, align Level) []Span {
	if !lo.Before(hi) {
		return nil
	}
	if l <= align {
		return []Span{{l, lo, hi}}
	}
	a := l.Truncate(lo)
	if a.Before(lo) {
		a = a.Add(l.Step())
	}
	b := l.Truncate(hi)
	if !a.Before(b) {
		return cover(lo, hi, l-1, align)
	}
	spans := cover(lo, a, l-1, align)
	spans = append(spans, Span{l, a, b})
	return append(spans, cover(b, hi, l-1, align)...)
}

// ReportRow is what a store reads from one rollup row for a report.
type ReportRow struct {
	Team, Endpoint, Check, Vantage string
	Region, Provider               string
	ASN                            uint32
	Count, Failures                int64
	FailedMinutes, DownMinutes     int64
	// Errors is the EncodeErrors form, or several joined by commas.
	Errors []byte
	// Hist is the histogram binary form or, when HistFramed, a sequence
	// of them each preceded by its length as 4 bytes big-endian (what
	// PostgreSQL's string_agg(int4send(length(hist)) || hist) makes).
	Hist       []byte
	HistFramed bool
}

// Report folds rollup rows into availability rows.
type Report struct {
	by     results.GroupBy
	groups map[groupKey]*group
	// series finds a (check, vantage)'s group with one lookup, and says
	// whether the series was counted: most rows of a report belong to a
	// series seen before.
	series map[[2]string]*seriesEntry
	moved  map[[3]string]bool // series counted in a group other than their first
	names  intern.Strings     // one string per vantage, region and provider name: folding a pack allocates nothing per entry
	// packSeries remembers, per check, the series of the entries of its
	// last pack in order: the packs of one check on other days have the
	// same vantages in the same order, so most entries need no lookup.
	packSeries map[string][]*seriesEntry
}

type groupKey struct{ team, endpoint, group string }

type group struct {
	count, failures, failedMinutes, downMinutes int64
	nseries                                     int64
	errors                                      []errorCount
	hist                                        results.Histogram
}

// errorCount is one "layer/code" and how often it failed. A group sees a
// handful of codes, so a slice searched in order beats a map.
type errorCount struct {
	code string
	n    int64
}

type seriesEntry struct {
	key groupKey
	g   *group
	// The labels the group was chosen by.
	vantage, region, provider string
	asn                       uint32
}

// matches reports whether row belongs to the entry's series and group.
func (se *seriesEntry) matches(by results.GroupBy, row *ReportRow) bool {
	if se.vantage != row.Vantage || se.key.team != row.Team || se.key.endpoint != row.Endpoint {
		return false
	}
	switch by {
	case results.ByRegion:
		return se.region == row.Region
	case results.ByASN:
		return se.asn == row.ASN
	case results.ByProvider:
		return se.provider == row.Provider
	}
	return true
}

// NewReport starts a report grouped by by.
func NewReport(by results.GroupBy) (*Report, error) {
	switch by {
	case results.ByRegion, results.ByASN, results.ByProvider, results.ByVantage:
	case "":
		by = results.ByRegion
	default:
		return nil, fmt.Errorf("report: unknown grouping %q (want region, asn, provider or vantage)", by)
	}
	return &Report{by: by, groups: make(map[groupKey]*group), series: make(map[[2]string]*seriesEntry)}, nil
}

func (r *Report) groupOf(row *ReportRow) string {
	switch r.by {
	case results.ByRegion:
		return row.Region
	case results.ByASN:
		return strconv.FormatUint(uint64(row.ASN), 10)
	case results.ByProvider:
		return row.Provider
	default:
		return row.Vantage
	}
}

// Add folds one row into the report. The row's byte slices are not kept.
func (r *Report) Add(row *ReportRow) error {
	return r.addTo(r.entry(row), row)
}

// entry finds the series of row and its group, counting the series in
// the group the first time.
func (r *Report) entry(row *ReportRow) *seriesEntry {
	sk := [2]string{row.Check, row.Vantage}
	se := r.series[sk]
	if se != nil && se.matches(r.by, row) {
		return se
	}
	k := groupKey{row.Team, row.Endpoint, r.groupOf(row)}
	acc := r.groups[k]
	if acc == nil {
		acc = &group{}
		r.groups[k] = acc
	}
	ne := &seriesEntry{key: k, g: acc, vantage: row.Vantage, region: row.Region, provider: row.Provider, asn: row.ASN}
	if se == nil {
		r.series[sk] = ne
		acc.nseries++
		return ne
	}
	// The series changed group (a vantage moved region): count it once in
	// each group it was seen in.
	mk := [3]string{row.Check, row.Vantage, k.team + "\x00" + k.endpoint + "\x00" + k.group}
	if r.moved == nil {
		r.moved = make(map[[3]string]bool)
	}
	if !r.moved[mk] {
		r.moved[mk] = true
		acc.nseries++
	}
	return ne
}

func (r *Report) addTo(se *seriesEntry, row *ReportRow) error {
	acc := se.g
	acc.count += row.Count
	acc.failures += row.Failures
	acc.failedMinutes += row.FailedMinutes
	acc.downMinutes += row.DownMinutes
	if len(row.Errors) > 0 {
		var err error
		if acc.errors, err = addErrors(acc.errors, row.Errors); err != nil {
			return err
		}
	}
	if err := mergeHist(&acc.hist, row); err != nil {
		return fmt.Errorf("report: rollup of %s at %s: %w", row.Check, row.Vantage, err)
	}
	return nil
}

func mergeHist(h *results.Histogram, row *ReportRow) error {
	if !row.HistFramed {
		return h.MergeBinary(row.Hist)
	}
	b := row.Hist
	for len(b) > 0 {
		if len(b) < 4 {
			return errors.New("truncated histogram frame")
		}
		n := int(binary.BigEndian.Uint32(b))
		if n > len(b)-4 {
			return errors.New("truncated histogram frame")
		}
		if err := h.MergeBinary(b[4 : 4+n]); err != nil {
			return err
		}
		b = b[4+n:]
	}
	return nil
}

// addErrors adds the counts of an EncodeErrors form (or several joined by
// commas) to acc, allocating only for a code acc does not have yet.
func addErrors(acc []errorCount, s []byte) ([]errorCount, error) {
	for len(s) > 0 {
		eq := bytes.IndexByte(s, '=')
		if eq <= 0 {
			return acc, fmt.Errorf("rollup errors: bad entry in %q", s)
		}
		code := s[:eq]
		s = s[eq+1:]
		var n int64
		i := 0
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			n = n*10 + int64(s[i]-'0')
		}
		if i == 0 || (i < len(s) && s[i] != ',') {
			return acc, fmt.Errorf("rollup errors: bad count for %q", code)
		}
		if i < len(s) {
			i++
		}
		s = s[i:]
		k := 0
		for k < len(acc) && acc[k].code != string(code) {
			k++
		}
		if k == len(acc) {
			acc = append(acc, errorCount{code: string(code)})
		}
		acc[k].n += n
	}
	return acc, nil
}

// Rows returns the report, ordered by team, endpoint and group.
func (r *Report) Rows() []results.AvailabilityRow {
	out := make([]results.AvailabilityRow, 0, len(r.groups))
	for k, g := range r.groups {
		row := results.AvailabilityRow{
			Team: k.team, Endpoint: k.endpoint, Group: k.group,
			Results: g.count, Failures: g.failures,
			FailedRounds: g.failedMinutes,
		}
		if g.hist.Count() > 0 {
			row.P50MS, row.P95MS, row.P99MS = quantile(g.hist, 0.50), quantile(g.hist, 0.95), quantile(g.hist, 0.99)
		}
		if g.count > 0 {
			row.AvailabilityPct = 100 * float64(g.count-g.failures) / float64(g.count)
		}
		if g.nseries > 0 {
			row.DowntimeMinutes = int64(math.Round(float64(g.downMinutes) / float64(g.nseries)))
		}
		for _, e := range g.errors {
			if e.n > row.TopErrorCount || (e.n == row.TopErrorCount && e.code < row.TopError) {
				row.TopError, row.TopErrorCount = e.code, e.n
			}
		}
		out = append(out, row)
	}
	slices.SortFunc(out, func(a, b results.AvailabilityRow) int {
		return cmp.Or(cmp.Compare(a.Team, b.Team), cmp.Compare(a.Endpoint, b.Endpoint), cmp.Compare(a.Group, b.Group))
	})
	return out
}

// quantile is h's q-quantile to the microsecond.
func quantile(h results.Histogram, q float64) results.OptionalMS {
	return results.OptionalMS{MS: math.Round(h.Quantile(q)*1000) / 1000, Valid: true}
}

// Merge adds o into r. o must hold other checks than r (no series in
// common), as when a report is folded in parallel parts split by check.
// o must not be used afterwards.
func (r *Report) Merge(o *Report) error {
	if o.by != r.by {
		return fmt.Errorf("report: merging a report by %s into one by %s", o.by, r.by)
	}
	for k, g := range o.groups {
		acc := r.groups[k]
		if acc == nil {
			r.groups[k] = g
			continue
		}
		acc.count += g.count
		acc.failures += g.failures
		acc.failedMinutes += g.failedMinutes
		acc.downMinutes += g.downMinutes
		acc.nseries += g.nseries
		for _, e := range g.errors {
			i := 0
			for i < len(acc.errors) && acc.errors[i].code != e.code {
				i++
			}
			if i == len(acc.errors) {
				acc.errors = append(acc.errors, errorCount{code: e.code})
			}
			acc.errors[i].n += e.n
		}
		acc.hist.Merge(g.hist)
	}
	for sk, se := range o.series {
		se.g = r.groups[se.key]
		r.series[sk] = se
	}
	for _, entries := range o.packSeries {
		for _, se := range entries {
			se.g = r.groups[se.key]
		}
	}
	for check, entries := range o.packSeries {
		if r.packSeries == nil {
			r.packSeries = make(map[string][]*seriesEntry)
		}
		r.packSeries[check] = entries
	}
	for mk := range o.moved {
		if r.moved == nil {
			r.moved = make(map[[3]string]bool)
		}
		r.moved[mk] = true
	}
	return nil
}
