package alerting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/picketnet/picket/alerting/notify"
	"github.com/picketnet/picket/internal/pgtest"
	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/results/postgres"
	"github.com/picketnet/picket/results/sqlite"
)

// The service tests run the alerting service over the real stores, with
// results ingested the way the collector ingests them, a simulated clock,
// and notifications delivered over HTTP to a local receiver that records
// them.

var pg = pgtest.New()

func TestMain(m *testing.M) { os.Exit(pg.Main(m)) }

// labStore is what the tests need of a store: the service's view of it
// plus what the collector's API does to it.
type labStore interface {
	Store
	Ingest(ctx context.Context, rs []results.Result) (results.IngestOutcome, error)
	CreateTeam(ctx context.Context, t results.Team) error
	PutEndpoint(ctx context.Context, e results.Endpoint) error
	CreateVantage(ctx context.Context, v results.Vantage) error
	RecordHeartbeat(ctx context.Context, hb results.Heartbeat) error
	Close() error
}

// database opens one database, again and again: a collector restarting,
// or several replicas sharing it. Every store it opens is closed when the
// test ends, if the test did not close it.
type database func(t *testing.T) labStore

// onceStore makes Close idempotent, so tests can close a store to
// simulate a collector's death and still have it closed at cleanup.
type onceStore struct {
	labStore
	once sync.Once
	err  error
}

func (s *onceStore) Close() error {
	s.once.Do(func() { s.err = s.labStore.Close() })
	return s.err
}

func opened(t *testing.T, s labStore, err error) labStore {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	o := &onceStore{labStore: s}
	t.Cleanup(func() { o.Close() })
	return o
}

func sqliteDB(t *testing.T) database {
	path := filepath.Join(t.TempDir(), "picket.db")
	return func(t *testing.T) labStore {
		s, err := sqlite.Open(context.Background(), path)
		return opened(t, s, err)
	}
}

func postgresDB(t *testing.T) database {
	url := pg.Database(t)
	return func(t *testing.T) labStore {
		s, err := postgres.Open(context.Background(), url)
		return opened(t, s, err)
	}
}

// forEachStore runs fn over SQLite and over Postgres.
func forEachStore(t *testing.T, fn func(t *testing.T, db database)) {
	for _, b := range []struct {
		name string
		db   func(t *testing.T) database
	}{{"sqlite", sqliteDB}, {"postgres", postgresDB}} {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			fn(t, b.db(t))
		})
	}
}

// svcLab is a small prober network: endpoints with one HTTPS check each
// (checkout-api, unless told otherwise), probed every 10 s by one vantage
// in each of two regions, so that an outage seen from both is a page
// (quorum 2), and a simulated clock.
type svcLab struct {
	t         *testing.T
	mu        sync.Mutex
	now       time.Time
	endpoints []string
	fail      *results.Error // what the checks fail with; nil while the endpoints are up
	silent    string         // a vantage that neither heartbeats nor posts (dead)
	n         int
}

var svcVantages = []results.Vantage{
	{ID: "eu-1", Region: "eu-central", Provider: "hetzner", ASN: 64500},
	{ID: "us-1", Region: "us-east", Provider: "aws", ASN: 64510},
}

const (
	svcKey       = "reachability/payments/checkout-api/http"
	svcDashboard = "https://picket.example"
)

func newLab(t *testing.T, endpoints ...string) *svcLab {
	if len(endpoints) == 0 {
		endpoints = []string{"checkout-api"}
	}
	return &svcLab{t: t, now: t0, endpoints: endpoints}
}

func target(endpoint string) string {
	if endpoint == "checkout-api" {
		return "https://api.example.com/health"
	}
	return "https://" + endpoint + ".example.com/"
}

// Now is the services' clock.
func (l *svcLab) Now() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.now
}

// register enrols the vantages and registers the endpoint, as the
// operator and the team would through the API.
func (l *svcLab) register(st labStore) {
	ctx := context.Background()
	for _, v := range svcVantages {
		v.TokenHash = []byte("token-of-" + v.ID)
		if err := st.CreateVantage(ctx, v); err != nil {
			l.t.Fatal(err)
		}
	}
	// The database may be one opened before: the team may be there.
	if err := st.CreateTeam(ctx, results.Team{Name: "payments", TokenHash: []byte("h-payments")}); err != nil && !errors.Is(err, results.ErrConflict) {
		l.t.Fatal(err)
	}
	for _, name := range l.endpoints {
		ep := results.Endpoint{Team: "payments", Name: name, Target: target(name),
			Checks:  []json.RawMessage{json.RawMessage(`{"kind":"http","interval":"10s"}`)},
			Regions: []string{"all"}, Alert: json.RawMessage(`{"severity":"page","quorum":2}`)}
		if err := st.PutEndpoint(ctx, ep); err != nil {
			l.t.Fatal(err)
		}
	}
}

