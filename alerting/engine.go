package alerting

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/picketnet/picket/results"
)

// Snapshot is what the engine needs to know of the registry at an
// evaluation: endpoints (with their alert policies), vantages (with their
// heartbeats) and the silences in force.
type Snapshot struct {
	Endpoints []results.Endpoint
	Vantages  []results.Vantage
	Silences  []Silence
	// ClientFindings are the endpoints whose client-side failures rose
	// (ClientDetector); they become client_errors alerts.
	ClientFindings []ClientFinding
}

// Engine evaluates alert conditions. It is not safe for concurrent use:
// one evaluation loop owns it (only the replica holding the alerting lock).
type Engine struct {
	cfg Config
	// per (check, vantage) state, fed by Observe
	cv map[cvKey]*checkVantage
	// byCheck holds the same states by check, each check's in vantage
	// order: every round groups them so, and sorting them all each time
	// was most of a round with a hundred thousand of them.
	byCheck map[string][]*checkVantage
	// open alerts by key
	alerts map[string]*Alert
	// endpoint policies and tls thresholds, from the last snapshot
	policies map[endpointKey]endpointInfo
	// first evaluation, for the warm-up
	first time.Time
	// deafUntil: heartbeats before it may have gone unrecorded (the store
	// could not be read or written), so silence is counted from it.
	deafUntil time.Time
	// client_errors conditions by key, for their hold (clientside.go)
	client map[string]clientSeen
	// changed are the open alerts whose description changed at the last
	// Evaluate without a transition (Changed).
	changed []Alert
}

type cvKey struct{ check, vantage string }

type endpointKey struct{ team, name string }

type endpointInfo struct {
	policy      Policy
	minDaysLeft float64 // from a tls check's expect.min_days_left, 0 if none
	target      string
}

// checkVantage is everything the engine remembers about one check as seen
// from one vantage.
type checkVantage struct {
	team, endpoint, check, kind, target string
	vantage, region                     string
	asn                                 uint32

	last     time.Time     // started_at of the newest result
	interval time.Duration // gap between the two newest results

	consecFail, consecOK int
	down                 bool
	// settled says the streak reached fail_after or recover_after since
	// the vantage started, or restarted after a silence, reporting the
	// check: only then is down a verdict rather than a guess.
	settled bool
	known   bool // at least one result seen
	lastErr *results.Error

	// How this state counted toward its check's reachability at the last
	// evaluation (reachabilityVote): vote says it counted, voteDown with
	// which verdict, held that the verdict was kept from before because
	// the vantage is silent or restarting.
	vote, voteDown, held bool

	lat  latencyState
	path pathState

	hasCert  bool
	daysLeft float64
	// minRTT is the lowest RTT this round (icmp min, traceroute to target),
	// for the speed-of-light check; 0 when unknown.
	minRTT float64
}

// NewEngine returns an engine with cfg (zero fields take defaults).
func NewEngine(cfg Config) *Engine {
	return &Engine{
		cfg:      cfg.withDefaults(),
		cv:       make(map[cvKey]*checkVantage),
		byCheck:  make(map[string][]*checkVantage),
		alerts:   make(map[string]*Alert),
		policies: make(map[endpointKey]endpointInfo),
	}
}

// Config returns the engine's effective configuration.
func (e *Engine) Config() Config { return e.cfg }

// Restore loads the open alerts a previous evaluator left, so that a
// takeover neither re-notifies nor forgets to resolve them.
func (e *Engine) Restore(open []Alert) {
	for _, a := range open {
		if a.Open() {
			e.alerts[a.Key] = &a
		}
	}
}

// Alerts returns the open alerts, sorted by key.
func (e *Engine) Alerts() []Alert {
	out := make([]Alert, 0, len(e.alerts))
	for _, k := range slices.Sorted(maps.Keys(e.alerts)) {
		out = append(out, *e.alerts[k])
	}
	return out
}

