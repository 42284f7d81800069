package alerting

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/picketnet/picket/alerting/notify"
	"github.com/picketnet/picket/nel"
	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/results/sqlite"
)

var clientT0 = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

func clientEndpoint(name, alert string) results.Endpoint {
	return results.Endpoint{Team: "payments", Name: name, Target: "https://" + name + ".example.com/",
		Checks:  []json.RawMessage{json.RawMessage(`{"kind":"http","interval":"10s"}`)},
		Regions: []string{"all"}, Alert: json.RawMessage(alert)}
}

func refusedFinding(endpoint string) ClientFinding {
	return ClientFinding{Team: "payments", Endpoint: endpoint, Type: "tcp.refused", Phase: "connection",
		Failures: 310, WithRates: true, Rate: 0.03, BaselineRate: 0.0001, PerMinute: 62, BaselinePerMinute: 0.2,
		Networks: []nel.Network{{ASN: 3320, Country: "DE", Failures: 300, Share: 300.0 / 310}, {ASN: 7922, Country: "US", Failures: 10, Share: 10.0 / 310}}}
}

// TestClientErrorsLifecycle feeds the engine findings that appear, dip
// for one evaluation (the detector's window hovering at its threshold),
// come back and end: the alert fires once and resolves once, when the
// findings have been gone for the hold.
func TestClientErrorsLifecycle(t *testing.T) {
	e := NewEngine(Config{EvaluateEvery: 5 * time.Second})
	snap := Snapshot{Endpoints: []results.Endpoint{
		clientEndpoint("checkout-api", `{"severity":"page"}`),
		clientEndpoint("ledger", `{"severity":"info"}`),
	}}
	const step = 5 * time.Second
	var ts []Transition
	var firedAt, lastSeen time.Time
	for i := range 100 {
		now := clientT0.Add(time.Duration(i) * step)
		snap.ClientFindings = nil
		// Present from step 10 to 40, except at step 20; a finding for
		// an endpoint nobody registered throughout.
		if i >= 10 && i <= 40 && i != 20 {
			snap.ClientFindings = []ClientFinding{refusedFinding("checkout-api")}
			lastSeen = now
			if firedAt.IsZero() {
				firedAt = now
			}
		}
		snap.ClientFindings = append(snap.ClientFindings, refusedFinding("unregistered"))
		ts = append(ts, e.Evaluate(now, snap)...)
	}
	if len(ts) != 2 {
		t.Fatalf("%d transitions, want 2 (fire, resolve): %s", len(ts), describe(ts))
	}
	fire, resolve := ts[0], ts[1]
	if fire.To != StateFiring || !fire.At.Equal(firedAt) || !fire.Notifies() {
		t.Errorf("first transition %s at %v (notifies %v), want firing at %v", fire.To, fire.At, fire.Notifies(), firedAt)
	}
	// The first evaluation more than clientHold after the last finding.
	wantResolve := lastSeen.Add(clientHold).Add(step)
	if resolve.To != StateResolved || !resolve.At.Equal(wantResolve) || !resolve.Notifies() {
		t.Errorf("second transition %s at %v (notifies %v), want resolved at %v", resolve.To, resolve.At, resolve.Notifies(), wantResolve)
	}
	a := fire.Alert
	want := "client-side tcp.refused (connection phase) on checkout-api: 310 failures, 3.0% of requests (baseline 0.01%) from AS3320 (DE) 97%, AS7922 (US) 3%"
	if a.Summary != want {
		t.Errorf("summary %q\nwant    %q", a.Summary, want)
	}
	// Notify, not the endpoint's page: client reports are an early,
	// partial signal. No regions: clients are known by their networks.
	if a.Key != "client_errors/payments/checkout-api/tcp.refused" || a.Type != TypeClientErrors || a.Severity != SeverityNotify ||
		a.Team != "payments" || a.Endpoint != "checkout-api" || len(a.Regions) != 0 || len(a.Vantages) != 0 ||
		!slices.Equal(a.ASNs, []uint32{3320, 7922}) || a.Code != "tcp.refused" || a.Phase != "connection" || a.Layer != "connect" {
		t.Errorf("alert %+v", a)
	}
	if a.Client == nil || a.Client.Type != "tcp.refused" || !reflect.DeepEqual(a.Client.Networks, refusedFinding("").Networks) {
		t.Errorf("alert's client fields %+v", a.Client)
	}

	t.Run("info policy stays info", func(t *testing.T) {
		e := NewEngine(Config{})
		snap.ClientFindings = []ClientFinding{refusedFinding("ledger")}
		ts := e.Evaluate(clientT0, snap)
		if len(ts) != 1 || ts[0].Alert.Severity != SeverityInfo || ts[0].Notifies() {
			t.Errorf("ledger: %s", describe(ts))
		}
	})
	t.Run("deleted endpoint resolves", func(t *testing.T) {
		e := NewEngine(Config{WarmUp: time.Second})
		snap.ClientFindings = []ClientFinding{refusedFinding("checkout-api")}
		e.Evaluate(clientT0, snap)
		gone := Snapshot{ClientFindings: snap.ClientFindings}
		ts := e.Evaluate(clientT0.Add(time.Minute), gone)
		if len(ts) != 1 || ts[0].To != StateResolved {
			t.Errorf("after the endpoint's deletion: %s", describe(ts))
		}
	})
}