func (l *svcLab) down() {
	l.fail = &results.Error{Layer: results.LayerConnect, Code: results.CodeTimeout, Message: "dial tcp: i/o timeout"}
}
func (l *svcLab) up() { l.fail = nil }

// round advances the clock by one interval, and every vantage heartbeats
// and posts its result through st.
func (l *svcLab) round(st labStore) {
	l.t.Helper()
	var vs []results.Vantage
	for _, v := range svcVantages {
		if v.ID != l.silent {
			vs = append(vs, v)
		}
	}
	l.roundOf(st, vs, func(results.Vantage) *results.Error { return l.fail })
}

// roundOf advances the clock by one interval; every vantage of vs
// heartbeats and posts a result for each of the lab's endpoints, failed
// with the error fail gives for it, if any.
func (l *svcLab) roundOf(st labStore, vs []results.Vantage, fail func(results.Vantage) *results.Error) {
	l.t.Helper()
	ctx := context.Background()
	l.mu.Lock()
	l.now = l.now.Add(tick)
	now := l.now
	l.mu.Unlock()
	var rs []results.Result
	for i, v := range vs {
		if err := st.RecordHeartbeat(ctx, results.Heartbeat{Vantage: v.ID, At: now, Every: tick, Version: "test"}); err != nil {
			l.t.Fatal(err)
		}
		for _, ep := range l.endpoints {
			l.n++
			r := results.Result{
				ID: fmt.Sprintf("r-%06d", l.n), Team: "payments", Endpoint: ep, Check: ep + "/http",
				Kind: "http", Vantage: v.ID, Region: v.Region, Provider: v.Provider, ASN: v.ASN,
				Target: target(ep), Addr: "192.0.2.10",
				StartedAt: now.Add(-time.Duration(i+1) * time.Millisecond), DurationMS: 120, OK: true,
			}
			if r.Error = fail(v); r.Error != nil {
				r.OK, r.DurationMS = false, 10000
			}
			if err := r.Validate(); err != nil {
				l.t.Fatalf("lab result: %v", err)
			}
			rs = append(rs, r)
		}
	}
	if _, err := st.Ingest(ctx, rs); err != nil {
		l.t.Fatal(err)
	}
}

// steps runs n rounds, each fed through st and followed by a tick of every
// service, in order.
func (l *svcLab) steps(n int, st labStore, svcs ...*Service) {
	l.t.Helper()
	for range n {
		l.round(st)
		for _, s := range svcs {
			if err := s.Tick(context.Background()); err != nil {
				l.t.Fatalf("tick at +%s: %v", l.Now().Sub(t0), err)
			}
		}
	}
}

// hook is a webhook receiver that records every request and answers with
// the status codes it is told to, 200 by default.
type hook struct {
	*httptest.Server
	t        *testing.T
	mu       sync.Mutex
	answers  []int // answered in order, then always
	always   int
	reject   string // notifications of this status are answered 429
	received []delivery
}

type delivery struct {
	status  int
	payload notify.WebhookPayload
}

func newHook(t *testing.T) *hook {
	h := &hook{t: t, always: http.StatusOK}
	h.Server = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.Close)
	return h
}