// Observe feeds one result, which it does not keep. Results of a (check,
// vantage) must come in started_at order; an older one than the newest
// seen is ignored, so a spool replaying old results cannot flip the
// current state.
func (e *Engine) Observe(r *results.Result) {
	k := cvKey{r.Check, r.Vantage}
	s := e.cv[k]
	if s == nil {
		s = &checkVantage{team: r.Team, endpoint: r.Endpoint, check: r.Check, kind: r.Kind, vantage: r.Vantage}
		e.cv[k] = s
		states := e.byCheck[r.Check]
		i, _ := slices.BinarySearchFunc(states, r.Vantage, func(s *checkVantage, v string) int { return strings.Compare(s.vantage, v) })
		e.byCheck[r.Check] = slices.Insert(states, i, s)
	}
	if s.known && !r.StartedAt.After(s.last) {
		return
	}
	if s.known {
		if gap := r.StartedAt.Sub(s.last); s.interval > 0 && gap > e.staleAfter(s) {
			// The vantage was silent on this check: the streak it had
			// says nothing about now, so its verdict settles afresh. The
			// interval is learnt again too: a gap is no interval, and the
			// check may have been given another one meanwhile.
			s.consecFail, s.consecOK, s.down, s.settled, s.interval = 0, 0, false, false, 0
		} else {
			s.interval = gap
		}
	}
	s.known, s.last = true, r.StartedAt
	s.region, s.asn, s.target = r.Region, r.ASN, r.Target

	e.observeReachability(s, r)
	e.observeCert(s, r)
	e.observeLatency(s, r)
	e.observePath(s, r)
}

func (e *Engine) observeReachability(s *checkVantage, r *results.Result) {
	// Down, not !OK: a certificate close to expiry is its own alert
	// (observeCert), not an outage, and counts here as a success.
	if r.Down() {
		s.consecFail++
		s.consecOK = 0
		s.lastErr = r.Error
		if s.consecFail >= e.cfg.FailAfter {
			s.down, s.settled = true, true
		}
		return
	}
	s.consecOK++
	s.consecFail = 0
	if s.consecOK >= e.cfg.RecoverAfter {
		s.down, s.settled = false, true
	}
}

// staleAfter is how long a state may go without a result before its
// vantage counts as silent on the check: three of its intervals.
func (e *Engine) staleAfter(s *checkVantage) time.Duration {
	if s.interval == 0 {
		return 3 * max(time.Minute, e.cfg.EvaluateEvery)
	}
	return 3 * max(s.interval, e.cfg.EvaluateEvery)
}

func (e *Engine) observeCert(s *checkVantage, r *results.Result) {
	switch r.Kind {
	case "tls":
		var d results.TLSDetails
		if r.DecodeDetails(&d) == nil && !d.NotAfter.IsZero() {
			s.hasCert, s.daysLeft = true, d.DaysLeft
		}
	case "tcp":
		var d results.TCPDetails
		if r.DecodeDetails(&d) == nil && d.TLS != nil && !d.TLS.NotAfter.IsZero() {
			s.hasCert, s.daysLeft = true, d.TLS.DaysLeft
		}
	}
}

// Evaluate derives the active conditions at now and moves alerts through
// their lifecycle. It returns the transitions, in key order; each one is to
// be persisted, and notified when Notifies says so.
func (e *Engine) Evaluate(now time.Time, snap Snapshot) []Transition {
	if e.first.IsZero() {
		e.first = now
	}
	e.policies = make(map[endpointKey]endpointInfo, len(snap.Endpoints))
	for _, ep := range snap.Endpoints {
		e.policies[endpointKey{ep.Team, ep.Name}] = endpointInfoOf(ep)
	}
	vantages := make(map[string]results.Vantage, len(snap.Vantages))
	for _, v := range snap.Vantages {
		vantages[v.ID] = v
	}
	missing := e.missingVantages(now, snap.Vantages)

	conds := make(map[string]condition)
	add := func(c condition) { conds[c.Key] = c }
	for _, c := range e.vantageConditions(now, snap.Vantages, missing) {
		add(c)
	}
	live, votes := e.statesByCheck(now, vantages, missing)
	for check, states := range votes {
		info, ok := e.policies[endpointKey{states[0].team, states[0].endpoint}]
		if !ok {
			continue // endpoint deleted: its alerts resolve
		}
		for _, c := range e.reachabilityConditions(now, check, states, info.policy) {
			add(c)
		}
	}
	for check, states := range live {
		info, ok := e.policies[endpointKey{states[0].team, states[0].endpoint}]
		if !ok {
			continue
		}
		for _, c := range e.latencyConditions(now, check, states, info.policy) {
			add(c)
		}
		for _, c := range e.pathConditions(states, info, vantages) {
			add(c)
		}
		if c, ok := e.certCondition(check, states, info); ok {
			add(c)
		}
	}
	for _, c := range e.clientConditions(now, snap.ClientFindings) {
		add(c)
	}
	return e.reconcile(now, conds, snap.Silences)
}

