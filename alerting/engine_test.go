package alerting

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/picketnet/picket/results"
)

// The lab the scenarios run in: three regions of two vantages each, one
// endpoint with http, icmp and dns checks every 10 s, evaluated every 10 s
// of simulated time.
var (
	t0   = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	tick = 10 * time.Second
)

type vantageSpec struct {
	id, region string
	asn        uint32
}

var labVantages = []vantageSpec{
	{"eu-1", "eu-central", 64500}, {"eu-2", "eu-central", 64501},
	{"us-1", "us-east", 64510}, {"us-2", "us-east", 64511},
	{"ap-1", "ap-south", 64603}, {"ap-2", "ap-south", 64603},
}

// outcome is what one run of a check at one vantage yields.
type outcome struct {
	err     *results.Error
	ms      float64
	phases  results.Phases
	details any
	skip    bool // the vantage does not run the check this tick
}

type world func(now time.Time, v vantageSpec, kind string) outcome

func healthy(_ time.Time, _ vantageSpec, kind string) outcome {
	switch kind {
	case "http":
		return outcome{ms: 100, phases: results.Phases{DNSMS: 5, ConnectMS: 20, TLSMS: 30, TTFBMS: 40, TransferMS: 5}}
	case "icmp":
		return outcome{ms: 2000, details: results.ICMPDetails{Sent: 3, Received: 3, RTTMinMS: new(19.0), RTTAvgMS: new(20.0), RTTMaxMS: new(21.0)}}
	}
	return outcome{ms: 10}
}

type sim struct {
	t        *testing.T
	eng      *Engine
	now      time.Time
	endpoint results.Endpoint
	kinds    []string
	silent   map[string]bool // vantages whose prober died
	lastHB   map[string]time.Time
	silences []Silence
	got      []Transition
}

func newSim(t *testing.T, cfg Config, alert string, kinds ...string) *sim {
	if len(kinds) == 0 {
		kinds = []string{"http", "icmp", "dns"}
	}
	ep := results.Endpoint{Team: "payments", Name: "checkout-api", Target: "https://api.example.com/health", Regions: []string{"all"}}
	if alert != "" {
		ep.Alert = json.RawMessage(alert)
	}
	for _, k := range kinds {
		ep.Checks = append(ep.Checks, json.RawMessage(fmt.Sprintf(`{"kind":%q}`, k)))
	}
	return &sim{t: t, eng: NewEngine(cfg), now: t0, endpoint: ep, kinds: kinds,
		silent: map[string]bool{}, lastHB: map[string]time.Time{}}
}

func (s *sim) snapshot() Snapshot {
	var vs []results.Vantage
	for _, v := range labVantages {
		lat, lon := 50.0, 8.0
		vs = append(vs, results.Vantage{ID: v.id, Region: v.region, Provider: "lab", ASN: v.asn,
			LastHeartbeat: s.lastHB[v.id], HeartbeatEvery: tick, Lat: &lat, Lon: &lon})
	}
	return Snapshot{Endpoints: []results.Endpoint{s.endpoint}, Vantages: vs, Silences: s.silences}
}

// run advances the world by d, feeding every vantage's results and
// evaluating after each tick.
func (s *sim) run(d time.Duration, w world) {
	s.t.Helper()
	for end := s.now.Add(d); s.now.Before(end); {
		s.now = s.now.Add(tick)
		for i, v := range labVantages {
			if s.silent[v.id] {
				continue
			}
			s.lastHB[v.id] = s.now
			for _, kind := range s.kinds {
				o := w(s.now, v, kind)
				if o.skip {
					continue
				}
				r := results.Result{
					ID: fmt.Sprintf("%s-%s-%d", v.id, kind, s.now.Unix()), Team: "payments", Endpoint: "checkout-api",
					Check: "checkout-api/" + kind, Kind: kind, Vantage: v.id, Region: v.region, ASN: v.asn,
					Target: s.endpoint.Target, StartedAt: s.now.Add(time.Duration(i) * time.Millisecond),
					DurationMS: o.ms, Phases: o.phases, OK: o.err == nil, Error: o.err,
				}
				if o.details != nil {
					if err := r.SetDetails(o.details); err != nil {
						s.t.Fatal(err)
					}
				}
				s.eng.Observe(&r)
			}
		}
		s.got = append(s.got, s.eng.Evaluate(s.now, s.snapshot())...)
	}
}

// take returns and forgets the transitions so far.
func (s *sim) take() []Transition {
	out := s.got
	s.got = nil
	return out
}

func describe(ts []Transition) string {
	var b strings.Builder
	for _, t := range ts {
		fmt.Fprintf(&b, "\n  %s %s %s->%s [%s] %s", t.At.Sub(t0), t.Alert.Key, t.From, t.To, t.Alert.Severity, t.Alert.Summary)
	}
	return b.String()
}

