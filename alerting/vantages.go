package alerting

import (
	"fmt"
	"time"

	"github.com/picketnet/picket/results"
)

// missingVantages are those not heard from for MissingAfter heartbeat
// intervals. A vantage never heard from is not missing: it was enrolled
// but has not started, which is not an outage of anything.
//
// The silence is counted from the last heartbeat the store recorded, but
// not from before this engine's first evaluation, nor from before the
// store came back from an outage (HeartbeatsLost): heartbeats the
// collectors could not record then say nothing about the vantages, and
// without this every vantage would be declared missing, and left out of
// every quorum, after a collector restart, a takeover that followed a
// database outage, or the outage itself. Counted from such a moment, the
// window is doubled, for the probers' backoff. A vantage whose
// vantage_missing alert is open stays missing until it heartbeats again.
func (e *Engine) missingVantages(now time.Time, vs []results.Vantage) map[string]bool {
	out := map[string]bool{}
	for _, v := range vs {
		if v.LastHeartbeat.IsZero() {
			continue
		}
		every := v.HeartbeatEvery
		if every <= 0 {
			every = e.cfg.DefaultHeartbeat
		}
		since, window := v.LastHeartbeat, time.Duration(e.cfg.MissingAfter)*every
		if _, open := e.alerts[alertKey(TypeVantageMissing, v.ID)]; !open {
			if heard := latest(e.first, e.deafUntil); heard.After(since) {
				// Probers that found no collector back off (30 s by
				// default) before they try again: twice the window
				// from then.
				since, window = heard, 2*window
			}
		}
		if now.Sub(since) > window {
			out[v.ID] = true
		}
	}
	return out
}

// HeartbeatsLost tells the engine that heartbeats until at may not have
// been recorded: the store was unreachable. No vantage is declared missing
// for a silence that began before at until twice MissingAfter heartbeat
// intervals after it.
func (e *Engine) HeartbeatsLost(at time.Time) {
	if at.After(e.deafUntil) {
		e.deafUntil = at
	}
}

func latest(ts ...time.Time) time.Time {
	var m time.Time
	for _, t := range ts {
		if t.After(m) {
			m = t
		}
	}
	return m
}

func (e *Engine) vantageConditions(now time.Time, vs []results.Vantage, missing map[string]bool) []condition {
	var out []condition
	for _, v := range vs {
		if !missing[v.ID] {
			continue
		}
		c := condition{Alert{
			Type: TypeVantageMissing, Severity: SeverityNotify,
			Key:      alertKey(TypeVantageMissing, v.ID),
			Regions:  []string{v.Region},
			Vantages: []string{v.ID},
			Value:    now.Sub(v.LastHeartbeat).Seconds(),
		}}
		if v.ASN != 0 {
			c.ASNs = []uint32{v.ASN}
		}
		// The time of the last heartbeat rather than how long ago it was:
		// the summary stays the same while the vantage is missing, so the
		// stored alert is not rewritten at every evaluation (Changed).
		c.Summary = fmt.Sprintf("vantage %s (%s, %s) missing: no heartbeat since %s; left out of quorums",
			v.ID, v.Region, v.Provider, v.LastHeartbeat.UTC().Format("2006-01-02 15:04:05Z"))
		out = append(out, c)
	}
	return out
}

// certCondition fires when the certificate seen by any live vantage has
// fewer days left than the endpoint's threshold.
func (e *Engine) certCondition(check string, states []*checkVantage, info endpointInfo) (condition, bool) {
	threshold := info.policy.MinDaysLeft
	if threshold == 0 {
		threshold = info.minDaysLeft
	}
	if threshold == 0 {
		threshold = e.cfg.CertMinDaysLeft
	}
	var low []*checkVantage
	least := 0.0
	for _, s := range states {
		if s.hasCert && s.daysLeft < threshold {
			if len(low) == 0 || s.daysLeft < least {
				least = s.daysLeft
			}
			low = append(low, s)
		}
	}
	if len(low) == 0 {
		return condition{}, false
	}
	first := low[0]
	regions, asns, vantages, _ := where(low)
	c := condition{Alert{
		Type: TypeCertExpiry, Severity: SeverityNotify, Key: alertKey(TypeCertExpiry, first.team, check),
		Team: first.team, Endpoint: first.endpoint, Check: check, Kind: first.kind,
		Regions: regions, ASNs: asns, Vantages: vantages, Value: least, Threshold: threshold,
	}}
	c.Summary = fmt.Sprintf("%s: certificate of %s expires in %.1f days (threshold %.0f)", first.endpoint, first.target, least, threshold)
	return c, true
}
