package alerting

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// reachabilityConditions decides whether check is down by quorum (an
// outage) or in fewer regions (a regional loss), from the live states of
// the check's vantages.
func (e *Engine) reachabilityConditions(check string, states []*checkVantage, p Policy) []condition {
	byRegion := map[string][]*checkVantage{}
	for _, s := range states {
		byRegion[s.region] = append(byRegion[s.region], s)
	}
	var downRegions []string
	var downStates []*checkVantage
	for _, region := range slices.Sorted(maps.Keys(byRegion)) {
		in := byRegion[region]
		var down []*checkVantage
		for _, s := range in {
			if s.down {
				down = append(down, s)
			}
		}
		// Most of the region's live vantages: a strict majority.
		if 2*len(down) > len(in) {
			downRegions = append(downRegions, region)
			downStates = append(downStates, down...)
		}
	}
	if len(downRegions) == 0 {
		return nil
	}
	quorum := min(p.Quorum, len(byRegion))
	first := states[0]
	c := condition{Alert{
		Team: first.team, Endpoint: first.endpoint, Check: check, Kind: first.kind,
	}}
	regions, asns, vantages, from := where(downStates)
	c.Regions, c.ASNs, c.Vantages = regions, asns, vantages
	layer, code := commonError(downStates)
	c.Layer, c.Code = layer, code
	if len(downRegions) == len(byRegion) && len(byRegion) > 1 {
		from = "all regions (" + from + ")"
	}
	what := fmt.Sprintf("%s %s/%s", kindLabel(first.kind, first.target), layer, code)
	c.Summary = fmt.Sprintf("%s: %s from %s%s", first.endpoint, what, from, e.otherKinds(first, downStates))
	if len(downRegions) >= quorum {
		c.Type, c.Severity = TypeOutage, p.Severity
	} else {
		c.Type, c.Severity = TypeRegional, SeverityNotify
		if p.Severity == SeverityInfo {
			c.Severity = SeverityInfo
		}
		c.Summary += fmt.Sprintf(" (%d of %d regions; quorum %d)", len(downRegions), len(byRegion), quorum)
	}
	c.Key = alertKey(c.Type, first.team, check)
	return []condition{c}
}

// commonError is the most frequent layer/code among the down states.
func commonError(states []*checkVantage) (layer, code string) {
	counts := map[string]int{}
	for _, s := range states {
		if s.lastErr != nil {
			counts[string(s.lastErr.Layer)+"/"+string(s.lastErr.Code)]++
		}
	}
	best, n := "", 0
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		if counts[k] > n {
			best, n = k, counts[k]
		}
	}
	if best == "" {
		return "unknown", "unknown"
	}
	layer, code, _ = strings.Cut(best, "/")
	return layer, code
}

// otherKinds says how the endpoint's other check kinds fare from the
// vantages that see this one down: "; ICMP and DNS fine" or
// "; ICMP also failing". That tells a network problem from an application one.
func (e *Engine) otherKinds(of *checkVantage, down []*checkVantage) string {
	at := map[string]bool{}
	for _, s := range down {
		at[s.vantage] = true
	}
	fine, failing := map[string]bool{}, map[string]bool{}
	for _, s := range e.cv {
		if s.team != of.team || s.endpoint != of.endpoint || s.check == of.check || !at[s.vantage] || !s.known {
			continue
		}
		label := kindLabel(s.kind, s.target)
		if s.kind == of.kind {
			continue
		}
		if s.down {
			failing[label] = true
		} else {
			fine[label] = true
		}
	}
	for l := range failing {
		delete(fine, l)
	}
	var parts []string
	if len(fine) > 0 {
		parts = append(parts, joinAnd(slices.Sorted(maps.Keys(fine)))+" fine")
	}
	if len(failing) > 0 {
		parts = append(parts, joinAnd(slices.Sorted(maps.Keys(failing)))+" also failing")
	}
	if len(parts) == 0 {
		return ""
	}
	return "; " + strings.Join(parts, "; ")
}

func joinAnd(xs []string) string {
	switch len(xs) {
	case 0:
		return ""
	case 1:
		return xs[0]
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " and " + xs[len(xs)-1]
}
