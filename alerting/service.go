package alerting

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/picketnet/picket/alerting/notify"
	"github.com/picketnet/picket/checks"
	"github.com/picketnet/picket/internal/outagelog"
	"github.com/picketnet/picket/results"
)

// Store is what the alerting service needs of the collector's database.
type Store interface {
	results.AlertStore
	results.Locker
	// HoldsLock reports whether a lock taken with TryLock is still held:
	// a Postgres lock ends with its session, which can end without this
	// process unlocking (a network partition, a server restart).
	HoldsLock(ctx context.Context, name string) (bool, error)
	Endpoints(ctx context.Context, team string) ([]results.Endpoint, error)
	Vantages(ctx context.Context) ([]results.Vantage, error)
	Query(ctx context.Context, q results.ResultQuery) ([]results.Result, error)
	ResultsAfter(ctx context.Context, dst []results.Result, cursor string, limit int) ([]results.Result, string, error)
}

// Route is a named notifier and the severities it receives.
type Route struct {
	Name       string
	Sender     notify.Sender
	Severities []Severity
}

// LockName is the lock that makes one collector replica the evaluator.
const LockName = "picket-alerting"

// Service runs the engine inside a collector: when it holds the alerting
// lock it reads new results from the store, evaluates, records transitions
// with their notifications in the outbox, and delivers the outbox. Replicas
// without the lock stand by and take over when the holder dies.
type Service struct {
	store   Store
	cfg     Config
	routes  []Route
	log     *slog.Logger
	now     func() time.Time
	metrics serviceMetrics

	// Only the leader has an engine.
	engine *Engine
	unlock func()
	// leading is whether this replica holds the lock, for the delivery
	// loop of Run, which does not touch the engine.
	leading atomic.Bool
	// cursor is the position in the store's result feed; page is the
	// memory of the last page read from it, reused for the next.
	cursor string
	page   []results.Result
	// failed says the leader's last round failed: the store may have been
	// unreachable, and heartbeats with it (Engine.HeartbeatsLost).
	failed bool
	// replayed holds the ids of the results replayed at takeover until
	// replayedUntil: the feed can give them again.
	replayed      map[string]struct{}
	replayedUntil time.Time

	// DashboardURL, when set, is linked from notifications.
	DashboardURL string

	clients ClientDetector
}

// Options of NewService beyond the required ones.
type Options struct {
	Logger   *slog.Logger
	Registry prometheus.Registerer
	// Now replaces the clock, for tests.
	Now func() time.Time
	// ClientDetector, when set, finds rises of client-side failures
	// (NELDetector) for client_errors alerts.
	ClientDetector ClientDetector
}

// Delivery limits of the outbox.
const (
	// feedPage and maxFeedPages bound the new results one round reads;
	// the rest waits for the next round.
	feedPage     = 10000
	maxFeedPages = 50
	// replayOverlap is how long after a takeover the feed can still give
	// results the replay read.
	replayOverlap = time.Minute
	// maxResultAge: a result that arrives later than this after its start
	// (a spool replaying an outage long gone) is stored and reported but
	// does not move alert state, which is about now.
	maxResultAge    = 2 * time.Minute
	maxAttempts     = 40
	maxBackoff      = 10 * time.Minute
	firstBackoff    = 5 * time.Second
	sendTimeout     = 20 * time.Second
	outboxBatch     = 100
	replayLimit     = results.MaxRowLimit
	maxReplayWindow = time.Hour
)

type serviceMetrics struct {
	leader        prometheus.Gauge
	evaluations   prometheus.Counter
	transitions   *prometheus.CounterVec
	notifications *prometheus.CounterVec
	evalSeconds   prometheus.Histogram
}

