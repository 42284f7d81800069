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
// Heartbeats could not arrive while no collector was running: after an
// outage of every collector, all heartbeats are old, and the probers,
// backing off from collectors that did not answer (30 s by default),
// send their next one some time after the collectors are back. So a
// heartbeat older than this evaluator's first evaluation counts from that
// evaluation, and for twice the usual window, unless the vantage was
// already missing (an alert restored at takeover stays open).
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
		window := time.Duration(e.cfg.MissingAfter) * every
		if now.Sub(v.LastHeartbeat) <= window {
			continue
		}
		_, open := e.alerts[alertKey(TypeVantageMissing, v.ID)]
		if open || !v.LastHeartbeat.Before(e.first) || now.Sub(e.first) > 2*window {
			out[v.ID] = true
		}
	}
	return out
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
		c.Summary = fmt.Sprintf("vantage %s (%s, %s) missing: no heartbeat for %s; left out of quorums",
			v.ID, v.Region, v.Provider, now.Sub(v.LastHeartbeat).Round(time.Second))
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
