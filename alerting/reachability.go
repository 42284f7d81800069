package alerting

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/picketnet/picket/results"
)

// reachabilityVote decides whether s counts toward its check's
// reachability at this evaluation, and how (s.vote, s.voteDown, s.held).
// fresh says the vantage reported the check lately and is not missing;
// v is the vantage, when enrolled.
//
// A vantage counts once its verdict has settled: fail_after failures or
// recover_after successes since it started, or restarted after a
// silence, reporting the check. One that has not settled yet counts
// nowhere, neither in its region's majority nor in the regions the quorum
// is taken from: a prober joining during an outage must not resolve it
// with its first success or dilute the quorum before it knows.
// Symmetrically, while a reachability alert on the check is open, a
// vantage that counted and falls silent or restarts keeps its last
// verdict until it settles again, so that a prober going away neither
// resolves nor escalates the alert. The kept verdict goes when the alert
// ends, when the vantage is removed, or when it sends heartbeats without
// the check: then it was unassigned, not silenced.
func (e *Engine) reachabilityVote(s *checkVantage, fresh bool, v results.Vantage, enrolled bool) bool {
	unassigned := !fresh && v.LastHeartbeat.After(s.last.Add(e.staleAfter(s)))
	switch {
	case fresh && s.settled:
		s.vote, s.voteDown, s.held = true, s.down, false
	case s.vote && enrolled && !unassigned && e.reachabilityOpen(s.team, s.check):
		s.held = true
	default:
		s.vote, s.voteDown, s.held = false, false, false
	}
	return s.vote
}

// reachabilityOpen reports whether an outage or regional alert on check
// is open.
func (e *Engine) reachabilityOpen(team, check string) bool {
	for _, t := range [...]Type{TypeOutage, TypeRegional} {
		if a, ok := e.alerts[alertKey(t, team, check)]; ok && a.Open() {
			return true
		}
	}
	return false
}

