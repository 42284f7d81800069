package alerting

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/picketnet/picket/nel"
)

// Client-side failures: the Network Error Logging reports that browsers and
// the reporting agent send (package nel). nel.Detector says, statelessly,
// which endpoints' client-side failures of a NEL type rose well above
// their baseline; the engine turns its findings into client_errors alerts
// with the usual lifecycle, silences and notifications.

// TypeClientErrors: the client-side failures of one NEL type for an
// endpoint rose well above their baseline.
const TypeClientErrors Type = "client_errors"

// ClientErrors is what a client_errors alert knows of the failures: the
// NEL type and phase, the weighted failures and rates, and the client
// networks hit (Alert.Client).
type ClientErrors = nel.Finding

// ClientFinding is one endpoint and NEL type whose client-side failures
// rose, as a ClientDetector finds it.
type ClientFinding = nel.Finding

// clientHold is how long a client_errors condition outlives its last
// finding. The detector compares a sliding window with a threshold, so a
// rise hovering at the threshold comes and goes from one evaluation to
// the next; without the hold each dip would resolve the alert and the
// next evaluation fire it again. It also bridges a detector error.
const clientHold = 2 * time.Minute

// ClientDetector finds the endpoints whose client-side failures rose well
// above their baseline. NELDetector is the one over the store's reports.
type ClientDetector interface {
	ClientFindings(ctx context.Context, now time.Time) ([]ClientFinding, error)
}

// NELDetector runs nel.Detector over the NEL counts of a store
// (results.NELStore). Use it by pointer: it remembers its last findings.
type NELDetector struct {
	Detector nel.Detector
	Counts   nel.CountSource
	// Every is how often the counts are read again (default 30s); in
	// between, the last findings stand. The detector compares minutes, so
	// reading an hour of counts at every evaluation (5s) would cost the
	// store much for little news.
	Every time.Duration

	mu     sync.Mutex
	at     time.Time
	last   []ClientFinding
	pinned nel.Pinned // the baselines of the findings in last
}

// ClientFindings implements ClientDetector.
func (d *NELDetector) ClientFindings(ctx context.Context, now time.Time) ([]ClientFinding, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	every := d.Every
	if every <= 0 {
		every = 30 * time.Second
	}
	if !d.at.IsZero() && !now.Before(d.at) && now.Sub(d.at) < every {
		return d.last, nil
	}
	fs, err := d.Detector.Evaluate(ctx, d.Counts, now, d.pinned)
	if err != nil {
		return nil, err
	}
	// A finding keeps the baseline it was first found against for as long
	// as it lasts, so that a long failure does not become its own normal.
	pinned := make(nel.Pinned, len(fs))
	for _, f := range fs {
		if p, ok := d.pinned[f.Key()]; ok {
			pinned[f.Key()] = p
		} else {
			pinned[f.Key()] = f.Baseline()
		}
	}
	d.at, d.last, d.pinned = now, fs, pinned
	return fs, nil
}

// RestoreFindings pins the baselines of findings that a previous leader
// left open (the client_errors alerts restored at takeover), so that a
// failure older than the baseline window does not become this detector's
// normal, and its alert resolve, only because the leader changed. A
// baseline this detector pinned itself is kept.
func (d *NELDetector) RestoreFindings(fs []ClientFinding) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pinned == nil {
		d.pinned = make(nel.Pinned, len(fs))
	}
	for _, f := range fs {
		if _, ok := d.pinned[f.Key()]; !ok {
			d.pinned[f.Key()] = f.Baseline()
		}
	}
}

// clientSeen is the newest finding of a client_errors condition.
type clientSeen struct {
	finding nel.Finding
	at      time.Time
}

// clientConditions returns the client_errors conditions at now: one per
// finding, and one per earlier finding still within clientHold. Findings
// for endpoints that are not registered (any more) are dropped.
func (e *Engine) clientConditions(now time.Time, findings []ClientFinding) []condition {
	if e.client == nil {
		e.client = make(map[string]clientSeen)
	}
	for _, f := range findings {
		e.client[alertKey(TypeClientErrors, f.Team, f.Endpoint, f.Type)] = clientSeen{finding: f, at: now}
	}
	var out []condition
	for _, key := range slices.Sorted(maps.Keys(e.client)) {
		s := e.client[key]
		info, ok := e.policies[endpointKey{s.finding.Team, s.finding.Endpoint}]
		if !ok || now.Sub(s.at) > clientHold {
			delete(e.client, key)
			continue
		}
		out = append(out, clientCondition(key, s.finding, info.policy))
	}
	return out
}

// clientCondition describes a finding as an alert. Its severity is notify:
// client reports are an early, partial signal (the probers' reachability
// alert is the one that pages), unless the endpoint's policy asks for info
// only. It has no regions or vantages: the clients are known by their
// networks, which are in ASNs and Client.Networks.
func clientCondition(key string, f nel.Finding, p Policy) condition {
	sev := SeverityNotify
	if p.Severity == SeverityInfo {
		sev = SeverityInfo
	}
	var asns []uint32
	for _, n := range f.Networks {
		if n.ASN != 0 && !slices.Contains(asns, n.ASN) {
			asns = append(asns, n.ASN)
		}
	}
	slices.Sort(asns)
	client := f
	client.Networks = slices.Clone(f.Networks)
	return condition{Alert{
		Key: key, Type: TypeClientErrors, Severity: sev, Team: f.Team, Endpoint: f.Endpoint,
		Summary: f.Summary(), ASNs: asns,
		Layer: nelLayer(f.Phase, f.Type), Code: f.Type, Phase: f.Phase,
		Client: &client,
	}}
}

// nelLayer maps a NEL type, or else its phase, to the layer a probe's
// failure of the same kind has, so that alerts group alike.
func nelLayer(phase, typ string) string {
	prefix, _, _ := strings.Cut(typ, ".")
	switch prefix {
	case "dns":
		return "dns"
	case "tcp":
		return "connect"
	case "tls":
		return "tls"
	case "http", "h2", "h3", "quic":
		return "http"
	}
	switch phase {
	case "dns":
		return "dns"
	case "connection":
		return "connect"
	}
	return "http"
}