func only(t *testing.T, ts []Transition, want ...string) {
	t.Helper()
	if len(ts) != len(want) {
		t.Fatalf("got %d transitions, want %d (%v):%s", len(ts), len(want), want, describe(ts))
	}
	for i, w := range want {
		if got := fmt.Sprintf("%s %s", ts[i].Alert.Key, ts[i].To); got != w {
			t.Fatalf("transition %d = %q, want %q:%s", i, got, w, describe(ts))
		}
	}
}

func fail(layer results.Layer, code results.Code) outcome {
	return outcome{err: &results.Error{Layer: layer, Code: code}, ms: 5000}
}

func TestHealthyIsQuiet(t *testing.T) {
	s := newSim(t, Config{}, "")
	s.run(30*time.Minute, healthy)
	only(t, s.take())
}

func TestFlappingAndLoneVantageDoNotAlert(t *testing.T) {
	s := newSim(t, Config{}, "")
	n := 0
	s.run(10*time.Minute, func(now time.Time, v vantageSpec, kind string) outcome {
		if kind == "http" && v.id == "eu-1" {
			n++
			if n%2 == 0 {
				return fail(results.LayerConnect, results.CodeReset)
			}
		}
		// One vantage of us-east is down for good: a minority of its region.
		if kind == "http" && v.id == "us-2" {
			return fail(results.LayerConnect, results.CodeTimeout)
		}
		return healthy(now, v, kind)
	})
	only(t, s.take())
}

func TestOneRegionDownIsRegionalNotPage(t *testing.T) {
	s := newSim(t, Config{}, "")
	s.run(time.Minute, healthy)
	apDown := func(now time.Time, v vantageSpec, kind string) outcome {
		if v.region == "ap-south" && kind == "http" {
			return fail(results.LayerConnect, results.CodeTimeout)
		}
		return healthy(now, v, kind)
	}
	s.run(2*time.Minute, apDown)
	ts := s.take()
	only(t, ts, "regional_reachability/payments/checkout-api/http firing")
	a := ts[0].Alert
	// fail_after=2 at 10 s intervals: down at the second failing result.
	if got := ts[0].At.Sub(t0); got != 80*time.Second {
		t.Errorf("fired at %s, want 1m20s", got)
	}
	if a.Severity != SeverityNotify || !ts[0].Notifies() {
		t.Errorf("severity %s, notifies %v; want a non-paging notification", a.Severity, ts[0].Notifies())
	}
	for _, want := range []string{"HTTPS connect/timeout from ap-south (AS64603)", "DNS and ICMP fine", "1 of 3 regions"} {
		if !strings.Contains(a.Summary, want) {
			t.Errorf("summary %q lacks %q", a.Summary, want)
		}
	}
	if fmt.Sprintf("%v %v %v %s/%s", a.Regions, a.ASNs, a.Vantages, a.Layer, a.Code) != "[ap-south] [64603] [ap-1 ap-2] connect/timeout" {
		t.Errorf("alert names %v %v %v %s/%s", a.Regions, a.ASNs, a.Vantages, a.Layer, a.Code)
	}
	s.run(2*time.Minute, healthy)
	ts = s.take()
	only(t, ts, "regional_reachability/payments/checkout-api/http resolved")
	if !ts[0].Notifies() || ts[0].At.Sub(t0) != 200*time.Second {
		t.Errorf("resolve at %s notifies=%v; want at 3m20s (two successes)", ts[0].At.Sub(t0), ts[0].Notifies())
	}
}

func TestAllRegionsDownPages(t *testing.T) {
	s := newSim(t, Config{}, `{"severity":"page","quorum":2}`)
	s.run(time.Minute, healthy)
	s.run(time.Minute, func(now time.Time, v vantageSpec, kind string) outcome {
		if kind == "dns" {
			return fail(results.LayerDNS, results.CodeServFail)
		}
		return healthy(now, v, kind)
	})
	ts := s.take()
	only(t, ts, "reachability/payments/checkout-api/dns firing")
	a := ts[0].Alert
	if a.Severity != SeverityPage || !strings.Contains(a.Summary, "DNS dns/servfail from all regions") {
		t.Errorf("alert %s: %s", a.Severity, a.Summary)
	}
	if len(a.Regions) != 3 || len(a.Vantages) != 6 {
		t.Errorf("regions %v vantages %v", a.Regions, a.Vantages)
	}
	s.run(time.Minute, healthy)
	only(t, s.take(), "reachability/payments/checkout-api/dns resolved")
}