// NewService returns a service over store with cfg and the notification
// routes.
func NewService(store Store, cfg Config, routes []Route, opts Options) *Service {
	s := &Service{store: store, cfg: cfg.withDefaults(), routes: routes, log: opts.Logger, now: opts.Now, clients: opts.ClientDetector}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.metrics = serviceMetrics{
		leader: prometheus.NewGauge(prometheus.GaugeOpts{Name: "picket_alerting_leader",
			Help: "1 when this collector holds the alerting lock and evaluates."}),
		evaluations: prometheus.NewCounter(prometheus.CounterOpts{Name: "picket_alerting_evaluations_total",
			Help: "Alert evaluations run."}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "picket_alert_transitions_total",
			Help: "Alert state transitions, by type and new state."}, []string{"type", "state"}),
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "picket_notifications_total",
			Help: "Notification delivery attempts, by notifier and outcome (sent, retry, failed)."}, []string{"notifier", "outcome"}),
		evalSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "picket_alerting_evaluation_seconds",
			Help: "Time of one evaluation, including reading new results.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 8)}),
	}
	if opts.Registry != nil {
		opts.Registry.MustRegister(s.metrics.leader, s.metrics.evaluations, s.metrics.transitions,
			s.metrics.notifications, s.metrics.evalSeconds)
	}
	return s
}