func (h *hook) serve(w http.ResponseWriter, r *http.Request) {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); r.Method != http.MethodPost || ct != "application/json" {
		h.t.Errorf("webhook got %s with Content-Type %q, want a JSON POST", r.Method, r.Header.Get("Content-Type"))
	}
	if ua := r.Header.Get("User-Agent"); ua != "picket-notify" {
		h.t.Errorf("webhook User-Agent %q, want picket-notify", ua)
	}
	var p notify.WebhookPayload
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		h.t.Errorf("webhook body: %v", err)
	}
	h.mu.Lock()
	status := h.always
	if len(h.answers) > 0 {
		status, h.answers = h.answers[0], h.answers[1:]
	}
	if h.reject != "" && p.Status == h.reject {
		status = http.StatusTooManyRequests
	}
	h.received = append(h.received, delivery{status: status, payload: p})
	h.mu.Unlock()
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"status":%d}`, status)
}

func (h *hook) answer(always int, first ...int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.always, h.answers = always, first
}

func (h *hook) all() []delivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.received)
}

// delivered returns the payloads the receiver accepted.
func (h *hook) delivered() []notify.WebhookPayload {
	var out []notify.WebhookPayload
	for _, d := range h.all() {
		if d.status/100 == 2 {
			out = append(out, d.payload)
		}
	}
	return out
}

func (h *hook) statuses() []int {
	var out []int
	for _, d := range h.all() {
		out = append(out, d.status)
	}
	return out
}

func newTestService(t *testing.T, st Store, l *svcLab, url string, reg prometheus.Registerer) *Service {
	s := NewService(st, Config{}, []Route{{Name: "hook", Sender: notify.Webhook{URL: url}}},
		Options{Now: l.Now, Registry: reg, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	s.DashboardURL = svcDashboard
	return s
}

// checkOutage checks a notification of the lab's outage field by field.
func checkOutage(t *testing.T, got notify.WebhookPayload, status string, starts, at time.Time) {
	t.Helper()
	want := notify.WebhookPayload{Version: "1", Message: notify.Message{
		DedupKey: svcKey, Status: status, Type: "reachability", Severity: "page",
		Summary: "checkout-api: HTTPS connect/timeout from all regions (eu-central (AS64500), us-east (AS64510))",
		Team:    "payments", Endpoint: "checkout-api", Check: "checkout-api/http",
		Regions: []string{"eu-central", "us-east"}, ASNs: []uint32{64500, 64510}, Vantages: []string{"eu-1", "us-1"},
		Layer: "connect", Code: "timeout", Error: "eu-1: dial tcp: i/o timeout", StartsAt: starts, At: at,
		URL: svcDashboard + "/endpoints/payments/checkout-api",
	}}
	if status == "resolved" {
		want.EndsAt = at
	}
	if !got.StartsAt.Equal(want.StartsAt) || !got.At.Equal(want.At) || !got.EndsAt.Equal(want.EndsAt) {
		t.Errorf("%s notification times: starts %v at %v ends %v; want starts %v at %v ends %v", status,
			got.StartsAt, got.At, got.EndsAt, want.StartsAt, want.At, want.EndsAt)
	}
	got.StartsAt, got.At, got.EndsAt = want.StartsAt, want.At, want.EndsAt
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s notification:\n got %+v\nwant %+v", status, got, want)
	}
}

// metric reads a counter or gauge from reg; 0 when it has no such series.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, p := range m.GetLabel() {
				have[p.GetName()] = p.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue series
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// fireOutage runs the lab healthy for three rounds, then down until the
// outage fires (two failing rounds: fail_after 2), and returns when it
// fired.
func fireOutage(l *svcLab, st labStore, svcs ...*Service) time.Time {
	l.steps(3, st, svcs...)
	l.down()
	l.steps(2, st, svcs...)
	return l.Now()
}

func TestServiceNotifiesOutageOncePerTransition(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, db database) {
		ctx := context.Background()
		l, st, h := newLab(t), db(t), newHook(t)
		l.register(st)
		svc := newTestService(t, st, l, h.URL, nil)

		l.steps(3, st, svc)
		l.down()
		l.steps(1, st, svc)
		if got := h.all(); len(got) != 0 {
			t.Fatalf("notified after one failing round (fail_after is 2): %+v", got)
		}
		l.steps(1, st, svc)
		fired := l.Now()
		got := h.delivered()
		if len(got) != 1 {
			t.Fatalf("%d notifications when the outage fired, want 1", len(got))
		}
		checkOutage(t, got[0], "firing", fired, fired)

		l.steps(5, st, svc)
		if n := len(h.all()); n != 1 {
			t.Fatalf("%d notifications while the outage lasts, want still 1", n)
		}
		alerts, err := svc.Alerts(ctx, "payments", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if len(alerts) != 1 || alerts[0].Key != svcKey || alerts[0].State != StateFiring || !alerts[0].StartsAt.Equal(fired) {
			t.Fatalf("alerts during the outage: %+v", alerts)
		}

		l.up()
		l.steps(1, st, svc)
		if n := len(h.all()); n != 1 {
			t.Fatalf("notified after one good round (recover_after is 2)")
		}
		l.steps(1, st, svc)
		resolved := l.Now()
		got = h.delivered()
		if len(got) != 2 {
			t.Fatalf("%d notifications after recovery, want 2", len(got))
		}
		checkOutage(t, got[1], "resolved", fired, resolved)

		l.steps(5, st, svc)
		if n := len(h.all()); n != 2 {
			t.Errorf("%d notifications in all, want 2: one per transition", n)
		}
		if open, err := st.OpenAlerts(ctx); err != nil || len(open) != 0 {
			t.Errorf("open alerts after recovery: %v %v", open, err)
		}
		recs, err := st.ListAlerts(ctx, "payments", t0, 10)
		if err != nil || len(recs) != 1 || recs[0].State != "resolved" || !recs[0].StartsAt.Equal(fired) {
			t.Errorf("stored alerts: %+v %v; want the one resolved outage", recs, err)
		}
		if due, err := st.DueOutbox(ctx, l.Now().Add(24*time.Hour), 10); err != nil || len(due) != 0 {
			t.Errorf("outbox still holds %d items (%v), want none", len(due), err)
		}
	})
}

func TestServiceRetriesWithBackoff(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, db database) {
		ctx := context.Background()
		l, st, h := newLab(t), db(t), newHook(t)
		l.register(st)
		reg := prometheus.NewRegistry()
		svc := newTestService(t, st, l, h.URL, reg)
		h.answer(http.StatusOK, http.StatusInternalServerError, http.StatusServiceUnavailable)

		fired := fireOutage(l, st, svc)
		if got := h.statuses(); !slices.Equal(got, []int{500}) {
			t.Fatalf("answers so far %v, want the one 500", got)
		}
		// The failed item waits for its backoff (5 s ±20% after the first
		// attempt), with the attempt and the error recorded.
		if due, err := st.DueOutbox(ctx, fired, 10); err != nil || len(due) != 0 {
			t.Fatalf("due right after a failed attempt: %+v %v, want none", due, err)
		}
		due, err := st.DueOutbox(ctx, fired.Add(maxBackoff), 10)
		if err != nil || len(due) != 1 {
			t.Fatalf("outbox: %+v %v, want the one item", due, err)
		}
		if it := due[0]; it.Attempts != 1 || !strings.Contains(it.LastError, "500") ||
			it.NextAttempt.Before(fired.Add(4*time.Second)) || it.NextAttempt.After(fired.Add(6*time.Second)) {
			t.Errorf("after one failure: attempts %d, error %q, next attempt +%v; want 1, a 500, +4s..6s",
				it.Attempts, it.LastError, it.NextAttempt.Sub(fired))
		}
		if err := svc.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		if n := len(h.all()); n != 1 {
			t.Fatalf("retried before the backoff ended: %d requests", n)
		}

		for i := 0; i < 6 && len(h.delivered()) == 0; i++ {
			l.steps(1, st, svc)
		}
		if got := h.statuses(); !slices.Equal(got, []int{500, 503, 200}) {
			t.Fatalf("answers %v, want 500, 503, then 200", got)
		}
		for _, d := range h.all() {
			checkOutage(t, d.payload, "firing", fired, fired)
		}
		if r, s := metric(t, reg, "picket_notifications_total", "outcome", "retry"), metric(t, reg, "picket_notifications_total", "outcome", "sent"); r != 2 || s != 1 {
			t.Errorf("notifications metric: %v retries, %v sent; want 2 and 1", r, s)
		}
		l.steps(3, st, svc)
		if n := len(h.all()); n != 3 {
			t.Errorf("%d requests after delivery, want no more than the 3", n)
		}
	})
}

func TestServiceGivesUpOnPermanentFailure(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, db database) {
		ctx := context.Background()
		l, st, h := newLab(t), db(t), newHook(t)
		l.register(st)
		reg := prometheus.NewRegistry()
		svc := newTestService(t, st, l, h.URL, reg)
		h.answer(http.StatusBadRequest)

		fired := fireOutage(l, st, svc)
		l.steps(6, st, svc)
		all := h.all()
		if len(all) != 1 {
			t.Fatalf("%d requests to a receiver answering 400, want 1: a 4xx is not retried", len(all))
		}
		checkOutage(t, all[0].payload, "firing", fired, fired)
		if due, err := st.DueOutbox(ctx, l.Now().Add(24*time.Hour), 10); err != nil || len(due) != 0 {
			t.Errorf("a given-up item is still due: %+v %v", due, err)
		}
		if f := metric(t, reg, "picket_notifications_total", "notifier", "hook", "outcome", "failed"); f != 1 {
			t.Errorf("failed notifications metric %v, want 1", f)
		}

		// The resolve is its own notification, also given up at once.
		l.up()
		l.steps(4, st, svc)
		if got := h.statuses(); !slices.Equal(got, []int{400, 400}) {
			t.Errorf("answers %v, want one 400 for the firing and one for the resolve", got)
		}
	})
}

func TestServiceRestartDoesNotRenotify(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, db database) {
		l, h := newLab(t), newHook(t)
		st := db(t)
		l.register(st)
		svc := newTestService(t, st, l, h.URL, nil)
		fired := fireOutage(l, st, svc)
		if n := len(h.delivered()); n != 1 {
			t.Fatalf("%d notifications when the outage fired, want 1", n)
		}

		// The collector restarts: a new process, the same database.
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		st = db(t)
		svc = newTestService(t, st, l, h.URL, nil)
		l.steps(4, st, svc)
		checkNewLeaderEndsOutage(t, l, st, svc, h, "", fired)
	})
}

// checkNewLeaderEndsOutage: a leader that restarted or took over during a
// notified outage has restored it, does not notify it again, and sends
// exactly one resolve when it ends.
func checkNewLeaderEndsOutage(t *testing.T, l *svcLab, st labStore, svc *Service, h *hook, team string, fired time.Time) {
	t.Helper()
	if n := len(h.all()); n != 1 {
		t.Fatalf("%d notifications on the new leader during the outage, want still 1", n)
	}
	alerts, err := svc.Alerts(context.Background(), team, time.Hour)
	if err != nil || len(alerts) != 1 || alerts[0].State != StateFiring || !alerts[0].StartsAt.Equal(fired) {
		t.Fatalf("alerts on the new leader: %+v %v; want the restored firing outage", alerts, err)
	}

	l.up()
	for i := 0; i < 12 && len(h.all()) == 1; i++ {
		l.steps(1, st, svc)
	}
	got := h.delivered()
	if len(got) != 2 {
		t.Fatalf("%d notifications after recovery, want the firing and one resolve", len(got))
	}
	checkOutage(t, got[1], "resolved", fired, l.Now())
	l.steps(3, st, svc)
	if n := len(h.all()); n != 2 {
		t.Errorf("%d notifications in all, want 2", n)
	}
}

func TestServiceDeliversOutboxLeftByStoppedCollector(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, db database) {
		l, h := newLab(t), newHook(t)
		st := db(t)
		l.register(st)
		svc := newTestService(t, st, l, h.URL, nil)
		h.answer(http.StatusServiceUnavailable)
		fired := fireOutage(l, st, svc)
		if got := h.statuses(); !slices.Equal(got, []int{503}) {
			t.Fatalf("answers %v, want one 503", got)
		}

		// The collector stops with the notification undelivered; the
		// receiver recovers; a new collector starts on the same database.
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		h.answer(http.StatusOK)
		st = db(t)
		svc = newTestService(t, st, l, h.URL, nil)
		l.steps(1, st, svc)
		got := h.delivered()
		if len(got) != 1 {
			t.Fatalf("%d notifications delivered by the new collector, want the 1 left in the outbox", len(got))
		}
		checkOutage(t, got[0], "firing", fired, fired)
		l.steps(3, st, svc)
		if got := h.statuses(); !slices.Equal(got, []int{503, 200}) {
			t.Errorf("answers %v, want 503 then 200: delivered once, not re-fired", got)
		}
	})
}

func TestServiceSilenceMutesButRecords(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, db database) {
		ctx := context.Background()
		l, st, h := newLab(t), db(t), newHook(t)
		l.register(st)
		svc := newTestService(t, st, l, h.URL, nil)
		if _, err := svc.AddSilence(ctx, "payments", Silence{Endpoint: "checkout-api", Reason: ""}); err == nil {
			t.Fatal("a silence without a reason was accepted")
		}
		sil, err := svc.AddSilence(ctx, "payments", Silence{Endpoint: "checkout-api",
			EndsAt: l.Now().Add(time.Hour), Reason: "planned maintenance"})
		if err != nil {
			t.Fatal(err)
		}
		// Another team's silence does not mute payments' alerts.
		if _, err := svc.AddSilence(ctx, "ops", Silence{EndsAt: l.Now().Add(time.Hour), Reason: "ops work"}); err != nil {
			t.Fatal(err)
		}
		if sils, err := svc.Silences(ctx, "payments"); err != nil || len(sils) != 1 || sils[0].ID != sil.ID {
			t.Fatalf("payments' silences: %+v %v", sils, err)
		}

		fired := fireOutage(l, st, svc)
		alerts, err := svc.Alerts(ctx, "payments", time.Hour)
		if err != nil || len(alerts) != 1 {
			t.Fatalf("alerts while silenced: %+v %v; want the outage recorded", alerts, err)
		}
		if a := alerts[0]; a.Key != svcKey || a.State != StateFiring || a.Silenced != sil.ID || !a.StartsAt.Equal(fired) {
			t.Errorf("silenced alert: %+v; want firing, silenced by %s", a, sil.ID)
		}
		l.up()
		l.steps(4, st, svc)
		if got := h.all(); len(got) != 0 {
			t.Errorf("%d notifications while silenced, want none: %+v", len(got), got)
		}
		recs, err := st.ListAlerts(ctx, "payments", t0, 10)
		if err != nil || len(recs) != 1 || recs[0].State != "resolved" {
			t.Fatalf("stored alerts: %+v %v; want the resolved outage", recs, err)
		}
		var a Alert
		if err := json.Unmarshal(recs[0].Body, &a); err != nil || a.Silenced != sil.ID || a.ResolvedAt.IsZero() {
			t.Errorf("stored body: %+v %v; want resolved and silenced by %s", a, err, sil.ID)
		}
		if others, err := svc.Alerts(ctx, "ops", time.Hour); err != nil || len(others) != 0 {
			t.Errorf("ops sees payments' alerts: %+v %v", others, err)
		}
	})
}

// Two collector replicas share one Postgres: only the one holding the
// alerting lock evaluates and notifies; when it dies, the other takes
// over, restores the open alert without notifying it again, and resolves
// it.
func TestServiceReplicasNotifyOnceAndTakeOver(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newReplicas(t)
	l, h, stA, stB, regA, regB, a, b := r.l, r.h, r.stA, r.stB, r.regA, r.regB, r.a, r.b

	// Probers post to either replica.
	both := func(n int) {
		for range n {
			st := stA
			if l.n%4 == 2 {
				st = stB
			}
			l.steps(1, st, a, b)
		}
	}
	both(3)
	if la, lb := metric(t, regA, "picket_alerting_leader"), metric(t, regB, "picket_alerting_leader"); la != 1 || lb != 0 {
		t.Fatalf("leaders: a=%v b=%v; want a, which ticked first, alone", la, lb)
	}
	l.down()
	both(2)
	fired := l.Now()
	got := h.delivered()
	if len(got) != 1 {
		t.Fatalf("%d notifications when the outage fired on two replicas, want 1", len(got))
	}
	checkOutage(t, got[0], "firing", fired, fired)
	both(3)
	if n := len(h.all()); n != 1 {
		t.Fatalf("%d notifications while the outage lasts, want 1", n)
	}
	if e := metric(t, regB, "picket_alerting_evaluations_total"); e != 0 {
		t.Errorf("the standby evaluated %v times, want 0", e)
	}

	// The leader dies: its database session ends and with it the lock.
	if err := stA.Close(); err != nil {
		t.Fatal(err)
	}
	l.steps(1, stB, b)
	// The server releases the lock when it has ended the session, a moment
	// after the connection closed: tick again until it has.
	for deadline := time.Now().Add(15 * time.Second); metric(t, regB, "picket_alerting_leader") != 1 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		if err := b.Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if metric(t, regB, "picket_alerting_leader") != 1 {
		t.Fatal("the standby did not take over after the leader's session ended")
	}
	l.steps(3, stB, b)
	checkNewLeaderEndsOutage(t, l, stB, b, h, "payments", fired)
	if sa, sb := metric(t, regA, "picket_notifications_total", "outcome", "sent"), metric(t, regB, "picket_notifications_total", "outcome", "sent"); sa != 1 || sb != 1 {
		t.Errorf("sent: a=%v b=%v; want the firing from a and the resolve from b", sa, sb)
	}
	if open, err := stB.OpenAlerts(ctx); err != nil || len(open) != 0 {
		t.Errorf("open alerts at the end: %+v %v", open, err)
	}
}

// A silence added while a paged outage lasts mutes nothing more, but the
// resolve still goes out: it closes the incident the firing opened (a
// PagerDuty incident would otherwise stay open for ever).
func TestServiceSilenceDuringOutageStillResolves(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, db database) {
		ctx := context.Background()
		l, st, h := newLab(t), db(t), newHook(t)
		l.register(st)
		svc := newTestService(t, st, l, h.URL, nil)
		fired := fireOutage(l, st, svc)
		if _, err := svc.AddSilence(ctx, "payments", Silence{Endpoint: "checkout-api",
			EndsAt: l.Now().Add(time.Hour), Reason: "on it"}); err != nil {
			t.Fatal(err)
		}
		l.steps(3, st, svc)
		l.up()
		l.steps(4, st, svc)
		got := h.delivered()
		if len(got) != 2 {
			t.Fatalf("%d notifications, want the firing and its resolve", len(got))
		}
		checkOutage(t, got[0], "firing", fired, fired)
		checkOutage(t, got[1], "resolved", fired, fired.Add(5*tick))
	})
}

// An outage that starts in a maintenance window is muted while the window
// lasts, and pages when the window ends with the outage still on.
func TestServiceOutageOutlivingMaintenancePages(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, db database) {
		ctx := context.Background()
		l, st, h := newLab(t), db(t), newHook(t)
		l.register(st)
		svc := newTestService(t, st, l, h.URL, nil)
		windowEnd := t0.Add(80 * time.Second)
		if _, err := svc.AddSilence(ctx, "payments", Silence{StartsAt: t0, EndsAt: windowEnd, Reason: "maintenance"}); err != nil {
			t.Fatal(err)
		}
		fired := fireOutage(l, st, svc)
		if n := len(h.all()); n != 0 {
			t.Fatalf("%d notifications during the window, want none", n)
		}
		for l.Now().Before(windowEnd) {
			l.steps(1, st, svc)
		}
		got := h.delivered()
		if len(got) != 1 {
			t.Fatalf("%d notifications when the window ended during the outage, want 1", len(got))
		}
		checkOutage(t, got[0], "firing", fired, windowEnd)
		l.steps(3, st, svc)
		l.up()
		l.steps(2, st, svc)
		got = h.delivered()
		if len(got) != 2 {
			t.Fatalf("%d notifications after recovery, want 2", len(got))
		}
		checkOutage(t, got[1], "resolved", fired, l.Now())
	})
}

// The leader's lock session ends while the leader lives on (a network
// partition, a server restart, an idle-session timeout): it notices at its
// next tick and stands by, and the other replica evaluates alone, so the
// outage is still notified once.
func TestServiceReplicaThatLostItsLockStandsDown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newReplicas(t)
	url, l, h, stA, regA, regB, a, b := r.url, r.l, r.h, r.stA, r.regA, r.regB, r.a, r.b
	l.steps(3, stA, a, b)
	if la, lb := metric(t, regA, "picket_alerting_leader"), metric(t, regB, "picket_alerting_leader"); la != 1 || lb != 0 {
		t.Fatalf("leaders: a=%v b=%v; want a alone", la, lb)
	}

	endLockSession(t, url)
	// a notices at its next tick; b takes over once the server has ended
	// a's session.
	if err := a.Tick(ctx); err != nil {
		t.Logf("a's tick after losing its session: %v", err)
	}
	if la := metric(t, regA, "picket_alerting_leader"); la != 0 {
		t.Fatal("a still leads after its lock session ended")
	}
	for deadline := time.Now().Add(15 * time.Second); metric(t, regB, "picket_alerting_leader") != 1 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		if err := b.Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if lb := metric(t, regB, "picket_alerting_leader"); lb != 1 {
		t.Fatal("b did not take over")
	}

	l.down()
	l.steps(4, stA, a, b)
	got := h.delivered()
	if len(got) != 1 {
		t.Fatalf("%d notifications of the outage, want 1", len(got))
	}
	if la, lb := metric(t, regA, "picket_alerting_leader"), metric(t, regB, "picket_alerting_leader"); la != 0 || lb != 1 {
		t.Errorf("leaders: a=%v b=%v; want b alone", la, lb)
	}
	if sa := metric(t, regA, "picket_notifications_total", "outcome", "sent"); sa != 0 {
		t.Errorf("a sent %v notifications after losing the lock", sa)
	}
}

// A resolve never overtakes its firing: while the firing waits for a
// retry, the resolve waits behind it, so a receiver never sees an incident
// resolved before it opened (PagerDuty would then keep it open for ever).
func TestServiceResolveWaitsForItsFiring(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, db database) {
		l, st, h := newLab(t), db(t), newHook(t)
		l.register(st)
		svc := newTestService(t, st, l, h.URL, nil)
		h.mu.Lock()
		h.reject = "firing" // the receiver rate-limits the trigger
		h.mu.Unlock()
		fired := fireOutage(l, st, svc)
		l.up()
		l.steps(2, st, svc)
		resolved := l.Now()
		l.steps(2, st, svc)
		if got := h.delivered(); len(got) != 0 {
			t.Fatalf("delivered %+v while the firing was not: a resolve overtook its firing", got)
		}
		h.mu.Lock()
		h.reject = ""
		h.mu.Unlock()
		for i := 0; i < 12 && len(h.delivered()) < 2; i++ {
			l.steps(1, st, svc)
		}
		got := h.delivered()
		if len(got) != 2 {
			t.Fatalf("%d notifications delivered, want the firing and the resolve", len(got))
		}
		checkOutage(t, got[0], "firing", fired, fired)
		checkOutage(t, got[1], "resolved", fired, resolved)
	})
}

// A notifier that fails gets one attempt per round, not one per waiting
// notification: a receiver that is down or slow to time out must not hold
// up the evaluation for every alert in an incident.
func TestServiceFailingNotifierGetsOneAttemptPerRound(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, db database) {
		l, st, h := newLab(t, "checkout-api", "ledger-api", "search-api"), db(t), newHook(t)
		l.register(st)
		svc := newTestService(t, st, l, h.URL, nil)
		h.answer(http.StatusServiceUnavailable)
		fireOutage(l, st, svc)
		if got := h.all(); len(got) != 1 {
			t.Fatalf("%d requests to a failing receiver in the round three alerts fired, want 1", len(got))
		}
		h.answer(http.StatusOK)
		for i := 0; i < 10 && len(h.delivered()) < 3; i++ {
			l.steps(1, st, svc)
		}
		var keys []string
		for _, p := range h.delivered() {
			keys = append(keys, p.DedupKey)
		}
		slices.Sort(keys)
		want := []string{"reachability/payments/checkout-api/http", "reachability/payments/ledger-api/http",
			"reachability/payments/search-api/http"}
		if !slices.Equal(keys, want) {
			t.Errorf("delivered %v, want each outage once: %v", keys, want)
		}
	})
}

// The engine must see each series' results in the order they started,
// whatever order the feed delivered them in: a result older than one
// already observed is ignored.
func TestByStart(t *testing.T) {
	t0 := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	tests := []struct {
		name   string
		starts []time.Time
		want   []int
	}{
		{"empty", nil, []int{}},
		{"in order", []time.Time{at(0), at(1), at(2)}, []int{0, 1, 2}},
		{"reversed", []time.Time{at(2), at(1), at(0)}, []int{2, 1, 0}},
		{"same millisecond keeps feed order", []time.Time{at(5), at(3), at(5), at(3)}, []int{1, 3, 0, 2}},
		{"apart by days", []time.Time{at(86_400_000 * 3), at(-86_400_000), at(0)}, []int{1, 2, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := make([]results.Result, len(tt.starts))
			for i, s := range tt.starts {
				rs[i].StartedAt = s
			}
			if got := byStart(rs); !slices.Equal(got, tt.want) {
				t.Errorf("byStart = %v, want %v", got, tt.want)
			}
		})
	}
}

// stuckSender is a receiver that never answers until released, like a
// webhook behind a black-holed route.
type stuckSender struct {
	stuck    chan struct{} // receives once a Send hangs
	release  chan struct{}
	mu       sync.Mutex
	sent     []notify.Message
	returned int // Sends that returned, by release or by their timeout
}

func (s *stuckSender) Send(ctx context.Context, m notify.Message) error {
	select {
	case s.stuck <- struct{}{}:
	default:
	}
	var err error
	select {
	case <-s.release:
	case <-ctx.Done():
		err = ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.returned++
	if err == nil {
		s.sent = append(s.sent, m)
	}
	return err
}

// A receiver that hangs must not hold up evaluation, nor the other
// receivers: while the firing notification hangs, the other notifier gets
// it and the service goes on evaluating and records the recovery; once
// the receiver answers, both notifications go out.
func TestStuckReceiverDoesNotStopEvaluation(t *testing.T) {
	st := sqliteDB(t)(t)
	lab := newLab(t)
	lab.register(st)
	sender := &stuckSender{stuck: make(chan struct{}, 1), release: make(chan struct{})}
	chat := &stuckSender{stuck: make(chan struct{}, 1), release: make(chan struct{})}
	close(chat.release) // answers at once
	// No warm-up: the lab's clock moves only when results arrive.
	svc := NewService(st, Config{EvaluateEvery: 10 * time.Millisecond, WarmUp: time.Second},
		[]Route{{Name: "hook", Sender: sender}, {Name: "chat", Sender: chat}},
		Options{Now: lab.Now, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	lab.down()
	for range 3 {
		lab.round(st)
	}
	select {
	case <-sender.stuck:
	case <-time.After(30 * time.Second):
		t.Fatal("no notification of the outage was attempted")
	}
	waitFor(t, "the other notifier's firing notification", func() bool {
		chat.mu.Lock()
		defer chat.mu.Unlock()
		return len(chat.sent) == 1
	})
	lab.up()
	for range 3 {
		lab.round(st)
	}
	waitFor(t, "the recovery recorded", func() bool {
		recs, err := st.ListAlerts(context.Background(), "payments", t0, 10)
		return err == nil && len(recs) == 1 && recs[0].State == string(StateResolved)
	})
	sender.mu.Lock()
	if sender.returned != 0 {
		t.Errorf("the recovery or the other notifier's notification came only after the hanging one gave up")
	}
	sender.mu.Unlock()
	close(sender.release)
	waitFor(t, "both notifications delivered", func() bool {
		sender.mu.Lock()
		defer sender.mu.Unlock()
		return len(sender.sent) == 2
	})
	if sender.sent[0].Status != "firing" || sender.sent[1].Status != "resolved" {
		t.Errorf("delivered %s then %s, want firing then resolved", sender.sent[0].Status, sender.sent[1].Status)
	}
}

// waitFor polls cond until it holds, failing the test after 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// endLockSession ends the session holding the alerting lock in the
// database at url, as a server restart or a network cut would. Only that
// one: the stores hold other locks (rollup compaction) now and then.
func endLockSession(t *testing.T, url string) {
	t.Helper()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var n int
	if err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
		AND (classid::bigint << 32 | objid::bigint) = $1`, postgres.LockKey(LockName)).Scan(&n); err != nil || n != 1 {
		t.Fatalf("ended %d sessions holding the alerting lock (%v), want 1", n, err)
	}
}