func TestQuorumRegionsPageAndRegionalResolves(t *testing.T) {
	s := newSim(t, Config{}, "")
	s.run(time.Minute, healthy)
	// ap-south fails first, then us-east too: regional, then outage.
	s.run(time.Minute, func(now time.Time, v vantageSpec, kind string) outcome {
		if v.region == "ap-south" && kind == "http" {
			return fail(results.LayerHTTP, results.CodeStatus)
		}
		return healthy(now, v, kind)
	})
	s.run(time.Minute, func(now time.Time, v vantageSpec, kind string) outcome {
		if v.region != "eu-central" && kind == "http" {
			return fail(results.LayerHTTP, results.CodeStatus)
		}
		return healthy(now, v, kind)
	})
	only(t, s.take(),
		"regional_reachability/payments/checkout-api/http firing",
		"reachability/payments/checkout-api/http firing",
		"regional_reachability/payments/checkout-api/http resolved")
}

func TestMissingVantageIsNotAnOutage(t *testing.T) {
	s := newSim(t, Config{}, "")
	s.run(time.Minute, healthy)
	// Both ap-south probers die: their results stop along with heartbeats.
	s.silent["ap-1"], s.silent["ap-2"] = true, true
	s.run(2*time.Minute, healthy)
	ts := s.take()
	only(t, ts, "vantage_missing/ap-1 firing", "vantage_missing/ap-2 firing")
	if got := ts[0].At.Sub(t0); got != 100*time.Second {
		t.Errorf("missing at %s; want 1m40s (more than 3 intervals after the last heartbeat)", got)
	}
	// With ap-south gone, eu-central and us-east failing make quorum 2 of 2.
	s.run(time.Minute, func(now time.Time, v vantageSpec, kind string) outcome {
		if kind == "icmp" {
			return fail(results.LayerICMP, results.CodeLoss)
		}
		return healthy(now, v, kind)
	})
	ts = s.take()
	only(t, ts, "reachability/payments/checkout-api/icmp firing")
	if strings.Contains(ts[0].Alert.Summary, "ap-south") {
		t.Errorf("missing region counted: %s", ts[0].Alert.Summary)
	}
	delete(s.silent, "ap-1")
	delete(s.silent, "ap-2")
	s.run(time.Minute, healthy)
	only(t, s.take(), "vantage_missing/ap-1 resolved", "vantage_missing/ap-2 resolved",
		"reachability/payments/checkout-api/icmp resolved")
}

func slowHTTP(ttfb float64) world {
	return func(now time.Time, v vantageSpec, kind string) outcome {
		o := healthy(now, v, kind)
		if kind == "http" {
			// A little jitter so the baseline has a spread.
			j := float64(now.Unix()%5) + float64(len(v.id)%2)
			o.phases.TTFBMS = ttfb + j
			o.ms = 60 + ttfb + j
		}
		return o
	}
}

func TestLatencyAnomalyNamesPhase(t *testing.T) {
	s := newSim(t, Config{}, "")
	s.run(20*time.Minute, slowHTTP(40))
	only(t, s.take())
	start := s.now
	s.run(6*time.Minute, slowHTTP(190))
	ts := s.take()
	only(t, ts, "latency/payments/checkout-api/http firing")
	a := ts[0].Alert
	if a.Phase != "first byte" || !strings.Contains(a.Summary, "first byte grew +150 ms") {
		t.Errorf("phase %q, summary %q", a.Phase, a.Summary)
	}
	if len(a.Vantages) != 6 {
		t.Errorf("vantages %v", a.Vantages)
	}
	// Three consecutive 1-minute windows, judged when the next one starts.
	if d := ts[0].At.Sub(start); d < 3*time.Minute || d > 5*time.Minute {
		t.Errorf("fired %s after the rise", d)
	}
	s.run(3*time.Minute, slowHTTP(40))
	only(t, s.take(), "latency/payments/checkout-api/http resolved")
}

func TestLatencyOnOneVantageIsNotEnough(t *testing.T) {
	s := newSim(t, Config{}, "")
	s.run(20*time.Minute, slowHTTP(40))
	s.run(10*time.Minute, func(now time.Time, v vantageSpec, kind string) outcome {
		if v.id == "eu-1" {
			return slowHTTP(400)(now, v, kind)
		}
		return slowHTTP(40)(now, v, kind)
	})
	only(t, s.take())
}

func TestAbsoluteLatencyThreshold(t *testing.T) {
	s := newSim(t, Config{}, `{"latency_ms": 150}`)
	// No baseline needed: the absolute limit applies from the first windows.
	s.run(5*time.Minute, slowHTTP(120))
	ts := s.take()
	only(t, ts, "latency/payments/checkout-api/http firing")
	if ts[0].Alert.Threshold != 150 {
		t.Errorf("threshold %v", ts[0].Alert.Threshold)
	}
}