// countingSource counts the reads of NEL counts.
type countingSource struct{ reads int }

func (c *countingSource) NELCounts(context.Context, results.NELQuery) ([]results.NELCount, error) {
	c.reads++
	return nil, nil
}

// TestNELDetectorReadsEvery checks that the detector reads the store's
// counts at most every 30 s, however often alerting evaluates.
func TestNELDetectorReadsEvery(t *testing.T) {
	src := &countingSource{}
	d := &NELDetector{Counts: src}
	for _, at := range []time.Duration{0, 5 * time.Second, 29 * time.Second, 30 * time.Second, 35 * time.Second, time.Minute} {
		if _, err := d.ClientFindings(context.Background(), clientT0.Add(at)); err != nil {
			t.Fatal(err)
		}
	}
	if src.reads != 3 { // at 0, 30s and 1m
		t.Errorf("%d reads of the counts in a minute, want 3", src.reads)
	}
}

// failingDetector fails until told otherwise, then asks next.
type failingDetector struct {
	mu   sync.Mutex
	fail bool
	next ClientDetector
}

func (d *failingDetector) ClientFindings(ctx context.Context, now time.Time) ([]ClientFinding, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fail {
		return nil, context.DeadlineExceeded
	}
	return d.next.ClientFindings(ctx, now)
}