// TestMessageDetails: a notification's details hold what its type
// measures, and nothing a receiver could mistake for a measurement.
func TestMessageDetails(t *testing.T) {
	asns := []ASN{{Number: 64999, Name: "DETOUR-NET"}}
	tests := []struct {
		alert Alert
		want  string // "" for no details
	}{
		{Alert{Type: TypeOutage, Layer: "connect", Code: "timeout"}, ""},
		{Alert{Type: TypeRegional, Layer: "http", Code: "status"}, ""},
		{Alert{Type: TypeDetour, NewASNs: asns, ExtraMS: 42, Value: 80, Threshold: 38},
			`{"new_asns":[{"asn":64999,"name":"DETOUR-NET"}],"extra_ms":42,"value":80,"threshold":38}`},
		{Alert{Type: TypePathChange, NewASNs: asns}, `{"new_asns":[{"asn":64999,"name":"DETOUR-NET"}]}`},
		{Alert{Type: TypeLatency, Value: 912, Threshold: 800}, `{"value":912,"threshold":800}`},
		{Alert{Type: TypeSpeedOfLight, Value: 1.5, Threshold: 30}, `{"value":1.5,"threshold":30}`},
		// 0 days left is a measurement, and is sent.
		{Alert{Type: TypeCertExpiry, Value: 0, Threshold: 14}, `{"value":0,"threshold":14}`},
		{Alert{Type: TypeVantageMissing, Value: 95}, `{"value":95}`},
		{Alert{Type: TypeClientErrors, Client: &ClientErrors{Type: "tcp.refused", Failures: 3}},
			`{"client":` + mustJSON(t, &ClientErrors{Type: "tcp.refused", Failures: 3}) + `}`},
	}
	for _, tt := range tests {
		t.Run(string(tt.alert.Type), func(t *testing.T) {
			if got := string(messageDetails(tt.alert)); got != tt.want {
				t.Errorf("details = %s, want %s", got, tt.want)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