// traceWorld answers traceroutes along path with rtt from every vantage of
// region (others keep the usual path), once a minute.
func traceWorld(region string, path []uint32, rtt float64) world {
	usual := []uint32{64500, 0, 64520, 64999}
	return func(now time.Time, v vantageSpec, kind string) outcome {
		if now.Unix()%60 != 0 {
			return outcome{skip: true}
		}
		p, r := usual, 20.0+float64(now.Unix()/60%3)
		if v.region == region {
			p, r = path, rtt
		}
		var hops []results.Hop
		for i, a := range p {
			h := results.Hop{TTL: i + 1, ASN: a, Sent: 3}
			if a == 64666 {
				h.ASName = "DETOUR-NET"
			}
			hops = append(hops, h)
		}
		return outcome{ms: 3000, details: results.TracerouteDetails{Mode: "udp", Reached: true, Hops: hops, ASPath: p, RTTMS: r}}
	}
}

func TestPathDetour(t *testing.T) {
	s := newSim(t, Config{}, "", "traceroute")
	s.run(10*time.Minute, traceWorld("", nil, 0))
	// Silent hops moving around are wildcards, never a change.
	s.run(5*time.Minute, traceWorld("eu-central", []uint32{64500, 64520, 0, 0, 64999}, 21))
	only(t, s.take())
	s.run(3*time.Minute, traceWorld("eu-central", []uint32{64500, 64666, 64520, 64999}, 101))
	ts := s.take()
	only(t, ts, "path_detour/payments/checkout-api/traceroute/eu-1 firing", "path_detour/payments/checkout-api/traceroute/eu-2 firing")
	a := ts[0].Alert
	if len(a.NewASNs) != 1 || a.NewASNs[0] != (ASN{64666, "DETOUR-NET"}) || a.ExtraMS < 79 || a.ExtraMS > 81 {
		t.Errorf("new %v extra %.1f", a.NewASNs, a.ExtraMS)
	}
	if !strings.Contains(a.Summary, "AS64666 (DETOUR-NET)") || !strings.Contains(a.Summary, "+80 ms") {
		t.Errorf("summary %q", a.Summary)
	}
	// Two consecutive rounds: the second detour round, a minute after the first.
	if got := ts[0].At.Sub(t0); got != 17*time.Minute {
		t.Errorf("fired at %s", got)
	}
	s.run(2*time.Minute, traceWorld("", nil, 0))
	only(t, s.take(), "path_detour/payments/checkout-api/traceroute/eu-1 resolved", "path_detour/payments/checkout-api/traceroute/eu-2 resolved")
}

func TestPathChangeWithoutRTTIsInfo(t *testing.T) {
	s := newSim(t, Config{}, "", "traceroute")
	s.run(10*time.Minute, traceWorld("", nil, 0))
	s.run(time.Minute, traceWorld("us-east", []uint32{64500, 64777, 64999}, 21))
	ts := s.take()
	only(t, ts, "path_change/payments/checkout-api/traceroute/us-1 firing", "path_change/payments/checkout-api/traceroute/us-2 firing")
	for _, tr := range ts {
		if tr.Alert.Severity != SeverityInfo || tr.Notifies() {
			t.Errorf("%s: severity %s notifies %v", tr.Alert.Key, tr.Alert.Severity, tr.Notifies())
		}
	}
}

func TestSpeedOfLight(t *testing.T) {
	// Vantages sit at (50, 8); the target claims to be in Sydney, 16,500 km
	// away: 165 ms is the least RTT light in fibre allows.
	s := newSim(t, Config{}, `{"location":{"lat":-33.87,"lon":151.21}}`, "icmp")
	s.run(time.Minute, healthy) // icmp min RTT 19 ms
	ts := s.take()
	if len(ts) != 6 || ts[0].Alert.Type != TypeSpeedOfLight || ts[0].Alert.Threshold < 160 {
		t.Fatalf("want 6 speed-of-light alerts:%s", describe(ts))
	}
}

func TestCertExpiry(t *testing.T) {
	s := newSim(t, Config{}, "", "tls")
	days := 30.0
	w := func(now time.Time, v vantageSpec, kind string) outcome {
		return outcome{ms: 50, details: results.TLSDetails{NotAfter: now.Add(time.Duration(days*24) * time.Hour), DaysLeft: days, ChainVerified: true}}
	}
	s.run(time.Minute, w)
	only(t, s.take())
	days = 3
	s.run(time.Minute, w)
	ts := s.take()
	only(t, ts, "cert_expiry/payments/checkout-api/tls firing")
	if ts[0].Alert.Value != 3 || ts[0].Alert.Threshold != 14 {
		t.Errorf("value %v threshold %v", ts[0].Alert.Value, ts[0].Alert.Threshold)
	}
}

