package alerting

import (
	"fmt"
	"slices"
	"strings"

	"github.com/picketnet/picket/netpath"
	"github.com/picketnet/picket/results"
)

// pathRound is one traceroute round as the detour detector remembers it.
type pathRound struct {
	asns []uint32 // distinct, non-wildcard
	rtt  float64  // ms to the target; 0 when it was not reached
}

type pathState struct {
	history []pathRound // recent usual rounds, oldest first
	names   map[uint32]string
	// consecutive detour rounds, and what the newest one found
	detours int
	newASNs []uint32
	extraMS float64
	rttMS   float64
	baseMS  float64
	// changed: the newest round crossed a new AS without an RTT rise
	changed    bool
	changedNew []uint32
}

func (e *Engine) observePath(s *checkVantage, r *results.Result) {
	if r.Kind == "icmp" {
		var d results.ICMPDetails
		if r.DecodeDetails(&d) == nil && d.Received > 0 && d.RTTMinMS != nil {
			s.minRTT = *d.RTTMinMS
		}
		return
	}
	if r.Kind != "traceroute" {
		return
	}
	var d results.TracerouteDetails
	if r.DecodeDetails(&d) != nil {
		return
	}
	p := &s.path
	if p.names == nil {
		p.names = map[uint32]string{}
	}
	for _, h := range d.Hops {
		if h.ASN != 0 && h.ASName != "" {
			p.names[h.ASN] = h.ASName
		}
	}
	round := pathRound{}
	if d.Reached {
		round.rtt = d.RTTMS
		s.minRTT = d.RTTMS
	}
	for _, a := range d.ASPath {
		// 0 is a silent stretch: a wildcard, never a change.
		if a != 0 && !slices.Contains(round.asns, a) {
			round.asns = append(round.asns, a)
		}
	}
	cfg := e.cfg.Path
	p.changed, p.changedNew = false, nil
	if len(p.history) < cfg.MinHistory {
		p.history = append(p.history, round)
		return
	}
	usual := map[uint32]int{}
	for _, h := range p.history {
		for _, a := range h.asns {
			usual[a]++
		}
	}
	var fresh []uint32
	for _, a := range round.asns {
		if float64(usual[a]) < cfg.UsualShare*float64(len(p.history)) {
			fresh = append(fresh, a)
		}
	}
	var rtts []float64
	for _, h := range p.history {
		if h.rtt > 0 {
			rtts = append(rtts, h.rtt)
		}
	}
	rise := false
	var base float64
	if round.rtt > 0 && len(rtts) >= cfg.MinHistory {
		var limit float64
		limit, base = robustLimit(rtts, cfg.K, cfg.Ratio, cfg.FloorMS)
		rise = round.rtt > limit
	}
	if len(fresh) > 0 && rise {
		// A detour round stays out of the history, so a lasting detour
		// keeps alerting instead of becoming the usual path.
		p.detours++
		p.newASNs, p.rttMS, p.baseMS, p.extraMS = fresh, round.rtt, base, round.rtt-base
		return
	}
	p.detours = 0
	if len(fresh) > 0 {
		p.changed, p.changedNew = true, fresh
	}
	p.history = append(p.history, round)
	if len(p.history) > cfg.History {
		p.history = p.history[len(p.history)-cfg.History:]
	}
}

// pathConditions reports detours, AS path changes without an RTT change
// (info), and RTTs below the speed-of-light bound, per vantage.
func (e *Engine) pathConditions(states []*checkVantage, info endpointInfo, vantages map[string]results.Vantage) []condition {
	var out []condition
	for _, s := range states {
		base := condition{Alert{
			Team: s.team, Endpoint: s.endpoint, Check: s.check, Kind: s.kind,
			Regions: []string{s.region}, Vantages: []string{s.vantage},
		}}
		if s.asn != 0 {
			base.ASNs = []uint32{s.asn}
		}
		p := &s.path
		switch {
		case p.detours >= e.cfg.Path.Rounds:
			c := base
			c.Type, c.Severity = TypeDetour, info.policy.Severity
			c.Key = alertKey(TypeDetour, s.team, s.check, s.vantage)
			c.NewASNs = p.asnList(p.newASNs)
			c.ExtraMS, c.Value, c.Threshold = p.extraMS, p.rttMS, p.baseMS
			c.Summary = fmt.Sprintf("%s: path from %s (%s) detours through %s; RTT %.0f ms, +%.0f ms over the usual %.0f ms",
				s.endpoint, s.vantage, s.region, describeASNs(c.NewASNs), p.rttMS, p.extraMS, p.baseMS)
			out = append(out, c)
		case p.changed:
			c := base
			c.Type, c.Severity = TypePathChange, SeverityInfo
			c.Key = alertKey(TypePathChange, s.team, s.check, s.vantage)
			c.NewASNs = p.asnList(p.changedNew)
			c.Summary = fmt.Sprintf("%s: AS path from %s (%s) now crosses %s, with no RTT change",
				s.endpoint, s.vantage, s.region, describeASNs(c.NewASNs))
			out = append(out, c)
		}
		if c, ok := e.lightCondition(base, s, info, vantages[s.vantage]); ok {
			out = append(out, c)
		}
	}
	return out
}

func (p *pathState) asnList(asns []uint32) []ASN {
	out := make([]ASN, 0, len(asns))
	for _, a := range asns {
		out = append(out, ASN{Number: a, Name: p.names[a]})
	}
	return out
}

func describeASNs(asns []ASN) string {
	parts := make([]string, 0, len(asns))
	for _, a := range asns {
		if a.Name != "" {
			parts = append(parts, fmt.Sprintf("AS%d (%s)", a.Number, a.Name))
		} else {
			parts = append(parts, fmt.Sprintf("AS%d", a.Number))
		}
	}
	return strings.Join(parts, ", ")
}

// lightCondition flags an RTT that light in fibre could not achieve over
// the distance between the vantage and the target: the target answered
// from somewhere else (anycast, a hijack) or a location is wrong.
func (e *Engine) lightCondition(base condition, s *checkVantage, info endpointInfo, v results.Vantage) (condition, bool) {
	loc := info.policy.Location
	if s.minRTT <= 0 || loc == nil || v.Lat == nil || v.Lon == nil {
		return condition{}, false
	}
	bound := results.Millis(netpath.MinRTT(netpath.Distance(*v.Lat, *v.Lon, loc.Lat, loc.Lon)))
	if s.minRTT >= bound {
		return condition{}, false
	}
	c := base
	c.Type, c.Severity = TypeSpeedOfLight, SeverityNotify
	c.Key = alertKey(TypeSpeedOfLight, s.team, s.check, s.vantage)
	c.Value, c.Threshold = s.minRTT, bound
	c.Summary = fmt.Sprintf("%s: RTT %.1f ms from %s is below the %.1f ms that light in fibre needs for the distance; the target answers from closer than registered",
		s.endpoint, s.minRTT, s.vantage, bound)
	return c, true
}