// reachabilityConditions decides whether check is down by quorum (an
// outage) or in fewer regions (a regional loss), from the verdicts of the
// states that count (reachabilityVote).
func (e *Engine) reachabilityConditions(now time.Time, check string, states []*checkVantage, p Policy) []condition {
	byRegion := map[string][]*checkVantage{}
	reporting := false
	var held []*checkVantage
	for _, s := range states {
		byRegion[s.region] = append(byRegion[s.region], s)
		if s.held {
			held = append(held, s)
		} else {
			reporting = true
		}
	}
	var downRegions []string
	var downStates []*checkVantage
	for _, region := range slices.Sorted(maps.Keys(byRegion)) {
		in := byRegion[region]
		var down []*checkVantage
		for _, s := range in {
			if s.voteDown {
				down = append(down, s)
			}
		}
		// Most of the region's counted vantages: a strict majority.
		if 2*len(down) > len(in) {
			downRegions = append(downRegions, region)
			downStates = append(downStates, down...)
		}
	}
	if len(downRegions) == 0 {
		return nil
	}
	// Kept verdicts stand in for silence, never against evidence: when
	// vantages report and none of those in the down regions sees the check
	// down, it is up.
	if reporting && !slices.ContainsFunc(downStates, func(s *checkVantage) bool { return !s.held }) {
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
	c.Error = sampleError(downStates, layer, code)
	if len(downRegions) == len(byRegion) && len(byRegion) > 1 {
		from = "all regions (" + from + ")"
	}
	what := fmt.Sprintf("%s %s/%s", kindLabel(first.kind, first.target), layer, code)
	c.Summary = fmt.Sprintf("%s: %s from %s%s", first.endpoint, what, from, e.otherKinds(now, first, downStates))
	if len(downRegions) >= quorum {
		c.Type, c.Severity = TypeOutage, p.Severity
	} else {
		c.Type, c.Severity = TypeRegional, SeverityNotify
		if p.Severity == SeverityInfo {
			c.Severity = SeverityInfo
		}
		c.Summary += fmt.Sprintf(" (%d of %d regions; quorum %d)", len(downRegions), len(byRegion), quorum)
	}
	if len(held) > 0 {
		_, _, ids, _ := where(held)
		c.Summary += fmt.Sprintf("; last verdict kept for %s (silent or restarting)", strings.Join(ids, ", "))
	}
	c.Key = alertKey(c.Type, first.team, check)
	if _, open := e.alerts[c.Key]; !open && recovering(downStates) {
		// Every vantage that reports the check down has passed its
		// latest run: the check is coming back there, and a new alert
		// would resolve at the next run. That is the region whose
		// probers run last in the interval when an outage ends, which
		// would otherwise follow every page's resolve with a regional
		// alert and its resolve. An alert already open is not affected.
		return nil
	}
	return []condition{c}
}

// recovering reports whether every reporting vantage among states, which
// see the check down, passed its latest run. Kept verdicts (held) say
// nothing about the latest run and do not count.
func recovering(states []*checkVantage) bool {
	reporting := false
	for _, s := range states {
		if s.held {
			continue
		}
		if s.consecFail > 0 {
			return false
		}
		reporting = true
	}
	return reporting
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

// maxErrorSample bounds the error message an alert quotes.
const maxErrorSample = 300

// sampleError quotes the latest error of layer/code at the first vantage,
// by id, that has one.
func sampleError(states []*checkVantage, layer, code string) string {
	var pick *checkVantage
	for _, s := range states {
		if e := s.lastErr; e != nil && string(e.Layer) == layer && string(e.Code) == code && e.Message != "" &&
			(pick == nil || s.vantage < pick.vantage) {
			pick = s
		}
	}
	if pick == nil {
		return ""
	}
	msg := pick.lastErr.Message
	if len(msg) > maxErrorSample {
		msg = strings.ToValidUTF8(msg[:maxErrorSample], "") + "…"
	}
	return pick.vantage + ": " + msg
}

// How another check kind fares, from best to worst.
const (
	kindFine       = iota
	kindRecovering // down, but the latest results passed
	kindUnconfirmed
	kindFailing
)

// otherKinds says how the endpoint's other check kinds fare from the
// vantages that see this one down: "; ICMP and DNS fine" or "; ICMP also
// failing". That tells a network problem from an application one. It goes
// by the latest results, not only by the debounced verdict: a kind whose
// last run failed is never called fine, only not confirmed yet.
func (e *Engine) otherKinds(now time.Time, of *checkVantage, down []*checkVantage) string {
	at := map[string]bool{}
	for _, s := range down {
		at[s.vantage] = true
	}
	worst := map[string]int{}
	for _, s := range e.cv {
		if s.team != of.team || s.endpoint != of.endpoint || s.check == of.check || s.kind == of.kind || !at[s.vantage] || !s.known {
			continue
		}
		if now.Sub(s.last) > e.staleAfter(s) {
			continue // an old result says nothing about now
		}
		h := kindFine
		switch {
		case s.down && s.consecFail > 0:
			h = kindFailing
		case s.consecFail > 0:
			h = kindUnconfirmed
		case s.down:
			h = kindRecovering
		}
		label := kindLabel(s.kind, s.target)
		if w, ok := worst[label]; !ok || h > w {
			worst[label] = h
		}
	}
	var parts []string
	for _, h := range []struct {
		health int
		say    string
	}{
		{kindFine, " fine"},
		{kindFailing, " also failing"},
		{kindUnconfirmed, " also failing (unconfirmed)"},
		{kindRecovering, " recovering"},
	} {
		var labels []string
		for _, l := range slices.Sorted(maps.Keys(worst)) {
			if worst[l] == h.health {
				labels = append(labels, l)
			}
		}
		if len(labels) > 0 {
			parts = append(parts, joinAnd(labels)+h.say)
		}
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