// TestServiceClientErrors runs the service over the SQLite store with NEL
// reports stored as the collector's NEL handler stores them: an hour of
// successes with rare refusals, then a burst of tcp.refused from AS3320.
// The alert fires once, with a notification naming the type and the
// networks, survives a detector error, and resolves once when the burst
// has left the detector's window.
func TestServiceClientErrors(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "picket.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.CreateTeam(ctx, results.Team{Name: "payments", TokenHash: []byte("h-payments")}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutEndpoint(ctx, clientEndpoint("checkout-api", `{"severity":"page","quorum":2}`)); err != nil {
		t.Fatal(err)
	}
	now := clientT0
	var rs []results.NELReport
	report := func(at time.Time, typ string, frac float64, asn uint32, country string) {
		phase := "connection"
		if typ == "ok" {
			phase = "application"
		}
		rs = append(rs, results.NELReport{ReceivedAt: at, OccurredAt: at, Team: "payments", Endpoint: "checkout-api",
			URL: "https://checkout-api.example.com/", Phase: phase, Type: typ, SamplingFraction: frac, ElapsedMS: 50,
			ClientASN: asn, ClientCountry: country, ClientPrefix: "198.51.100.0/24", Browser: "Chrome 131"})
	}
	// Baseline, the hour before the last 5 minutes: one success report a
	// minute at 1% sampling (6000 requests) and a refusal every 10
	// minutes from AS7922: 6 of 6006 requests, 0.10%.
	for i := range 60 {
		at := now.Add(-5*time.Minute - time.Duration(i)*time.Minute - 30*time.Second)
		report(at, "ok", 0.01, 7922, "US")
		if i%10 == 0 {
			report(at, "tcp.refused", 1, 7922, "US")
		}
	}
	// The last 5 minutes: 500 requests succeeded, 40 refusals from
	// AS3320 and 2 from AS7922: 42 of 542, 7.7%.
	for i := range 5 {
		report(now.Add(-time.Duration(i)*time.Minute-20*time.Second), "ok", 0.01, 7922, "US")
	}
	for i := range 40 {
		report(now.Add(-4*time.Minute-30*time.Second+time.Duration(i)*6*time.Second), "tcp.refused", 1, 3320, "DE")
	}
	report(now.Add(-2*time.Minute), "tcp.refused", 1, 7922, "US")
	report(now.Add(-time.Minute), "tcp.refused", 1, 7922, "US")
	if err := st.InsertNELReports(ctx, rs); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	set := func(t time.Time) { mu.Lock(); defer mu.Unlock(); now = t }
	h := newHook(t)
	det := &failingDetector{next: &NELDetector{Counts: st}}
	svc := NewService(st, Config{}, []Route{{Name: "hook", Sender: notify.Webhook{URL: h.URL}}},
		Options{Now: clock, Logger: slog.New(slog.DiscardHandler), ClientDetector: det})
	tickAt := func(at time.Time) {
		t.Helper()
		set(at)
		if err := svc.Tick(ctx); err != nil {
			t.Fatalf("tick at %v: %v", at, err)
		}
	}

	tickAt(clientT0)
	got := h.delivered()
	if len(got) != 1 {
		t.Fatalf("%d notifications, want the firing one", len(got))
	}
	m := got[0]
	wantSummary := "client-side tcp.refused (connection phase) on checkout-api: 42 failures, 7.7% of requests (baseline 0.10%) from AS3320 (DE) 95%, AS7922 (US) 5%"
	if m.Status != "firing" || m.Type != "client_errors" || m.Severity != "notify" || m.Summary != wantSummary ||
		m.DedupKey != "client_errors/payments/checkout-api/tcp.refused" || m.Endpoint != "checkout-api" ||
		len(m.Regions) != 0 || !slices.Equal(m.ASNs, []uint32{3320, 7922}) || m.Code != "tcp.refused" || m.Phase != "connection" {
		t.Errorf("firing notification %+v\nwant summary %q", m.Message, wantSummary)
	}
	var details struct {
		Client nel.Finding `json:"client"`
	}
	if err := json.Unmarshal(m.Details, &details); err != nil {
		t.Fatalf("details %s: %v", m.Details, err)
	}
	if c := details.Client; c.Type != "tcp.refused" || c.Failures != 42 || len(c.Networks) != 2 ||
		c.Networks[0].ASN != 3320 || c.Networks[0].Country != "DE" || c.Networks[0].Failures != 40 || c.Networks[1].ASN != 7922 {
		t.Errorf("details.client %+v", c)
	}

	// Still failing a minute later; then the detector fails for a minute:
	// neither notifies.
	tickAt(clientT0.Add(time.Minute))
	det.mu.Lock()
	det.fail = true
	det.mu.Unlock()
	tickAt(clientT0.Add(2 * time.Minute))
	det.mu.Lock()
	det.fail = false
	det.mu.Unlock()
	if n := len(h.all()); n != 1 {
		t.Fatalf("%d notifications while the failures last, want still 1", n)
	}
	// Ten minutes on, the burst is in the baseline, not the window.
	tickAt(clientT0.Add(10 * time.Minute))
	tickAt(clientT0.Add(11 * time.Minute))
	got = h.delivered()
	if len(got) != 2 || got[1].Status != "resolved" || got[1].DedupKey != m.DedupKey || !got[1].EndsAt.Equal(clientT0.Add(10*time.Minute)) {
		t.Fatalf("after the burst: %+v, want one resolved notification at +10m", got)
	}
	recs, err := st.ListAlerts(ctx, "payments", clientT0.Add(-time.Hour), 10)
	if err != nil || len(recs) != 1 || recs[0].Type != "client_errors" || recs[0].State != "resolved" {
		t.Errorf("stored alerts %+v (%v), want the one resolved client_errors alert", recs, err)
	}
	if !strings.Contains(string(recs[0].Body), `"client":{`) {
		t.Errorf("the stored alert lacks its client fields: %s", recs[0].Body)
	}
}

