package alerting

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/picketnet/picket/internal/pgtest"
	"github.com/picketnet/picket/internal/syncbuf"
	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/results/postgres"
)

// A database outage longer than three heartbeat intervals does not make
// every vantage "missing" when it ends. While the database was down the
// collectors could record no heartbeat (they answered 503, and the
// probers were alive all along), so the silence in the store is the
// store's, not the vantages'. Before, the evaluator that took over when
// the database came back, or the leader that had kept its lock session,
// fired vantage_missing for every vantage at its first round (a page-worthy
// flood of notifications with many probers, each followed by a resolve,
// and every vantage left out of the quorums meanwhile). A vantage that
// really stops heartbeating is still reported, three intervals after the
// outage.
func TestServiceDatabaseOutageDoesNotMakeVantagesMissing(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name      string
		keepLocks bool
	}{
		{"takeover after the outage", false},
		{"leader kept its lock session", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			r := newReplicas(t)
			url, l, h, stA, stB, regA, regB, a, b := r.url, r.l, r.h, r.stA, r.stB, r.regA, r.regB, r.a, r.b
			l.steps(3, stA, a, b)
			if la := metric(t, regA, "picket_alerting_leader"); la != 1 {
				t.Fatal("a does not lead before the outage")
			}

			end := pgtest.Outage(t, url, c.keepLocks)
			// Four heartbeat intervals (missing_after is three) during
			// which no collector can record a heartbeat.
			for range 4 {
				l.mu.Lock()
				l.now = l.now.Add(tick)
				now := l.now
				l.mu.Unlock()
				for _, v := range svcVantages {
					if err := stA.RecordHeartbeat(ctx, results.Heartbeat{Vantage: v.ID, At: now, Every: tick}); err == nil {
						t.Fatal("a heartbeat was recorded during the outage")
					}
				}
				for _, s := range []*Service{a, b} {
					if err := s.Tick(ctx); err == nil {
						t.Fatal("a service's round succeeded during the outage")
					}
				}
			}
			end()

			// The services evaluate before the probers' next heartbeats
			// arrive: one of them leads again within a few rounds.
			leaders := func() float64 {
				return metric(t, regA, "picket_alerting_leader") + metric(t, regB, "picket_alerting_leader")
			}
			for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				for _, s := range []*Service{a, b} {
					if err := s.Tick(ctx); err != nil {
						t.Logf("tick after the outage: %v", err)
					}
				}
				if leaders() == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%v leaders after the outage, want 1", leaders())
				}
			}
			for range 2 {
				for _, s := range []*Service{a, b} {
					if err := s.Tick(ctx); err != nil {
						t.Fatal(err)
					}
				}
			}
			l.steps(6, stB, a, b)
			if got := h.delivered(); len(got) != 0 {
				for _, n := range got {
					t.Errorf("notified after the outage: %s %s: %s", n.Status, n.DedupKey, n.Summary)
				}
				t.FailNow()
			}

			// A vantage that dies now is reported once, when it has been
			// silent for more than three intervals.
			l.silent = "us-1"
			l.steps(5, stA, a, b)
			got := h.delivered()
			if len(got) != 1 || got[0].DedupKey != "vantage_missing/us-1" || got[0].Status != "firing" {
				t.Fatalf("after us-1 stopped: %+v; want one firing of vantage_missing/us-1", got)
			}
			if want := "vantage us-1 (us-east, aws) missing: no heartbeat since 2026-11-21 10:02:10Z; left out of quorums"; got[0].Summary != want {
				t.Errorf("summary %q, want %q", got[0].Summary, want)
			}
		})
	}
}

// replicas is two collector replicas' alerting services on one
// PostgreSQL database, with the lab's checks registered in it and the
// receiver both notify.
type replicas struct {
	url        string
	l          *svcLab
	h          *hook
	stA, stB   labStore
	regA, regB *prometheus.Registry
	a, b       *Service
}

func newReplicas(t *testing.T) replicas {
	t.Helper()
	r := replicas{url: pg.Database(t), l: newLab(t), h: newHook(t)}
	r.stA, r.stB = openPostgres(t, r.url), openPostgres(t, r.url)
	r.l.register(r.stA)
	r.regA, r.regB = prometheus.NewRegistry(), prometheus.NewRegistry()
	r.a = newTestService(t, r.stA, r.l, r.h.URL, r.regA)
	r.b = newTestService(t, r.stB, r.l, r.h.URL, r.regB)
	return r
}

