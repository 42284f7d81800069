package dashboard

import (
	"cmp"
	"context"
	"maps"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/picketnet/picket/results"
)

// The endpoint page's client-side section: the Network Error Logging
// reports that browsers and the reporting agent sent about the endpoint
// (package nel). Reports stand for 1/sampling_fraction requests each, as
// nel.Detector weighs them; the store keeps no client address, only the
// client's network (AS and country), so neither does the page.

// Limits on what the section shows.
const (
	maxClientReports  = 20
	maxClientNetworks = 20
)

// nelTypeOK is the NEL type of a success report.
const nelTypeOK = "ok"

// clientData is the client-side section of the endpoint page.
type clientData struct {
	Window string
	// Reports is how many reports arrived in the window; Requests the
	// requests they stand for (weighted), Failures the weighted failures.
	Reports  int64
	Requests float64
	Failures float64
	// WithSuccesses says clients also report successes
	// (success_fraction > 0), so failure rates mean something.
	WithSuccesses bool
	Types         []clientTypeRow
	Networks      []clientNetworkRow
	MoreNetworks  int // networks beyond those listed
	Recent        []clientReport
	// Command is what enables reporting for the endpoint.
	Command string
}

// FailureRate is the share of reported requests that failed.
func (c clientData) FailureRate() string {
	if !c.WithSuccesses || c.Requests == 0 {
		return ""
	}
	return pct(100 * c.Failures / c.Requests)
}

// clientTypeRow is one phase and NEL type.
type clientTypeRow struct {
	Phase, Type string
	Reports     int64
	Weighted    float64
	OK          bool
}

// clientNetworkRow is one client network: an AS and its country.
type clientNetworkRow struct {
	ASN       uint32
	Country   string
	Reports   int64
	Failures  float64 // weighted
	Successes float64 // weighted
	// TopType is the network's most frequent failure type.
	TopType string
}

func (n clientNetworkRow) AS() string {
	if n.ASN == 0 {
		return "unknown AS"
	}
	return "AS" + strconv.FormatUint(uint64(n.ASN), 10)
}

// FailureRate is the network's share of failed requests, when its clients
// report successes too.
func (n clientNetworkRow) FailureRate() string {
	if n.Successes == 0 {
		return "—"
	}
	return pct(100 * n.Failures / (n.Failures + n.Successes))
}

// weighted formats an estimated request count.
func weighted(v float64) string {
	if v < 10 && v != math.Trunc(v) {
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

// clientSide reads the endpoint's NEL reports of [since, now). The query
// names the endpoint's team and the rows are checked again, so that a
// team never sees another team's reports.
func (d *Dashboard) clientSide(ctx context.Context, e results.Endpoint, window string, since, now time.Time) (clientData, error) {
	out := clientData{Window: window, Command: "picket nel headers --endpoint " + e.Name}
	// The section sums the whole range: one bucket, or two where the
	// range straddles a multiple of its width, instead of one per minute.
	q := results.NELQuery{Team: e.Team, Endpoint: e.Name, Since: since, Until: now, Step: now.Sub(since)}
	counts, err := d.opt.Store.NELCounts(ctx, q)
	if err != nil {
		return out, err
	}
	type typeKey struct{ phase, typ string }
	type netKey struct {
		asn     uint32
		country string
	}
	types := map[typeKey]*clientTypeRow{}
	nets := map[netKey]*clientNetworkRow{}
	netTypes := map[netKey]map[string]float64{}
	for _, c := range counts {
		if c.Team != e.Team || c.Endpoint != e.Name {
			continue
		}
		ok := c.Type == nelTypeOK
		out.Reports += c.Reports
		out.Requests += c.Weighted
		tk := typeKey{c.Phase, c.Type}
		tr := types[tk]
		if tr == nil {
			tr = &clientTypeRow{Phase: c.Phase, Type: c.Type, OK: ok}
			types[tk] = tr
		}
		tr.Reports += c.Reports
		tr.Weighted += c.Weighted
		nk := netKey{c.ClientASN, c.ClientCountry}
		nr := nets[nk]
		if nr == nil {
			nr = &clientNetworkRow{ASN: c.ClientASN, Country: c.ClientCountry}
			nets[nk] = nr
			netTypes[nk] = map[string]float64{}
		}
		nr.Reports += c.Reports
		if ok {
			out.WithSuccesses = true
			nr.Successes += c.Weighted
			continue
		}
		out.Failures += c.Weighted
		nr.Failures += c.Weighted
		netTypes[nk][c.Type] += c.Weighted
	}
	for _, tr := range types {
		out.Types = append(out.Types, *tr)
	}
	// Failures first, most requests first; successes last.
	slices.SortFunc(out.Types, func(a, b clientTypeRow) int {
		if a.OK != b.OK {
			if b.OK {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(b.Weighted, a.Weighted), cmp.Compare(a.Phase, b.Phase), cmp.Compare(a.Type, b.Type))
	})
	for k, nr := range nets {
		best := 0.0
		for _, typ := range slices.Sorted(maps.Keys(netTypes[k])) {
			if w := netTypes[k][typ]; w > best {
				best, nr.TopType = w, typ
			}
		}
		out.Networks = append(out.Networks, *nr)
	}
	slices.SortFunc(out.Networks, func(a, b clientNetworkRow) int {
		return cmp.Or(cmp.Compare(b.Failures, a.Failures), cmp.Compare(b.Successes, a.Successes),
			cmp.Compare(a.ASN, b.ASN), cmp.Compare(a.Country, b.Country))
	})
	if len(out.Networks) > maxClientNetworks {
		out.MoreNetworks = len(out.Networks) - maxClientNetworks
		out.Networks = out.Networks[:maxClientNetworks]
	}
	if out.Reports == 0 {
		return out, nil
	}
	recent, err := d.opt.Store.NELReports(ctx, results.NELQuery{Team: e.Team, Endpoint: e.Name, Since: since, Until: now, Limit: maxClientReports})
	if err != nil {
		return out, err
	}
	for _, r := range recent {
		if r.Team == e.Team && r.Endpoint == e.Name {
			// Only what the page shows: not even the client's prefix.
			out.Recent = append(out.Recent, clientReport{At: r.OccurredAt, Phase: r.Phase, Type: r.Type, OK: r.Type == nelTypeOK,
				Network: clientNetworkRow{ASN: r.ClientASN, Country: r.ClientCountry}, Browser: r.Browser, Weight: r.Weight()})
		}
	}
	return out, nil
}

// clientReport is one report as the page lists it.
type clientReport struct {
	At          time.Time
	Phase, Type string
	OK          bool
	Network     clientNetworkRow
	Browser     string
	Weight      float64
}