// A certificate below min_days_left fails the tls check with
// tls/cert_expiring: that is the cert_expiry alert, never reachability, and
// the check's latency is still watched, since its handshakes complete.
func TestCertExpiringIsNotAnOutage(t *testing.T) {
	s := newSim(t, Config{}, "", "tls")
	expiring := func(tlsMS float64) world {
		return func(now time.Time, v vantageSpec, kind string) outcome {
			j := float64(now.Unix()%5) + float64(len(v.id)%2)
			return outcome{ms: 20 + tlsMS + j, phases: results.Phases{DNSMS: 5, ConnectMS: 15, TLSMS: tlsMS + j},
				err:     &results.Error{Layer: results.LayerTLS, Code: results.CodeCertExpiring, Message: "expires in 10.0 days"},
				details: results.TLSDetails{NotAfter: now.Add(240 * time.Hour), DaysLeft: 10, ChainVerified: true}}
		}
	}
	s.run(20*time.Minute, expiring(30))
	only(t, s.take(), "cert_expiry/payments/checkout-api/tls firing")
	s.run(6*time.Minute, expiring(180))
	ts := s.take()
	only(t, ts, "latency/payments/checkout-api/tls firing")
	if ts[0].Alert.Phase != "TLS" {
		t.Errorf("latency blames phase %q, want TLS: %s", ts[0].Alert.Phase, ts[0].Alert.Summary)
	}
}

func TestSilenceMutesButRecords(t *testing.T) {
	s := newSim(t, Config{}, "")
	s.silences = []Silence{{ID: "s1", Team: "payments", Endpoint: "checkout-api", StartsAt: t0, EndsAt: t0.Add(time.Hour), Reason: "deploy"}}
	s.run(time.Minute, func(now time.Time, v vantageSpec, kind string) outcome {
		return fail(results.LayerConnect, results.CodeRefused)
	})
	ts := s.take()
	if len(ts) != 3 {
		t.Fatalf("want the three outages recorded:%s", describe(ts))
	}
	for _, tr := range ts {
		if tr.Alert.Silenced != "s1" || tr.Notifies() {
			t.Errorf("%s not muted", tr.Alert.Key)
		}
	}
}

func TestPendingForAndRestore(t *testing.T) {
	s := newSim(t, Config{PendingFor: 30 * time.Second}, "")
	s.run(time.Minute, healthy)
	down := func(now time.Time, v vantageSpec, kind string) outcome {
		if kind == "http" {
			return fail(results.LayerTLS, results.CodeCertExpired)
		}
		return healthy(now, v, kind)
	}
	s.run(time.Minute, down)
	ts := s.take()
	only(t, ts, "reachability/payments/checkout-api/http pending", "reachability/payments/checkout-api/http firing")
	if ts[0].Notifies() || !ts[1].Notifies() || ts[1].At.Sub(ts[0].At) != 30*time.Second {
		t.Errorf("pending notifies=%v firing notifies=%v after %s", ts[0].Notifies(), ts[1].Notifies(), ts[1].At.Sub(ts[0].At))
	}
	// Another replica takes over with the stored open alerts: it does not
	// fire again, and it resolves what the first one fired.
	next := NewEngine(Config{PendingFor: 30 * time.Second})
	next.Restore(s.eng.Alerts())
	s.eng = next
	s.run(time.Minute, down)
	only(t, s.take())
	s.run(time.Minute, healthy)
	only(t, s.take(), "reachability/payments/checkout-api/http resolved")
}

func TestParsePolicy(t *testing.T) {
	tests := []struct {
		in, err string
	}{
		{``, ""},
		{`{"severity":"page","quorum":2,"latency_ms":800}`, ""},
		{`{"severity":"loud"}`, "alert.severity"},
		{`{"quorum":-1}`, "alert.quorum"},
		{`{"latency_ms":-5}`, "alert.latency_ms"},
		{`{"location":{"lat":91,"lon":0}}`, "alert.location"},
		{`{"severity":3}`, "alert"},
	}
	for _, tt := range tests {
		p, err := ParsePolicy(json.RawMessage(tt.in))
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%s: %v", tt.in, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%s: error %v, want one naming %s", tt.in, err, tt.err)
		case tt.err == "" && (p.Severity == "" || p.Quorum == 0):
			t.Errorf("%s: defaults not applied: %+v", tt.in, p)
		}
	}
}

// httpDown fails the http check from the vantages of regions; everything
// else is healthy.
func httpDown(regions ...string) world {
	return func(now time.Time, v vantageSpec, kind string) outcome {
		if kind == "http" && slices.Contains(regions, v.region) {
			return fail(results.LayerConnect, results.CodeTimeout)
		}
		return healthy(now, v, kind)
	}
}