// sustainedRefusals is an endpoint whose clients were healthy for two
// hours before clientT0 and have been refused since, at 10% of requests.
type sustainedRefusals struct{}

func (sustainedRefusals) NELCounts(_ context.Context, q results.NELQuery) ([]results.NELCount, error) {
	var out []results.NELCount
	for m := q.Since.Truncate(time.Minute); m.Before(q.Until); m = m.Add(time.Minute) {
		if m.Before(clientT0.Add(-2 * time.Hour)) {
			continue
		}
		c := results.NELCount{Bucket: m, Team: "payments", Endpoint: "checkout-api", ClientASN: 3320, ClientCountry: "DE"}
		ok, failed := c, c
		ok.Phase, ok.Type, ok.Reports, ok.Weighted = nel.PhaseApplication, nel.TypeOK, 10, 1000
		failed.Phase, failed.Type, failed.Reports, failed.Weighted = nel.PhaseConnection, "tcp.refused", 1, 1
		if !m.Before(clientT0) {
			failed.Reports, failed.Weighted = 100, 100
		}
		out = append(out, ok, failed)
	}
	return out, nil
}

// An outage seen only by clients stays a finding for as long as it lasts,
// not just until it has filled a quarter of the baseline hour.
func TestNELDetectorHoldsALongFailure(t *testing.T) {
	d := &NELDetector{Counts: sustainedRefusals{}}
	for _, after := range []time.Duration{5 * time.Minute, 10 * time.Minute, 20 * time.Minute, 40 * time.Minute, time.Hour, 2 * time.Hour} {
		fs, err := d.ClientFindings(context.Background(), clientT0.Add(after))
		if err != nil {
			t.Fatal(err)
		}
		if len(fs) != 1 || fs[0].Type != "tcp.refused" {
			t.Fatalf("%v into the failure: findings %+v, want tcp.refused", after, fs)
		}
	}
}

// A client-side outage outlives the leader that found it: the replica
// that takes over, with a detector of its own, measures the failure
// against the baseline the open alert was found against, not against an
// hour that is mostly the outage itself. Without that the alert would
// resolve about 15 minutes into the outage.
func TestClientErrorsSurviveTakeover(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "picket.db")
	h := newHook(t)
	now := clientT0
	service := func() (*Service, *sqlite.Store) {
		st, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		return NewService(st, Config{}, []Route{{Name: "hook", Sender: notify.Webhook{URL: h.URL}}},
			Options{Now: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler),
				ClientDetector: &NELDetector{Counts: sustainedRefusals{}}}), st
	}
	first, st := service()
	if err := st.CreateTeam(ctx, results.Team{Name: "payments", TokenHash: []byte("h-payments")}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutEndpoint(ctx, clientEndpoint("checkout-api", `{"severity":"page"}`)); err != nil {
		t.Fatal(err)
	}
	now = clientT0.Add(5 * time.Minute)
	if err := first.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if got := h.delivered(); len(got) != 1 || got[0].Status != "firing" || got[0].Type != "client_errors" {
		t.Fatalf("notifications %+v, want client_errors firing", got)
	}
	// The leader's process ends; another replica takes over much later.
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	second, st := service()
	defer st.Close()
	for _, after := range []time.Duration{40 * time.Minute, 41 * time.Minute, 45 * time.Minute, 2 * time.Hour} {
		now = clientT0.Add(after)
		if err := second.Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := h.delivered(); len(got) != 1 {
		var statuses []string
		for _, m := range got {
			statuses = append(statuses, m.Status+" at "+m.At.Format(time.TimeOnly))
		}
		t.Fatalf("notifications %v, want only the firing one: the outage still lasts", statuses)
	}
	alerts, err := second.Alerts(ctx, "payments", 3*time.Hour)
	if err != nil || len(alerts) != 1 || alerts[0].State != "firing" {
		t.Fatalf("alerts %+v (%v), want the client_errors alert still firing", alerts, err)
	}
}