// statesByCheck groups the states by check twice. live are the fresh
// states of vantages that are not missing: a state is stale when its
// vantage has not reported the check for three of its intervals (it was
// unassigned, or the vantage is gone without being missing yet). votes
// are the states that count toward reachability (reachabilityVote).
func (e *Engine) statesByCheck(now time.Time, vantages map[string]results.Vantage, missing map[string]bool) (live, votes map[string][]*checkVantage) {
	live, votes = make(map[string][]*checkVantage, len(e.byCheck)), make(map[string][]*checkVantage, len(e.byCheck))
	for check, states := range e.byCheck {
		var fresh, voting []*checkVantage
		for _, s := range states {
			v, enrolled := vantages[s.vantage]
			if enrolled && v.Region != "" {
				s.region = v.Region
			}
			isFresh := !missing[s.vantage] && now.Sub(s.last) <= e.staleAfter(s)
			if isFresh {
				fresh = appendSized(fresh, s, len(states))
			}
			if e.reachabilityVote(s, isFresh, v, enrolled) {
				voting = appendSized(voting, s, len(states))
			}
		}
		if fresh != nil {
			live[check] = fresh
		}
		if voting != nil {
			votes[check] = voting
		}
	}
	return live, votes
}

// appendSized appends s to list, which it makes with room for n.
func appendSized(list []*checkVantage, s *checkVantage, n int) []*checkVantage {
	if list == nil {
		list = make([]*checkVantage, 0, n)
	}
	return append(list, s)
}

func endpointInfoOf(ep results.Endpoint) endpointInfo {
	p, err := ParsePolicy(ep.Alert)
	if err != nil {
		p, _ = ParsePolicy(nil) // registration validated it; keep defaults
	}
	info := endpointInfo{policy: p, target: ep.Target}
	for _, raw := range ep.Checks {
		var spec struct {
			Kind   string `json:"kind"`
			Expect struct {
				MinDaysLeft float64 `json:"min_days_left"`
			} `json:"expect"`
		}
		if json.Unmarshal(raw, &spec) == nil && spec.Expect.MinDaysLeft > info.minDaysLeft {
			info.minDaysLeft = spec.Expect.MinDaysLeft
		}
	}
	return info
}

// Changed returns the open alerts whose description (summary, regions,
// ASNs, vantages, layer and code, phase, severity, silence) changed at the
// last Evaluate without a transition: an outage that spread to another
// region, a silence added while it fires. They are to be recorded, so that
// the alert list and the dashboard say what the engine knows now, and
// never notified: one notification per transition.
func (e *Engine) Changed() []Alert { return e.changed }

// sameDescription reports whether a and b say the same to a reader.
func sameDescription(a, b Alert) bool {
	return a.Summary == b.Summary && a.Severity == b.Severity && a.Silenced == b.Silenced &&
		a.Layer == b.Layer && a.Code == b.Code && a.Phase == b.Phase &&
		slices.Equal(a.Regions, b.Regions) && slices.Equal(a.ASNs, b.ASNs) &&
		slices.Equal(a.Vantages, b.Vantages) && slices.Equal(a.NewASNs, b.NewASNs)
}

// reconcile moves alerts to match the active conditions.
func (e *Engine) reconcile(now time.Time, conds map[string]condition, silences []Silence) []Transition {
	var out []Transition
	e.changed = nil
	for _, key := range slices.Sorted(maps.Keys(conds)) {
		c := conds[key]
		a, ok := e.alerts[key]
		var before *Alert
		if ok {
			was := *a
			before = &was
		}
		if !ok {
			na := c.Alert
			na.State, na.StartsAt = StatePending, now
			a = &na
			e.alerts[key] = a
			if e.cfg.PendingFor > 0 {
				a.UpdatedAt = now
				a.Silenced = silencedBy(*a, silences, now)
				out = append(out, Transition{Alert: *a, From: "", To: StatePending, At: now})
			}
		} else {
			// Refresh what the alert says; keep its lifecycle.
			state, starts, fired, notified := a.State, a.StartsAt, a.FiredAt, a.Notified
			*a = c.Alert
			a.State, a.StartsAt, a.FiredAt, a.Notified = state, starts, fired, notified
		}
		a.UpdatedAt = now
		a.Silenced = silencedBy(*a, silences, now)
		switch {
		case a.State == StatePending && now.Sub(a.StartsAt) >= e.cfg.PendingFor:
			from := StatePending
			if e.cfg.PendingFor == 0 {
				from = ""
			}
			a.State, a.FiredAt = StateFiring, now
			a.Notified = a.Silenced == "" && a.Severity != SeverityInfo
			out = append(out, Transition{Alert: *a, From: from, To: StateFiring, At: now})
		case a.State == StateFiring && !a.Notified && a.Silenced == "" && a.Severity != SeverityInfo:
			// It fired muted and the silence (or maintenance window) is
			// over with the problem still on: page now, late, rather than
			// never.
			a.Notified = true
			out = append(out, Transition{Alert: *a, From: StateFiring, To: StateFiring, At: now})
		default:
			if before != nil && !sameDescription(*before, *a) {
				e.changed = append(e.changed, *a)
			}
		}
	}
	for _, key := range slices.Sorted(maps.Keys(e.alerts)) {
		if _, active := conds[key]; active {
			continue
		}
		a := e.alerts[key]
		if now.Sub(e.first) < e.cfg.WarmUp {
			continue
		}
		from := a.State
		a.State, a.ResolvedAt, a.UpdatedAt = StateResolved, now, now
		a.Silenced = silencedBy(*a, silences, now)
		a.Summary += handedOver(*a, conds)
		out = append(out, Transition{Alert: *a, From: from, To: StateResolved, At: now})
		delete(e.alerts, key)
	}
	return out
}