// A prober joining, leaving or coming back changes which regions count
// toward the quorum. That alone must never resolve, downgrade or escalate
// an open reachability alert: only a settled verdict of a vantage that
// reports moves it (docs/alerting.md, "Who counts").
func TestReachabilityMembershipChangesDoNotFlap(t *testing.T) {
	const (
		outage   = "reachability/payments/checkout-api/http"
		regional = "regional_reachability/payments/checkout-api/http"
	)
	all := []string{"eu-central", "us-east", "ap-south"}
	us, ap, eu := []string{"us-1", "us-2"}, []string{"ap-1", "ap-2"}, []string{"eu-1", "eu-2"}
	cat := func(xs ...[]string) []string { return slices.Concat(xs...) }
	type phase struct {
		d      time.Duration
		silent []string // vantages whose prober is stopped (never started, or gone)
		w      world
		want   []string
		check  func(t *testing.T, s *sim, fired time.Time)
	}
	// summaryHas checks the open alert key: it is the one that fired at
	// fired (same incident, same start) and its summary says want.
	summaryHas := func(key string, want ...string) func(*testing.T, *sim, time.Time) {
		return func(t *testing.T, s *sim, fired time.Time) {
			t.Helper()
			for _, a := range s.eng.Alerts() {
				if a.Key != key {
					continue
				}
				if !a.StartsAt.Equal(fired) {
					t.Errorf("%s starts at %s, want %s: the incident restarted", key, a.StartsAt.Sub(t0), fired.Sub(t0))
				}
				for _, w := range want {
					if !strings.Contains(a.Summary, w) {
						t.Errorf("summary %q lacks %q", a.Summary, w)
					}
				}
				return
			}
			t.Errorf("%s not open; open: %v", key, s.eng.Alerts())
		}
	}
	missing := func(state string, ids ...string) []string {
		var out []string
		for _, id := range ids {
			out = append(out, "vantage_missing/"+id+" "+state)
		}
		return out
	}
	tests := []struct {
		name   string
		phases []phase
	}{{
		// The reviewer's case: the only region pages; a second prober
		// starts and fails too.
		name: "a joining region that sees it down keeps the page",
		phases: []phase{
			{d: time.Minute, silent: cat(us, ap), w: healthy},
			{d: time.Minute, silent: cat(us, ap), w: httpDown(all...), want: []string{outage + " firing"}},
			{d: 2 * time.Minute, silent: ap, w: httpDown(all...),
				check: summaryHas(outage, "from all regions (eu-central (AS64500, AS64501), us-east (AS64510, AS64511))")},
		},
	}, {
		name: "a joining region that sees it up counts once it settles",
		phases: []phase{
			{d: time.Minute, silent: cat(us, ap), w: healthy},
			{d: time.Minute, silent: cat(us, ap), w: httpDown(all...), want: []string{outage + " firing"}},
			// The first result of us-east is no verdict yet.
			{d: tick, silent: ap, w: httpDown("eu-central"), check: summaryHas(outage)},
			// The second is: 1 of 2 regions is below the quorum.
			{d: tick, silent: ap, w: httpDown("eu-central"), want: []string{regional + " firing", outage + " resolved"}},
		},
	}, {
		name: "a region that saw it down going silent keeps the page",
		phases: []phase{
			{d: time.Minute, w: healthy},
			{d: time.Minute, w: httpDown("eu-central", "us-east"), want: []string{outage + " firing"}},
			{d: 2 * time.Minute, silent: us, w: httpDown("eu-central", "us-east"), want: missing("firing", us...),
				check: summaryHas(outage, "last verdict kept for us-1, us-2")},
			// Back and still down: its fresh verdict takes over.
			{d: 2 * time.Minute, w: httpDown("eu-central", "us-east"), want: missing("resolved", us...),
				check: summaryHas(outage, "from eu-central (AS64500, AS64501), us-east (AS64510, AS64511); DNS and ICMP fine")},
			{d: time.Minute, w: healthy, want: []string{outage + " resolved"}},
		},
	}, {
		name: "every vantage going silent keeps the page",
		phases: []phase{
			{d: time.Minute, w: healthy},
			{d: time.Minute, w: httpDown(all...), want: []string{outage + " firing"}},
			{d: 2 * time.Minute, silent: cat(eu, us, ap), w: httpDown(all...), want: missing("firing", "ap-1", "ap-2", "eu-1", "eu-2", "us-1", "us-2"),
				check: summaryHas(outage, "from all regions")},
			{d: time.Minute, w: httpDown(all...), want: missing("resolved", "ap-1", "ap-2", "eu-1", "eu-2", "us-1", "us-2")},
		},
	}, {
		// With eu-central and us-east gone, ap-south alone would be every
		// region there is: the quorum would drop to 1 and page.
		name: "healthy regions going silent do not escalate a regional alert",
		phases: []phase{
			{d: time.Minute, w: healthy},
			{d: time.Minute, w: httpDown("ap-south"), want: []string{regional + " firing"}},
			{d: 2 * time.Minute, silent: cat(eu, us), w: httpDown("ap-south"), want: missing("firing", "eu-1", "eu-2", "us-1", "us-2"),
				check: summaryHas(regional, "(1 of 3 regions; quorum 2)")},
			{d: time.Minute, w: httpDown("ap-south"), want: missing("resolved", "eu-1", "eu-2", "us-1", "us-2")},
		},
	}, {
		name: "kept verdicts give way to reporting vantages",
		phases: []phase{
			{d: time.Minute, w: healthy},
			{d: time.Minute, w: httpDown("eu-central", "us-east"), want: []string{outage + " firing"}},
			{d: time.Minute, silent: us, w: httpDown("eu-central", "us-east"), want: missing("firing", us...)},
			// eu-central recovers; us-east's last word was down, but
			// every vantage that reports sees it up.
			{d: time.Minute, silent: us, w: healthy, want: []string{outage + " resolved"}},
		},
	}, {
		// us-east never runs; ap-south dies healthy, before the outage:
		// eu-central alone is every region and pages. ap-south coming
		// back with its old "up" must not downgrade the page before its
		// fresh results settle.
		name: "a prober back from a silence settles afresh",
		phases: []phase{
			{d: time.Minute, silent: us, w: healthy},
			{d: time.Minute, silent: cat(us, ap), w: healthy, want: missing("firing", ap...)},
			{d: time.Minute, silent: cat(us, ap), w: httpDown(all...), want: []string{outage + " firing"}},
			{d: 2 * time.Minute, silent: us, w: httpDown(all...), want: missing("resolved", ap...),
				check: summaryHas(outage, "from all regions (ap-south (AS64603), eu-central (AS64500, AS64501))")},
		},
	}, {
		// us-east's probers live on but no longer run the check (the
		// endpoint's regions changed): that is no silence to wait out.
		name: "a region whose vantages stop running the check stops counting",
		phases: []phase{
			{d: time.Minute, w: healthy},
			{d: time.Minute, w: httpDown("eu-central", "us-east"), want: []string{outage + " firing"}},
			{d: time.Minute, w: func(now time.Time, v vantageSpec, kind string) outcome {
				if kind == "http" && v.region == "us-east" {
					return outcome{skip: true}
				}
				return httpDown("eu-central")(now, v, kind)
			}, want: []string{regional + " firing", outage + " resolved"}},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSim(t, Config{}, "")
			var fired time.Time
			for i, p := range tt.phases {
				s.silent = map[string]bool{}
				for _, id := range p.silent {
					s.silent[id] = true
				}
				s.run(p.d, p.w)
				ts := s.take()
				for _, tr := range ts {
					if tr.To == StateFiring && (tr.Alert.Type == TypeOutage || tr.Alert.Type == TypeRegional) {
						fired = tr.Alert.StartsAt
					}
				}
				t.Logf("phase %d:%s", i, describe(ts))
				only(t, ts, p.want...)
				if p.check != nil {
					p.check(t, s, fired)
				}
			}
		})
	}
}