func openPostgres(t *testing.T, url string) labStore {
	t.Helper()
	s, err := postgres.Open(context.Background(), url)
	return opened(t, s, err)
}

// countLines counts the lines of logs at level that contain msg.
func countLines(logs *syncbuf.Buffer, level, msg string) int {
	n := 0
	for _, l := range logs.Lines("level=" + level) {
		if strings.Contains(l, msg) {
			n++
		}
	}
	return n
}

// While the database is down, every replica's evaluation fails every
// evaluate_every. Each replica logs that once, with the error, and once
// when evaluation works again; not a warning every round, which buried
// the line that said why.
func TestServiceLogsDatabaseOutageOnce(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url := pg.Database(t)
	st := openPostgres(t, url)
	l := newLab(t)
	l.register(st)
	var logs syncbuf.Buffer
	reg := prometheus.NewRegistry()
	svc := NewService(st, Config{EvaluateEvery: 10 * time.Millisecond}, nil,
		Options{Now: l.Now, Registry: reg, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	done := make(chan struct{})
	go func() {
		defer close(done)
		svc.Run(ctx)
	}()
	waitFor(t, "the service to lead", func() bool { return metric(t, reg, "picket_alerting_leader") == 1 })

	end := pgtest.Outage(t, url, false)
	waitFor(t, "ten failed rounds", func() bool {
		return countLines(&logs, "WARN", "alert evaluation")+countLines(&logs, "DEBUG", "alert evaluation") >= 10
	})
	end()
	evaluated := metric(t, reg, "picket_alerting_evaluations_total")
	waitFor(t, "evaluation to work again", func() bool { return metric(t, reg, "picket_alerting_evaluations_total") > evaluated })
	cancel()
	<-done
	if n := countLines(&logs, "WARN", "alert evaluation failed"); n != 1 {
		t.Errorf("%d warnings that evaluation failed during one outage, want 1:\n%s", n, logs.String())
	}
	if n := countLines(&logs, "INFO", "alert evaluation works again"); n != 1 {
		t.Errorf("%d lines that evaluation works again, want 1", n)
	}
}

// A leader whose lock session ended delivers nothing more, even when its
// delivery loop runs before its next evaluation notices: the replica that
// took the lock over delivers the outbox now, and both reading the same
// due notification before either marked it would notify the receiver
// twice. Before, the delivery loop went on sending until the evaluation
// loop stood down, up to an evaluate_every later.
func TestServiceLeaderThatLostItsLockDeliversNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newReplicas(t)
	url, l, h, stA, regA, regB, a, b := r.url, r.l, r.h, r.stA, r.regA, r.regB, r.a, r.b
	// The receiver fails the first attempt: the firing waits in the outbox
	// for its retry.
	h.answer(http.StatusOK, http.StatusServiceUnavailable)
	fired := fireOutage(l, stA, a, b)
	if got := h.statuses(); len(got) != 1 || got[0] != http.StatusServiceUnavailable {
		t.Fatalf("receiver answered %v, want one 503", got)
	}

	// a's lock session ends (a network blip, an idle-session timeout) while
	// its other connections live on.
	endLockSession(t, url)
	for deadline := time.Now().Add(15 * time.Second); metric(t, regB, "picket_alerting_leader") != 1; time.Sleep(50 * time.Millisecond) {
		if err := b.Tick(ctx); err != nil {
			t.Logf("b's tick: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatal("b did not take over")
		}
	}
	// The retry falls due; a's delivery loop runs before its evaluation.
	l.mu.Lock()
	l.now = l.now.Add(10 * time.Second)
	l.mu.Unlock()
	if err := a.deliver(ctx); err != nil {
		t.Logf("a's delivery after losing its lock: %v", err)
	}
	if err := b.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	got := h.delivered()
	if len(got) != 1 {
		for _, d := range h.all() {
			t.Logf("delivered %d: %s %s at %v", d.status, d.payload.Status, d.payload.DedupKey, d.payload.At)
		}
		t.Fatalf("the firing was delivered %d times, want once (statuses %v)", len(got), h.statuses())
	}
	checkOutage(t, got[0], "firing", fired, fired)
	if sa := metric(t, regA, "picket_notifications_total", "outcome", "sent"); sa != 0 {
		t.Errorf("a sent %v notifications after losing its lock", sa)
	}
}