// handedOver says, for a reachability alert that resolves because the
// check's outage changed type rather than ended, which alert carries it
// on: a resolve of a regional alert reads as good news in a channel when
// the outage has in fact spread to a page.
func handedOver(a Alert, conds map[string]condition) string {
	var next Type
	switch a.Type {
	case TypeRegional:
		next = TypeOutage
	case TypeOutage:
		next = TypeRegional
	default:
		return ""
	}
	c, ok := conds[alertKey(next, a.Team, a.Check)]
	if !ok {
		return ""
	}
	if next == TypeOutage {
		return fmt.Sprintf("; not over: escalated to %s (%s)", c.Key, strings.Join(c.Regions, ", "))
	}
	return fmt.Sprintf("; not over: below quorum, still down in %s (%s)", strings.Join(c.Regions, ", "), c.Key)
}

// silencedBy returns the id of a silence that mutes a: one that matches it
// alone, or else the first of the vantage silences that together cover
// every vantage seeing it.
func silencedBy(a Alert, silences []Silence, now time.Time) string {
	byVantage := map[string]string{}
	for _, s := range silences {
		if s.Matches(a, now) {
			return s.ID
		}
		if _, ok := byVantage[s.Vantage]; s.Vantage != "" && !ok && s.covers(a, now) {
			byVantage[s.Vantage] = s.ID
		}
	}
	if len(a.Vantages) == 0 || slices.ContainsFunc(a.Vantages, func(v string) bool { return byVantage[v] == "" }) {
		return ""
	}
	return byVantage[a.Vantages[0]]
}

// Notifies reports whether a transition is sent to notifiers: an alert
// that starts firing and is not silenced (or whose silence ended while it
// fires), or one whose firing was notified and now resolves, silenced or
// not, so that the incident it opened is closed. Pending alerts that never
// fired, alerts muted from firing to resolve, and info alerts are recorded
// only.
func (t Transition) Notifies() bool {
	if t.Alert.Severity == SeverityInfo {
		return false
	}
	switch t.To {
	case StateFiring:
		return t.Alert.Silenced == ""
	case StateResolved:
		return t.From == StateFiring && t.Alert.Notified
	}
	return false
}

// kindLabel names a check kind the way an on-call engineer says it.
func kindLabel(kind, target string) string {
	switch kind {
	case "http":
		if strings.HasPrefix(target, "https://") {
			return "HTTPS"
		}
		return "HTTP"
	case "dns", "icmp", "tls", "tcp":
		return strings.ToUpper(kind)
	}
	return kind
}

func alertKey(t Type, parts ...string) string {
	return string(t) + "/" + strings.Join(parts, "/")
}

// where describes a set of states as "eu-central (AS24940), us-east (AS16509)".
func where(states []*checkVantage) (regions []string, asns []uint32, vantages []string, text string) {
	byRegion := map[string][]uint32{}
	for _, s := range states {
		vantages = append(vantages, s.vantage)
		if !slices.Contains(byRegion[s.region], s.asn) {
			byRegion[s.region] = append(byRegion[s.region], s.asn)
		}
		if s.asn != 0 && !slices.Contains(asns, s.asn) {
			asns = append(asns, s.asn)
		}
	}
	regions = slices.Sorted(maps.Keys(byRegion))
	slices.Sort(asns)
	slices.Sort(vantages)
	parts := make([]string, 0, len(regions))
	for _, r := range regions {
		var as []string
		for _, n := range byRegion[r] {
			if n != 0 {
				as = append(as, fmt.Sprintf("AS%d", n))
			}
		}
		if len(as) > 0 {
			parts = append(parts, fmt.Sprintf("%s (%s)", r, strings.Join(as, ", ")))
		} else {
			parts = append(parts, r)
		}
	}
	return regions, asns, vantages, strings.Join(parts, ", ")
}