// The summary of a reachability alert says how the endpoint's other check
// kinds fare by their latest results: a kind whose last run failed is
// never "fine", even before fail_after confirms it.
func TestReachabilitySummaryOtherKinds(t *testing.T) {
	tests := []struct {
		name string
		dns  []bool // whether dns fails, tick by tick, while http fails
		want string
	}{
		{"all fine", []bool{false, false}, "; DNS and ICMP fine"},
		{"one dns failure", []bool{false, true}, "; ICMP fine; DNS also failing (unconfirmed)"},
		{"dns down", []bool{true, true}, "; ICMP fine; DNS also failing"},
		{"dns recovering", []bool{true, true, false}, "; ICMP fine; DNS recovering"},
		{"dns back up", []bool{true, true, false, false}, "; DNS and ICMP fine"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSim(t, Config{}, "")
			s.run(time.Minute, healthy)
			for _, dnsFails := range tt.dns {
				s.run(tick, func(now time.Time, v vantageSpec, kind string) outcome {
					switch {
					case kind == "http":
						return fail(results.LayerDNS, results.CodeNXDomain)
					case kind == "dns" && dnsFails:
						return fail(results.LayerDNS, results.CodeNXDomain)
					}
					return healthy(now, v, kind)
				})
			}
			var summary string
			for _, a := range s.eng.Alerts() {
				if a.Key == "reachability/payments/checkout-api/http" {
					summary = a.Summary
				}
			}
			want := "checkout-api: HTTPS dns/nxdomain from all regions (ap-south (AS64603), eu-central (AS64500, AS64501), us-east (AS64510, AS64511))" + tt.want
			if summary != want {
				t.Errorf("summary\n %q\nwant\n %q", summary, want)
			}
		})
	}
}

