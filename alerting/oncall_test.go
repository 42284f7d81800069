package alerting

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/picketnet/picket/alerting/notify"
	"github.com/picketnet/picket/internal/syncbuf"
	"github.com/picketnet/picket/results"
)

// These tests hold what the person on call relies on, found by running a
// collector with three probers against a target that was broken on
// purpose.

// findRecords returns the JSON log records in logs whose msg is msg.
func findRecords(t *testing.T, logs *syncbuf.Buffer, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range logs.Lines("") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// A notifier that fails is retried, and every failed attempt is logged
// with the notifier, the alert, the attempt and the error, as is the
// delivery that finally succeeds: before, a PagerDuty answering 500 or a
// Slack webhook timing out left no line in the collector's log until the
// notification was given up hours later, so nobody could tell that the
// page was late.
func TestServiceLogsRetriedDeliveries(t *testing.T) {
	t.Parallel()
	l, st, h := newLab(t), sqliteDB(t)(t), newHook(t)
	l.register(st)
	var logs syncbuf.Buffer
	svc := NewService(st, Config{}, []Route{{Name: "oncall", Sender: notify.Webhook{URL: h.URL}}},
		Options{Now: l.Now, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	h.answer(http.StatusOK, http.StatusInternalServerError, http.StatusServiceUnavailable)

	fired := fireOutage(l, st, svc)
	retries := findRecords(t, &logs, "notification failed; will retry")
	if len(retries) != 1 {
		t.Fatalf("%d retry lines after the first failed attempt, want 1", len(retries))
	}
	r := retries[0]
	if r["level"] != "WARN" || r["notifier"] != "oncall" || r["alert"] != svcKey || r["attempts"] != float64(1) ||
		!strings.Contains(r["err"].(string), "500 Internal Server Error") {
		t.Errorf("retry line %v; want WARN, notifier oncall, alert %s, attempts 1, the 500 in err", r, svcKey)
	}
	if next, err := time.Parse(time.RFC3339Nano, r["next_attempt"].(string)); err != nil ||
		next.Before(fired.Add(4*time.Second)) || next.After(fired.Add(6*time.Second)) {
		t.Errorf("retry line next_attempt %v (%v), want 4-6 s after %v", r["next_attempt"], err, fired)
	}

	for i := 0; i < 6 && len(h.delivered()) == 0; i++ {
		l.steps(1, st, svc)
	}
	if got := h.statuses(); !slices.Equal(got, []int{500, 503, 200}) {
		t.Fatalf("answers %v, want 500, 503, then 200", got)
	}
	retries = findRecords(t, &logs, "notification failed; will retry")
	if len(retries) != 2 || retries[1]["attempts"] != float64(2) || !strings.Contains(retries[1]["err"].(string), "503") {
		t.Errorf("retry lines %v; want two, the second of attempt 2 with the 503", retries)
	}
	done := findRecords(t, &logs, "notification delivered after retries")
	if len(done) != 1 || done[0]["level"] != "INFO" || done[0]["notifier"] != "oncall" || done[0]["alert"] != svcKey ||
		done[0]["attempts"] != float64(3) {
		t.Errorf("delivery lines %v; want one INFO of notifier oncall, alert %s, attempts 3", done, svcKey)
	}
	if given := findRecords(t, &logs, "notification given up"); len(given) != 0 {
		t.Errorf("given-up lines %v for a notification that was delivered", given)
	}
}

// apVantage is a third region for the lab's two.
var apVantage = results.Vantage{ID: "ap-1", Region: "ap-south", Provider: "vultr", ASN: 64520}

// roundIn advances the lab's clock by one interval; every vantage of vs
// heartbeats and posts its result for the lab's endpoints, down when its
// region is in down.
func roundIn(l *svcLab, st labStore, vs []results.Vantage, down ...string) {
	l.t.Helper()
	l.roundOf(st, vs, func(v results.Vantage) *results.Error {
		if !slices.Contains(down, v.Region) {
			return nil
		}
		return &results.Error{Layer: results.LayerConnect, Code: results.CodeTimeout, Message: "dial tcp: i/o timeout"}
	})
}

// An open alert says what the evaluator knows now, in the store that
// `picket alerts list`, GET /v1/alerts and the dashboard read, without
// paging again: before, the stored alert kept the regions, vantages and
// summary of the moment it fired, so an outage that spread from two
// regions to all three was still listed as seen from two, and a silence
// added while it fired was not shown.
func TestServiceOpenAlertFollowsTheOutage(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, db database) {
		ctx := context.Background()
		l, st, h := newLab(t), db(t), newHook(t)
		l.register(st)
		if err := st.CreateVantage(ctx, results.Vantage{ID: apVantage.ID, Region: apVantage.Region,
			Provider: apVantage.Provider, ASN: apVantage.ASN, TokenHash: []byte("token-of-ap-1")}); err != nil {
			t.Fatal(err)
		}
		vs := append(slices.Clone(svcVantages), apVantage)
		svc := newTestService(t, st, l, h.URL, nil)
		step := func(down ...string) {
			t.Helper()
			roundIn(l, st, vs, down...)
			if err := svc.Tick(ctx); err != nil {
				t.Fatal(err)
			}
		}
		stored := func() Alert {
			t.Helper()
			as, err := svc.Alerts(ctx, "payments", time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range as {
				if a.Key == svcKey {
					return a
				}
			}
			t.Fatalf("no stored alert %s in %+v", svcKey, as)
			return Alert{}
		}

		for range 3 {
			step()
		}
		step("eu-central", "us-east")
		step("eu-central", "us-east")
		fired := l.Now()
		if got := h.delivered(); len(got) != 1 || got[0].DedupKey != svcKey || !slices.Equal(got[0].Regions, []string{"eu-central", "us-east"}) {
			t.Fatalf("notifications when two of three regions went down: %+v; want the page from eu-central, us-east", got)
		}

		// ap-south goes down too: the same incident, now seen everywhere.
		step("ap-south", "eu-central", "us-east")
		step("ap-south", "eu-central", "us-east")
		spread := l.Now()
		a := stored()
		wantSummary := "checkout-api: HTTPS connect/timeout from all regions (ap-south (AS64520), eu-central (AS64500), us-east (AS64510))"
		if a.State != StateFiring || !a.StartsAt.Equal(fired) || !a.FiredAt.Equal(fired) || !a.UpdatedAt.Equal(spread) ||
			a.Summary != wantSummary || !slices.Equal(a.Regions, []string{"ap-south", "eu-central", "us-east"}) ||
			!slices.Equal(a.ASNs, []uint32{64500, 64510, 64520}) || !slices.Equal(a.Vantages, []string{"ap-1", "eu-1", "us-1"}) ||
			a.Layer != "connect" || a.Code != "timeout" || !a.Notified || a.Silenced != "" {
			t.Errorf("stored alert after the outage spread:\n%+v\nwant firing since %v, updated %v, %q, three regions, ASNs and vantages",
				a, fired, spread, wantSummary)
		}
		if n := len(h.all()); n != 1 {
			t.Errorf("%d notifications after the outage spread, want still the one page", n)
		}

		// A silence added while it fires shows on the alert, and mutes
		// nothing that was sent: the resolve still goes out.
		sil, err := svc.AddSilence(ctx, "payments", Silence{Endpoint: "checkout-api", EndsAt: l.Now().Add(time.Hour), Reason: "working on it"})
		if err != nil {
			t.Fatal(err)
		}
		step("ap-south", "eu-central", "us-east")
		if a := stored(); a.Silenced != sil.ID || a.State != StateFiring || !a.StartsAt.Equal(fired) {
			t.Errorf("stored alert after the silence: silenced %q, state %s, starts %v; want %s, firing, %v",
				a.Silenced, a.State, a.StartsAt, sil.ID, fired)
		}
		step("ap-south", "eu-central", "us-east")
		if n := len(h.all()); n != 1 {
			t.Errorf("%d notifications after the silence, want still the one page", n)
		}

		step()
		step()
		got := h.delivered()
		if len(got) != 2 || got[1].Status != "resolved" || got[1].DedupKey != svcKey || got[1].Summary != wantSummary {
			t.Fatalf("notifications after recovery: %+v; want the page, then its resolve saying %q", got, wantSummary)
		}
		if a := stored(); a.State != StateResolved || !a.ResolvedAt.Equal(l.Now()) {
			t.Errorf("stored alert after recovery: %s resolved at %v, want resolved at %v", a.State, a.ResolvedAt, l.Now())
		}
	})
}

// tailSlowHTTP is slowHTTP(40) but for one run a minute at every
// vantage, which takes ttfb: the median is as before, the tail is slow.
func tailSlowHTTP(ttfb float64) world {
	return func(now time.Time, v vantageSpec, kind string) outcome {
		o := slowHTTP(40)(now, v, kind)
		if kind == "http" && now.Unix()%60 == 0 {
			o.phases.TTFBMS = ttfb
			o.ms = 60 + ttfb
		}
		return o
	}
}

// A latency alert raised by the p95 says so, with the p95's numbers:
// before, it always quoted the p50, so a page for a slow tail read
// "p50 102 ms vs baseline 102 ms (limit 152 ms)", a value under its own
// limit, and looked like a false alarm to whoever got it.
func TestLatencyAnomalyOfTheTailQuotesP95(t *testing.T) {
	s := newSim(t, Config{}, "")
	s.run(20*time.Minute, slowHTTP(40))
	only(t, s.take())
	s.run(6*time.Minute, tailSlowHTTP(400))
	ts := s.take()
	only(t, ts, "latency/payments/checkout-api/http firing")
	a := ts[0].Alert
	if !strings.Contains(a.Summary, "latency p95 460 ms vs baseline 10") || strings.Contains(a.Summary, "p50") {
		t.Errorf("summary %q; want the p95 of 460 ms against its baseline", a.Summary)
	}
	if a.Value != 460 || a.Threshold < 150 || a.Threshold > 160 {
		t.Errorf("value %v threshold %v; want the p95, 460, over a limit of about 154", a.Value, a.Threshold)
	}

	// A rise of the median is still quoted as the p50.
	s = newSim(t, Config{}, "")
	s.run(20*time.Minute, slowHTTP(40))
	s.run(6*time.Minute, slowHTTP(190))
	ts = s.take()
	only(t, ts, "latency/payments/checkout-api/http firing")
	if a := ts[0].Alert; !strings.Contains(a.Summary, "latency p50 25") || a.Value < 250 || a.Value > 256 {
		t.Errorf("summary %q value %v; want the p50 of about 252 ms", a.Summary, a.Value)
	}
}

// A silence of one vantage mutes what that vantage alone sees (a flaky
// prober's own alerts), never an outage that other vantages see too:
// before, `picket alerts silence --vantage ap-1` muted the page of an
// outage seen from every region, because ap-1 was among its vantages.
func TestVantageSilenceMutesOnlyWhatItsVantageAloneSees(t *testing.T) {
	const (
		outage   = "reachability/payments/checkout-api/http"
		regional = "regional_reachability/payments/checkout-api/http"
	)
	silence := func(id, vantage string) Silence {
		return Silence{ID: id, Team: "payments", Vantage: vantage, StartsAt: t0, EndsAt: t0.Add(24 * time.Hour), Reason: "flaky prober"}
	}
	tests := []struct {
		name     string
		silences []Silence
		w        world
		key      string
		muted    string // the silence that mutes it, "" when it notifies
	}{
		{"an outage seen everywhere pages despite one vantage's silence",
			[]Silence{silence("s-ap1", "ap-1")}, httpDown("eu-central", "us-east", "ap-south"), outage, ""},
		{"an outage seen everywhere pages despite a whole region's silences",
			[]Silence{silence("s-ap1", "ap-1"), silence("s-ap2", "ap-2")}, httpDown("eu-central", "us-east", "ap-south"), outage, ""},
		{"a region's loss seen from a silenced and an unsilenced vantage notifies",
			[]Silence{silence("s-ap1", "ap-1")}, httpDown("ap-south"), regional, ""},
		{"a region's loss seen only from silenced vantages is muted",
			[]Silence{silence("s-ap1", "ap-1"), silence("s-ap2", "ap-2")}, httpDown("ap-south"), regional, "s-ap1"},
		{"a silence of the endpoint still mutes everything",
			[]Silence{{ID: "s-all", Team: "payments", Endpoint: "checkout-api", StartsAt: t0, EndsAt: t0.Add(time.Hour), Reason: "deploy"}},
			httpDown("eu-central", "us-east", "ap-south"), outage, "s-all"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSim(t, Config{}, "")
			s.silences = tt.silences
			s.run(time.Minute, healthy)
			s.run(time.Minute, tt.w)
			ts := s.take()
			var fired []Transition
			for _, tr := range ts {
				if tr.To == StateFiring {
					fired = append(fired, tr)
				}
			}
			if len(fired) != 1 || fired[0].Alert.Key != tt.key {
				t.Fatalf("fired:%s\nwant %s only", describe(fired), tt.key)
			}
			a := fired[0]
			if a.Alert.Silenced != tt.muted || a.Notifies() != (tt.muted == "") {
				t.Errorf("%s seen from %v: silenced by %q, notifies %v; want silenced by %q", a.Alert.Key,
					a.Alert.Vantages, a.Alert.Silenced, a.Notifies(), tt.muted)
			}
		})
	}
}

// An outage that ends region by region ends with its page's resolve, not
// with a regional alert that fires for the last region to recover and
// resolves one run later: before, every recovery from an outage seen in
// several regions sent that pair to the channel, because the region whose
// probers run last in the interval was still down, though recovering,
// when the others had recovered. A region still failing after the others
// recovered is a regional alert, as ever.
func TestOutageEndingRegionByRegionSendsNoRegionalAlert(t *testing.T) {
	const (
		outage   = "reachability/payments/checkout-api/http"
		regional = "regional_reachability/payments/checkout-api/http"
	)
	all := []string{"eu-central", "us-east", "ap-south"}
	start := func(t *testing.T) *sim {
		s := newSim(t, Config{}, "")
		s.run(time.Minute, healthy)
		s.run(time.Minute, httpDown(all...))
		only(t, s.take(), outage+" firing")
		return s
	}

	t.Run("the last region recovering one run late", func(t *testing.T) {
		s := start(t)
		// eu-central and us-east pass once; ap-south still fails.
		s.run(tick, httpDown("ap-south"))
		only(t, s.take())
		// eu-central and us-east are up (recover_after 2); ap-south has
		// passed once, and is still down by its verdict.
		s.run(tick, healthy)
		only(t, s.take(), outage+" resolved")
		s.run(time.Minute, healthy)
		only(t, s.take())
	})

	t.Run("a region still failing after the others recovered", func(t *testing.T) {
		s := start(t)
		s.run(2*tick, httpDown("ap-south"))
		ts := s.take()
		only(t, ts, regional+" firing", outage+" resolved")
		s.run(time.Minute, healthy)
		only(t, s.take(), regional+" resolved")
	})
}

// An alert whose situation does not change is not rewritten: a missing
// vantage's summary names the time of its last heartbeat, not a duration
// that grows at every evaluation and would rewrite the stored alert every
// evaluate_every for as long as the prober is dead.
func TestSteadyAlertIsNotRewritten(t *testing.T) {
	s := newSim(t, Config{}, "")
	s.run(time.Minute, healthy)
	last := s.now
	s.silent["ap-1"] = true
	s.run(time.Minute, healthy)
	ts := s.take()
	only(t, ts, "vantage_missing/ap-1 firing")
	want := "vantage ap-1 (ap-south, lab) missing: no heartbeat since " + last.Format("2006-01-02 15:04:05Z") + "; left out of quorums"
	if got := ts[0].Alert.Summary; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
	for range 3 {
		s.run(tick, healthy)
		if ch := s.eng.Changed(); len(ch) != 0 {
			t.Errorf("changed at +%s with nothing new: %+v", s.now.Sub(t0), ch)
		}
	}
	// Another prober dying is an alert of its own, not a change of this one.
	s.silent["ap-2"] = true
	s.run(time.Minute, healthy)
	only(t, s.take(), "vantage_missing/ap-2 firing")
}

// Every notification links to the dashboard page where the alert can be
// looked into, also when dashboard_url ends in a slash: before, a missing
// vantage's notification had no link at all, and "https://picket.example/"
// gave links with "//endpoints/".
func TestNotificationLinksToTheDashboard(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, st, h := newLab(t), sqliteDB(t)(t), newHook(t)
	l.register(st)
	svc := newTestService(t, st, l, h.URL, nil)
	svc.DashboardURL = "https://picket.example/"
	step := func(vs ...results.Vantage) {
		t.Helper()
		roundIn(l, st, vs)
		if err := svc.Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		step(svcVantages...)
	}
	// us-1 stops: no heartbeat for more than three intervals.
	for range 4 {
		step(svcVantages[0])
	}
	got := h.delivered()
	if len(got) != 1 || got[0].DedupKey != "vantage_missing/us-1" || got[0].URL != "https://picket.example/vantages" {
		t.Fatalf("notifications %+v; want vantage_missing/us-1 linking to https://picket.example/vantages", got)
	}

	for range 2 {
		step(svcVantages...)
	}
	fireOutage(l, st, svc)
	got = h.delivered()
	if last := got[len(got)-1]; last.DedupKey != svcKey || last.URL != "https://picket.example/endpoints/payments/checkout-api" {
		t.Errorf("last notification %s links to %q, want %s linking to https://picket.example/endpoints/payments/checkout-api",
			last.DedupKey, last.URL, svcKey)
	}
}

// A reachability alert quotes one vantage's error message of the failing
// layer and code, so that "http/status" comes with the status.
func TestReachabilityAlertQuotesTheError(t *testing.T) {
	s := newSim(t, Config{}, "")
	s.run(time.Minute, healthy)
	s.run(time.Minute, func(now time.Time, v vantageSpec, kind string) outcome {
		if kind != "http" {
			return healthy(now, v, kind)
		}
		return outcome{ms: 30, err: &results.Error{Layer: results.LayerHTTP, Code: results.CodeStatus,
			Message: "status 503, expected 200 from " + v.id}}
	})
	ts := s.take()
	only(t, ts, "reachability/payments/checkout-api/http firing")
	if a := ts[0].Alert; a.Layer != "http" || a.Code != "status" || a.Error != "ap-1: status 503, expected 200 from ap-1" {
		t.Errorf("layer %q code %q error %q; want http/status quoting ap-1's message", a.Layer, a.Code, a.Error)
	}
}

// When an outage changes type rather than ends, the resolve of the alert
// it leaves says so and names the one that carries it on: before, a
// regional alert's resolve read as good news in the channel at the very
// moment the outage spread to a page.
func TestResolveOnEscalationSaysItIsNotOver(t *testing.T) {
	const (
		outage   = "reachability/payments/checkout-api/http"
		regional = "regional_reachability/payments/checkout-api/http"
	)
	s := newSim(t, Config{}, "")
	s.run(time.Minute, healthy)
	s.run(time.Minute, httpDown("ap-south"))
	only(t, s.take(), regional+" firing")
	s.run(time.Minute, httpDown("ap-south", "us-east"))
	ts := s.take()
	only(t, ts, outage+" firing", regional+" resolved")
	if got, want := ts[1].Alert.Summary, "; not over: escalated to "+outage+" (ap-south, us-east)"; !strings.HasSuffix(got, want) {
		t.Errorf("regional resolve says %q, want it to end in %q", got, want)
	}
	s.run(time.Minute, httpDown("ap-south"))
	ts = s.take()
	only(t, ts, regional+" firing", outage+" resolved")
	if got, want := ts[1].Alert.Summary, "; not over: below quorum, still down in ap-south ("+regional+")"; !strings.HasSuffix(got, want) {
		t.Errorf("outage resolve says %q, want it to end in %q", got, want)
	}
	s.run(time.Minute, healthy)
	ts = s.take()
	only(t, ts, regional+" resolved")
	if strings.Contains(ts[0].Alert.Summary, "not over") {
		t.Errorf("the end of the outage says %q", ts[0].Alert.Summary)
	}
}