// Run evaluates every cfg.EvaluateEvery until ctx ends, then releases the
// lock.
//
// Notifications are delivered in a loop of their own, so that a receiver
// that is slow or times out (up to sendTimeout per notifier and round)
// never holds up evaluation, and with it the other receivers' alerts.
func (s *Service) Run(ctx context.Context) error {
	recorded := make(chan struct{}, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { s.deliverLoop(ctx, recorded) })
	t := time.NewTicker(s.cfg.EvaluateEvery)
	defer t.Stop()
	defer s.resign()
	failing := s.failureLog("alert evaluation")
	for {
		roundOutcome(ctx, failing, s.evaluateRound(ctx))
		select {
		case recorded <- struct{}{}:
		default: // a delivery round is due already
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// deliverLoop delivers the outbox while this replica leads: after each
// evaluation round, and every EvaluateEvery for retries that fall due.
func (s *Service) deliverLoop(ctx context.Context, recorded <-chan struct{}) {
	t := time.NewTicker(s.cfg.EvaluateEvery)
	defer t.Stop()
	failing := s.failureLog("notification delivery")
	for {
		select {
		case <-ctx.Done():
			return
		case <-recorded:
		case <-t.C:
		}
		if !s.leading.Load() {
			continue
		}
		roundOutcome(ctx, failing, s.deliver(ctx))
	}
}

// failureLog logs the rounds of a loop that fail once per stretch of
// failures rather than every round: while the database is down every
// replica's evaluation fails every evaluate_every, and a line each time
// buried the one that said why.
func (s *Service) failureLog(what string) *outagelog.Log {
	return &outagelog.Log{Logger: s.log, Level: slog.LevelWarn,
		Failed: what + " failed; retried every round, further failures are counted, not logged", Back: what + " works again"}
}

// roundOutcome records a round's err in l; a round cut short by ctx is
// neither.
func roundOutcome(ctx context.Context, l *outagelog.Log, err error) {
	switch {
	case ctx.Err() != nil:
	case err != nil:
		l.Fail(1, err)
	default:
		l.OK()
	}
}

// Tick runs one round synchronously: take the lock if free, evaluate,
// deliver.
func (s *Service) Tick(ctx context.Context) error {
	if err := s.evaluateRound(ctx); err != nil || !s.leading.Load() {
		return err
	}
	return s.deliver(ctx)
}

// evaluateRound takes the lock if free and evaluates.
func (s *Service) evaluateRound(ctx context.Context) error {
	if s.engine == nil {
		if err := s.takeOver(ctx); err != nil || s.engine == nil {
			return err
		}
	} else if held, err := s.store.HoldsLock(ctx, LockName); err != nil || !held {
		// Another replica may hold the lock now and evaluate: stand by,
		// rather than notify what it notifies too.
		s.log.Warn("lost the alerting lock; standing by", "err", err)
		s.resign()
		return err
	}
	start := time.Now()
	err := s.evaluate(ctx)
	s.metrics.evalSeconds.Observe(time.Since(start).Seconds())
	s.failed = err != nil
	return err
}

func (s *Service) resign() {
	if s.unlock != nil {
		s.unlock()
		s.unlock = nil
	}
	s.engine = nil
	s.leading.Store(false)
	s.metrics.leader.Set(0)
}

// findingRestorer is a ClientDetector that takes up the findings of the
// client_errors alerts a previous leader left open (NELDetector).
type findingRestorer interface {
	RestoreFindings([]ClientFinding)
}

// takeOver becomes the evaluator when the lock is free: it restores the
// open alerts, with the baselines their client-side findings were measured
// against, and replays recent results so that state is warm.
func (s *Service) takeOver(ctx context.Context) error {
	unlock, ok, err := s.store.TryLock(ctx, LockName)
	if err != nil || !ok {
		return err
	}
	open, err := s.store.OpenAlerts(ctx)
	if err != nil {
		unlock()
		return fmt.Errorf("load open alerts: %w", err)
	}
	e := NewEngine(s.cfg)
	var restored []Alert
	for _, rec := range open {
		var a Alert
		if err := json.Unmarshal(rec.Body, &a); err != nil {
			s.log.Warn("skipping unreadable stored alert", "key", rec.Key, "err", err)
			continue
		}
		restored = append(restored, a)
	}
	e.Restore(restored)
	if r, ok := s.clients.(findingRestorer); ok {
		var open []ClientFinding
		for _, a := range restored {
			if a.Client != nil {
				open = append(open, *a.Client)
			}
		}
		r.RestoreFindings(open)
	}
	if err := s.replay(ctx, e); err != nil {
		unlock()
		return err
	}
	s.engine, s.unlock = e, unlock
	s.leading.Store(true)
	s.metrics.leader.Set(1)
	s.log.Info("took over alert evaluation", "open_alerts", len(restored))
	return nil
}

// replay warms a new engine with the recent results, up to the baseline
// of latency alerts, and places the feed's cursor before them so that
// nothing stored meanwhile is missed.
func (s *Service) replay(ctx context.Context, e *Engine) error {
	_, cursor, err := s.store.ResultsAfter(ctx, nil, "", 0)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	now := s.now()
	rs, err := s.store.Query(ctx, results.ResultQuery{Since: now.Add(-min(s.cfg.Latency.Baseline, maxReplayWindow)), Limit: replayLimit})
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	slices.SortFunc(rs, func(a, b results.Result) int { return a.StartedAt.Compare(b.StartedAt) })
	s.replayed = make(map[string]struct{}, len(rs))
	for i := range rs {
		s.replayed[rs[i].ID] = struct{}{}
		e.Observe(&rs[i])
	}
	s.cursor, s.replayedUntil = cursor, now.Add(replayOverlap)
	return nil
}

// poll feeds the engine the results stored since the last poll.
func (s *Service) poll(ctx context.Context, now time.Time) error {
	if s.replayed != nil && now.After(s.replayedUntil) {
		s.replayed = nil
	}
	for range maxFeedPages {
		rs, next, err := s.store.ResultsAfter(ctx, s.page[:0], s.cursor, feedPage)
		if err != nil {
			return fmt.Errorf("read new results: %w", err)
		}
		s.cursor, s.page = next, rs
		for _, i := range byStart(rs) {
			r := &rs[i]
			if _, ok := s.replayed[r.ID]; !ok && now.Sub(r.StartedAt) <= maxResultAge {
				s.engine.Observe(r)
			}
		}
		if len(rs) < feedPage {
			return nil
		}
	}
	return nil
}

// byStart returns the indexes of rs in the order the results started,
// to the millisecond, and in feed order within one. It sorts integers
// rather than the results: moving whole records, or sorting through a
// comparison function, was a third of a leader's time at 20,000
// results/s.
func byStart(rs []results.Result) []int {
	order := make([]int, len(rs))
	if len(rs) >= 1<<indexBits {
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int { return rs[a].StartedAt.Compare(rs[b].StartedAt) })
		return order
	}
	keys := make([]uint64, len(rs))
	for i := range rs {
		// Milliseconds since 1970 stay below 2^42 until 2109: a key fits.
		keys[i] = uint64(max(rs[i].StartedAt.UnixMilli(), 0))<<indexBits | uint64(i)
	}
	slices.Sort(keys)
	for j, k := range keys {
		order[j] = int(k & (1<<indexBits - 1))
	}
	return order
}

// indexBits is how many low bits of a byStart key hold the index.
const indexBits = 22

func (s *Service) evaluate(ctx context.Context) error {
	now := s.now()
	if err := s.poll(ctx, now); err != nil {
		return err
	}
	eps, err := s.store.Endpoints(ctx, "")
	if err != nil {
		return fmt.Errorf("read endpoints: %w", err)
	}
	vs, err := s.store.Vantages(ctx)
	if err != nil {
		return fmt.Errorf("read vantages: %w", err)
	}
	silences, err := s.silences(ctx, "", now)
	if err != nil {
		return err
	}
	if s.failed {
		// The collectors may not have recorded heartbeats while the store
		// failed: a silence that began then does not make a vantage missing.
		s.engine.HeartbeatsLost(now)
	}
	snap := Snapshot{Endpoints: eps, Vantages: vs, Silences: silences}
	if s.clients != nil {
		// Without findings open client_errors alerts are held a while
		// (clientHold): a failing detector must not stop the probers' alerts.
		if snap.ClientFindings, err = s.clients.ClientFindings(ctx, now); err != nil {
			s.log.Warn("client-side failure detection failed", "err", err)
		}
	}
	ts := s.engine.Evaluate(now, snap)
	changed := s.engine.Changed()
	s.metrics.evaluations.Inc()
	if len(ts) == 0 && len(changed) == 0 {
		return nil
	}
	var recs []results.AlertRecord
	var outbox []results.OutboxItem
	// An open alert whose description changed is recorded again, not
	// notified: `picket alerts list` and the dashboard read the store.
	for _, a := range changed {
		rec, err := record(a)
		if err != nil {
			return err
		}
		recs = append(recs, rec)
	}
	for _, t := range ts {
		s.metrics.transitions.WithLabelValues(string(t.Alert.Type), string(t.To)).Inc()
		rec, err := record(t.Alert)
		if err != nil {
			return err
		}
		recs = append(recs, rec)
		if !t.Notifies() {
			continue
		}
		msg, err := json.Marshal(s.message(t))
		if err != nil {
			return fmt.Errorf("encode notification: %w", err)
		}
		for _, r := range s.routes {
			if len(r.Severities) > 0 && !slices.Contains(r.Severities, t.Alert.Severity) {
				continue
			}
			id, _ := uuid.NewV7()
			outbox = append(outbox, results.OutboxItem{ID: id.String(), Notifier: r.Name, AlertKey: t.Alert.Key,
				Body: msg, CreatedAt: now, NextAttempt: now})
		}
	}
	if err := s.store.RecordAlerts(ctx, recs, outbox); err != nil {
		// The engine moved on but nothing was recorded: start over from
		// the store, which still has the previous state.
		s.resign()
		return fmt.Errorf("record alerts: %w", err)
	}
	for _, t := range ts {
		s.log.Info("alert", "key", t.Alert.Key, "from", t.From, "to", t.To, "severity", t.Alert.Severity,
			"silenced", t.Alert.Silenced != "", "summary", t.Alert.Summary)
	}
	for _, a := range changed {
		s.log.Debug("alert updated", "key", a.Key, "state", a.State, "silenced", a.Silenced != "", "summary", a.Summary)
	}
	return nil
}

func record(a Alert) (results.AlertRecord, error) {
	body, err := json.Marshal(a)
	if err != nil {
		return results.AlertRecord{}, fmt.Errorf("encode alert: %w", err)
	}
	return results.AlertRecord{Key: a.Key, StartsAt: a.StartsAt, Team: a.Team, Endpoint: a.Endpoint,
		Type: string(a.Type), Severity: string(a.Severity), State: string(a.State), UpdatedAt: a.UpdatedAt, Body: body}, nil
}

func (s *Service) message(t Transition) notify.Message {
	a := t.Alert
	status := "firing"
	if t.To == StateResolved {
		status = "resolved"
	}
	m := notify.Message{
		DedupKey: a.Key, Status: status, Type: string(a.Type), Severity: string(a.Severity), Summary: a.Summary,
		Team: a.Team, Endpoint: a.Endpoint, Check: a.Check, Regions: a.Regions, ASNs: a.ASNs, Vantages: a.Vantages,
		Layer: a.Layer, Code: a.Code, Error: a.Error, Phase: a.Phase, StartsAt: a.StartsAt, EndsAt: a.ResolvedAt, At: t.At, Details: messageDetails(a),
	}
	// The link goes where the alert can be looked into: the endpoint's
	// page, or the vantages page for a vantage that went missing.
	base := strings.TrimRight(s.DashboardURL, "/")
	switch {
	case base == "":
	case a.Endpoint != "":
		m.URL = base + "/endpoints/" + url.PathEscape(a.Team) + "/" + url.PathEscape(a.Endpoint)
	case a.Type == TypeVantageMissing:
		m.URL = base + "/vantages"
	}
	return m
}

// details is what only some types of alert measure. A notification
// carries the fields its type has, so that a receiver never reads a
// reachability alert's "extra_ms: 0" as a measurement; a zero it does
// carry is one (a certificate with 0 days left).
type details struct {
	NewASNs   []ASN         `json:"new_asns,omitempty"`
	ExtraMS   *float64      `json:"extra_ms,omitempty"`
	Value     *float64      `json:"value,omitempty"`
	Threshold *float64      `json:"threshold,omitempty"`
	Client    *ClientErrors `json:"client,omitempty"`
}

// messageDetails is the details of a notification of a, or nil when its
// type has none (reachability: its layer, code and error say it all).
func messageDetails(a Alert) json.RawMessage {
	var d details
	switch a.Type {
	case TypeOutage, TypeRegional:
		return nil
	case TypeClientErrors:
		d.Client = a.Client
	case TypeDetour:
		d.NewASNs, d.ExtraMS = a.NewASNs, &a.ExtraMS
		d.Value, d.Threshold = &a.Value, &a.Threshold
	case TypePathChange:
		d.NewASNs = a.NewASNs
	case TypeVantageMissing:
		d.Value = &a.Value
	default: // latency, rtt below the light bound, certificate expiry
		d.Value, d.Threshold = &a.Value, &a.Threshold
	}
	b, err := json.Marshal(d)
	if err != nil || string(b) == "{}" {
		return nil
	}
	return b
}

// deliver sends due notifications. A failure is retried with exponential
// backoff and jitter; a permanent failure, or one that keeps failing for
// maxAttempts, is given up and recorded as failed. Because items stay in
// the outbox until marked, a restart resumes where delivery stopped.
func (s *Service) deliver(ctx context.Context) error {
	now := s.now()
	items, err := s.store.DueOutbox(ctx, now, outboxBatch)
	if err != nil {
		return fmt.Errorf("read outbox: %w", err)
	}
	if len(items) == 0 {
		return nil
	}
	// The delivery loop runs beside evaluation, which checks the lock only
	// every evaluate_every: a replica whose lock session ended may have been
	// replaced already, and the new leader delivers the same due items.
	if held, err := s.store.HoldsLock(ctx, LockName); err != nil || !held {
		return err
	}
	// Each notifier's items in their order, the notifiers side by side:
	// a receiver that hangs until sendTimeout delays its own only.
	var notifiers []string
	byNotifier := map[string][]results.OutboxItem{}
	for _, item := range items {
		if _, seen := byNotifier[item.Notifier]; !seen {
			notifiers = append(notifiers, item.Notifier)
		}
		byNotifier[item.Notifier] = append(byNotifier[item.Notifier], item)
	}
	errs := make([]error, len(notifiers))
	var wg sync.WaitGroup
	for i, name := range notifiers {
		wg.Go(func() { errs[i] = s.deliverTo(ctx, now, name, byNotifier[name]) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// deliverTo sends one notifier's due items, in order. When one fails, the
// rest wait for the next round, so that a receiver that is down, or slow
// to time out, costs one attempt per round and not one per item.
func (s *Service) deliverTo(ctx context.Context, now time.Time, notifier string, items []results.OutboxItem) error {
	route, configured := s.route(notifier)
	for _, item := range items {
		if !configured {
			item.Failed, item.LastError = true, "notifier no longer configured"
			s.metrics.notifications.WithLabelValues(item.Notifier, "failed").Inc()
			if err := s.store.MarkOutbox(ctx, item); err != nil {
				return err
			}
			continue
		}
		failing := false
		var m notify.Message
		if err := json.Unmarshal(item.Body, &m); err != nil {
			item.Failed, item.LastError = true, "unreadable: "+err.Error()
		} else {
			sctx, cancel := context.WithTimeout(ctx, sendTimeout)
			err = route.Sender.Send(sctx, m)
			cancel()
			item.Attempts++
			switch {
			case err == nil:
				item.Done = true
			case errors.Is(err, notify.ErrPermanent) || item.Attempts >= maxAttempts:
				item.Failed, item.LastError = true, err.Error()
			default:
				item.LastError = err.Error()
				item.NextAttempt = now.Add(backoff(item.Attempts))
				failing = true
			}
		}
		outcome := map[bool]string{true: "sent", false: "retry"}[item.Done]
		// Whoever is on call reads these lines to learn that a page is
		// late, and when it finally went out: a notifier that fails
		// quietly until it is given up, hours later, hides that.
		switch {
		case item.Failed:
			outcome = "failed"
			s.log.Error("notification given up", "notifier", item.Notifier, "alert", item.AlertKey, "attempts", item.Attempts, "err", item.LastError)
		case failing:
			s.log.Warn("notification failed; will retry", "notifier", item.Notifier, "alert", item.AlertKey,
				"attempts", item.Attempts, "next_attempt", item.NextAttempt, "err", item.LastError)
		case item.Done && item.Attempts > 1:
			s.log.Info("notification delivered after retries", "notifier", item.Notifier, "alert", item.AlertKey,
				"attempts", item.Attempts, "first_queued", item.CreatedAt)
		}
		s.metrics.notifications.WithLabelValues(item.Notifier, outcome).Inc()
		if err := s.store.MarkOutbox(ctx, item); err != nil {
			return fmt.Errorf("mark outbox: %w", err)
		}
		if failing {
			return nil
		}
	}
	return nil
}

func (s *Service) route(name string) (Route, bool) {
	for _, r := range s.routes {
		if r.Name == name {
			return r, true
		}
	}
	return Route{}, false
}

// backoff is 5 s doubling per attempt up to 10 min, with ±20% jitter so
// that retries against a recovering service spread out.
func backoff(attempts int) time.Duration {
	d := firstBackoff << min(attempts-1, 10)
	d = min(d, maxBackoff)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// Alerts returns a team's alerts (every team's for ""): open ones and
// those updated in the last window.
func (s *Service) Alerts(ctx context.Context, team string, window time.Duration) ([]Alert, error) {
	recs, err := s.store.ListAlerts(ctx, team, s.now().Add(-window), 1000)
	if err != nil {
		return nil, err
	}
	out := make([]Alert, 0, len(recs))
	for _, rec := range recs {
		var a Alert
		if err := json.Unmarshal(rec.Body, &a); err != nil {
			return nil, fmt.Errorf("stored alert %s: %w", rec.Key, err)
		}
		out = append(out, a)
	}
	slices.SortStableFunc(out, func(a, b Alert) int {
		if a.Open() != b.Open() {
			if a.Open() {
				return -1
			}
			return 1
		}
		return cmp.Compare(b.UpdatedAt.UnixNano(), a.UpdatedAt.UnixNano())
	})
	return out, nil
}

// AddSilence validates and stores a silence for team. A mistake in it is
// a *checks.FieldError naming the field (reason, ends_at, endpoint, type,
// vantage); other errors are the store's.
func (s *Service) AddSilence(ctx context.Context, team string, sil Silence) (Silence, error) {
	now := s.now()
	if sil.StartsAt.IsZero() {
		sil.StartsAt = now
	}
	switch {
	case sil.Reason == "":
		return Silence{}, checks.Errorf("reason", "missing; say why the alerts are muted")
	case len(sil.Reason) > 1024:
		return Silence{}, checks.Errorf("reason", "longer than 1024 bytes")
	case strings.ContainsFunc(sil.Reason, unicode.IsControl):
		// Other teams' operators read reasons in their terminals.
		return Silence{}, checks.Errorf("reason", "contains control characters (a line break, a tab, an escape); write it on one line")
	case !sil.EndsAt.After(sil.StartsAt):
		return Silence{}, checks.Errorf("ends_at", "must be after starts_at")
	case !sil.EndsAt.After(now):
		return Silence{}, checks.Errorf("ends_at", "already in the past")
	case sil.EndsAt.Sub(sil.StartsAt) > 90*24*time.Hour:
		return Silence{}, checks.Errorf("ends_at", "a silence may last at most 90 days")
	}
	if err := s.checkMatchers(ctx, team, sil); err != nil {
		return Silence{}, err
	}
	sil.Team = team
	id, _ := uuid.NewV7()
	sil.ID = id.String()
	body, err := json.Marshal(sil)
	if err != nil {
		return Silence{}, fmt.Errorf("encode silence: %w", err)
	}
	if err := s.store.PutSilence(ctx, results.SilenceRecord{ID: sil.ID, Team: team, StartsAt: sil.StartsAt, EndsAt: sil.EndsAt, Body: body}); err != nil {
		return Silence{}, fmt.Errorf("store silence: %w", err)
	}
	return sil, nil
}

// checkMatchers refuses a silence that could never match: one naming an
// endpoint the team does not have, a type no alert of a team has, or a
// vantage that is not enrolled would mute nothing while its author
// believes the pages are held. It is checked once, when the silence is
// made: an endpoint deleted later leaves its silence listed until it ends.
func (s *Service) checkMatchers(ctx context.Context, team string, sil Silence) error {
	if sil.Type != "" && !slices.Contains(SilenceTypes(), sil.Type) {
		if sil.Type == TypeVantageMissing {
			return checks.Errorf("type", "vantage_missing alerts belong to no team, so a team's silence cannot mute them")
		}
		names := make([]string, 0, len(SilenceTypes()))
		for _, t := range SilenceTypes() {
			names = append(names, string(t))
		}
		return checks.Errorf("type", "%q is not an alert type; one of %s", sil.Type, strings.Join(names, ", "))
	}
	if sil.Endpoint != "" {
		eps, err := s.store.Endpoints(ctx, team)
		if err != nil {
			return fmt.Errorf("read endpoints: %w", err)
		}
		if !slices.ContainsFunc(eps, func(e results.Endpoint) bool { return e.Name == sil.Endpoint }) {
			return checks.Errorf("endpoint", "team %s has no endpoint %q", team, sil.Endpoint)
		}
	}
	if sil.Vantage != "" {
		vs, err := s.store.Vantages(ctx)
		if err != nil {
			return fmt.Errorf("read vantages: %w", err)
		}
		if !slices.ContainsFunc(vs, func(v results.Vantage) bool { return v.ID == sil.Vantage }) {
			return checks.Errorf("vantage", "no vantage %q is enrolled", sil.Vantage)
		}
	}
	return nil
}

// Silences returns a team's silences that have not ended.
func (s *Service) Silences(ctx context.Context, team string) ([]Silence, error) {
	return s.silences(ctx, team, s.now())
}

func (s *Service) silences(ctx context.Context, team string, now time.Time) ([]Silence, error) {
	recs, err := s.store.Silences(ctx, team, now)
	if err != nil {
		return nil, fmt.Errorf("read silences: %w", err)
	}
	out := make([]Silence, 0, len(recs))
	for _, r := range recs {
		var sil Silence
		if err := json.Unmarshal(r.Body, &sil); err != nil {
			return nil, fmt.Errorf("stored silence %s: %w", r.ID, err)
		}
		out = append(out, sil)
	}
	return out, nil
}