// A vantage that comes back from a silence settles afresh, but a long
// interval is no silence: a check run every 5 minutes still goes down
// after fail_after runs, and a check whose interval was raised settles
// again once and then keeps its verdict.
func TestReachabilityLongIntervals(t *testing.T) {
	every := func(d time.Duration, down func(now time.Time) bool) world {
		return func(now time.Time, v vantageSpec, kind string) outcome {
			if now.Sub(t0)%d != 0 {
				return outcome{skip: true}
			}
			if down(now) {
				return fail(results.LayerConnect, results.CodeRefused)
			}
			return outcome{ms: 10}
		}
	}
	after := func(at time.Duration) func(time.Time) bool {
		return func(now time.Time) bool { return now.Sub(t0) >= at }
	}
	tests := []struct {
		name  string
		w     world
		fired time.Duration
	}{
		{"every 5 minutes", every(5*time.Minute, after(30*time.Minute)), 35 * time.Minute},
		{"every 10 s, then every 5 minutes", func(now time.Time, v vantageSpec, kind string) outcome {
			if now.Sub(t0) < 10*time.Minute {
				return every(tick, after(time.Hour))(now, v, kind)
			}
			return every(5*time.Minute, after(30*time.Minute))(now, v, kind)
		}, 35 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSim(t, Config{}, "", "tcp")
			s.run(time.Hour, tt.w)
			ts := s.take()
			only(t, ts, "reachability/payments/checkout-api/tcp firing")
			if got := ts[0].At.Sub(t0); got != tt.fired {
				t.Errorf("fired at %s, want %s (the second failing run)", got, tt.fired)
			}
		})
	}
}

// After an outage of every collector all heartbeats are old: the first
// evaluations after the restart must not call every vantage missing
// while the probers, backing off, come back. A vantage that does not come
// back is missing once the evaluator has waited for it, and one already
// missing stays so across a takeover.
func TestCollectorOutageIsNotMissingVantages(t *testing.T) {
	start := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	down := start.Add(-10 * time.Minute) // the collectors' outage began
	vantage := func(id string, last time.Time) results.Vantage {
		return results.Vantage{ID: id, Region: "eu-central", Provider: "hetzner", LastHeartbeat: last, HeartbeatEvery: 10 * time.Second}
	}
	tests := []struct {
		name     string
		restored []Alert
		// heard is when the vantage's first heartbeat after the restart
		// arrives, relative to start; 0: never.
		heard time.Duration
		// firesAt is when vantage_missing/v1 starts firing, evaluating
		// every 5 s for 90 s; -1: never.
		firesAt time.Duration
	}{
		{name: "back within its backoff", heard: 40 * time.Second, firesAt: -1},
		{name: "never back", firesAt: 65 * time.Second},
		{name: "missing before the outage", restored: []Alert{{Key: alertKey(TypeVantageMissing, "v1"), Type: TypeVantageMissing, State: StateFiring, Vantages: []string{"v1"}}},
			heard: 0, firesAt: -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := NewEngine(Config{})
			e.Restore(tc.restored)
			var fired time.Duration = -1
			for at := time.Duration(0); at <= 90*time.Second; at += 5 * time.Second {
				last := down
				if tc.heard > 0 && at >= tc.heard {
					last = start.Add(at.Truncate(10 * time.Second)) // every 10 s from then on
				}
				for _, tr := range e.Evaluate(start.Add(at), Snapshot{Vantages: []results.Vantage{vantage("v1", last)}}) {
					switch {
					case tr.Alert.Type != TypeVantageMissing:
					case tr.To == StateFiring && tr.From != StateFiring && fired < 0:
						fired = at
					case tr.To == StateResolved:
						t.Errorf("at %s: vantage_missing resolved", at)
					}
				}
			}
			if fired != tc.firesAt {
				t.Errorf("vantage_missing fired at %s, want %s (-1ns: never)", fired, tc.firesAt)
			}
			if len(tc.restored) > 0 && len(e.Alerts()) != 1 {
				t.Errorf("the restored alert did not stay open: %+v", e.Alerts())
			}
		})
	}
}

// The states of a check are grouped in vantage order whatever order their
// first results came in: conditions list vantages in a stable order.
func TestStatesByCheckInVantageOrder(t *testing.T) {
	e := NewEngine(Config{})
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	// Three rounds each, so that every state is settled and votes.
	for round := range 3 {
		for _, v := range []string{"v-c", "v-a", "v-d", "v-b"} {
			for _, check := range []string{"api/http", "web/http"} {
				r := results.Result{ID: fmt.Sprint(check, v, round), Team: "t", Endpoint: check[:3], Check: check, Kind: "http",
					Vantage: v, StartedAt: now.Add(time.Duration(round-3) * time.Second), OK: true, DurationMS: 10}
				e.Observe(&r)
			}
		}
	}
	live, votes := e.statesByCheck(now, map[string]results.Vantage{}, map[string]bool{"v-d": true})
	for _, tc := range []struct {
		name   string
		groups map[string][]*checkVantage
		want   []string
	}{
		{"live", live, []string{"v-a", "v-b", "v-c"}}, // v-d is missing
		{"votes", votes, []string{"v-a", "v-b", "v-c"}},
	} {
		for _, check := range []string{"api/http", "web/http"} {
			var got []string
			for _, s := range tc.groups[check] {
				got = append(got, s.vantage)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("%s of %s: %v, want %v", tc.name, check, got, tc.want)
			}
		}
	}
}
