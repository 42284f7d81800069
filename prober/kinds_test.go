package prober

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/picketnet/picket/checks"
	"github.com/picketnet/picket/checks/all"
	"github.com/picketnet/picket/internal/syncbuf"
	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/vantage"
)

// dialKind is a small real check kind for tests: one TCP connect to
// host:port.
type dialKind struct{}

func (dialKind) Name() string { return "dial" }

func (dialKind) Parse(target string, spec json.RawMessage) (checks.Check, error) {
	var o struct{}
	if err := checks.DecodeOptions(spec, &o); err != nil {
		return nil, err
	}
	if _, _, err := net.SplitHostPort(target); err != nil {
		return nil, checks.Errorf("target", "%v", err)
	}
	return dialCheck{target}, nil
}

type dialCheck struct{ target string }

func (c dialCheck) Run(ctx context.Context, _ checks.Env) results.Result {
	r := checks.Begin("dial", c.target)
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", c.target)
	if err != nil {
		r.Finish(time.Now(), results.Fail(results.LayerConnect, results.CodeRefused, "%v", err))
		return r
	}
	r.Addr = conn.RemoteAddr().String()
	conn.Close()
	r.Finish(time.Now(), nil)
	return r
}

// badKind produces records that break the record contract (an error
// code that is not in the fixed list), as a buggy kind might: the
// collector rejects them.
type badKind struct{}

func (badKind) Name() string { return "bad" }

func (badKind) Parse(target string, spec json.RawMessage) (checks.Check, error) {
	return badCheck{target}, nil
}

type badCheck struct{ target string }

func (c badCheck) Run(context.Context, checks.Env) results.Result {
	r := checks.Begin("bad", c.target)
	r.Finish(time.Now(), &results.Error{Layer: results.LayerHTTP, Code: "made_up"})
	return r
}

// holdKind runs for its "hold" duration (or until its context ends) and
// tracks how many runs of each check overlap.
type holdKind struct{ tr *tracker }

func (holdKind) Name() string { return "hold" }

func (k holdKind) Parse(target string, spec json.RawMessage) (checks.Check, error) {
	var o struct {
		Hold checks.Duration `json:"hold"`
		// Stubborn ignores the run's deadline, as a buggy kind might.
		Stubborn bool `json:"stubborn"`
	}
	if err := checks.DecodeOptions(spec, &o); err != nil {
		return nil, err
	}
	return holdCheck{target: target, hold: o.Hold.Std(), stubborn: o.Stubborn, tr: k.tr}, nil
}

type holdCheck struct {
	target   string
	hold     time.Duration
	stubborn bool
	tr       *tracker
}

func (c holdCheck) Run(ctx context.Context, _ checks.Env) results.Result {
	r := checks.Begin("hold", c.target)
	c.tr.enter(c.target)
	defer c.tr.leave(c.target)
	if c.stubborn {
		time.Sleep(c.hold)
		r.Finish(time.Now(), nil)
		return r
	}
	select {
	case <-time.After(c.hold):
		r.Finish(time.Now(), nil)
	case <-ctx.Done():
		r.Finish(time.Now(), results.Fail(results.LayerTimeout, results.CodeDeadline, "%v", context.Cause(ctx)))
	}
	return r
}

type tracker struct {
	mu     sync.Mutex
	active map[string]int
	most   map[string]int
	runs   map[string]int
}

func newTracker() *tracker {
	return &tracker{active: map[string]int{}, most: map[string]int{}, runs: map[string]int{}}
}

func (t *tracker) enter(k string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.active[k]++
	t.runs[k]++
	t.most[k] = max(t.most[k], t.active[k])
}

func (t *tracker) leave(k string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.active[k]--
}

// registry has the test kinds and the real tcp kind.
func registry(tr *tracker) *checks.Registry {
	tcp, ok := all.New().Lookup("tcp")
	kinds := []checks.Kind{dialKind{}, holdKind{tr}, badKind{}}
	if ok {
		kinds = append(kinds, tcp)
	}
	return checks.NewRegistry(kinds...)
}

// listener accepts and closes connections until the test ends: the
// target of dial and tcp checks.
func listener(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr().String()
}

// closedAddr is an address where nothing listens.
func closedAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func check(endpoint, kind, target, extra string) vantage.AssignedCheck {
	spec := fmt.Sprintf(`{"kind":%q,"interval":"1s","timeout":"800ms"%s}`, kind, extra)
	return vantage.AssignedCheck{ID: endpoint + "/" + kind, Endpoint: endpoint, Team: "payments", Target: target, Spec: json.RawMessage(spec)}
}

var testIdentity = vantage.Identity{ID: "hel1-test-a", Region: "eu-central", Provider: "hetzner", ASN: 24940}

type proberRun struct {
	p    *Prober
	done chan error
	stop context.CancelFunc
	logs *syncbuf.Buffer
	once sync.Once
}

// startProber runs a prober against the given collectors until the test
// ends or stop is called.
func startProber(t *testing.T, dir string, tr *tracker, mod func(*Config), urls ...string) *proberRun {
	t.Helper()
	cfg := Config{
		Identity: testIdentity, Collectors: urls, Token: "vantage-token", SpoolDir: dir,
		Discovery:   &vantage.Discovery{Disabled: true},
		PollEvery:   200 * time.Millisecond,
		BatchLinger: 50 * time.Millisecond, BatchSize: 50,
		BackoffMin: 50 * time.Millisecond, BackoffMax: 300 * time.Millisecond,
		ShutdownGrace: 2 * time.Second, HeartbeatEvery: 200 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	logs := &syncbuf.Buffer{}
	p, err := New(cfg, WithChecks(registry(tr)), WithVersion("test-1.0"),
		WithLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &proberRun{p: p, done: make(chan error, 1), stop: cancel, logs: logs}
	go func() { r.done <- p.Run(ctx) }()
	t.Cleanup(func() {
		r.shutdown(t)
		if t.Failed() {
			t.Logf("prober log:\n%s", logs.String())
		}
	})
	return r
}

// shutdown stops the prober and waits for Run to return.
func (r *proberRun) shutdown(t *testing.T) {
	t.Helper()
	r.once.Do(func() {
		r.stop()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("prober did not stop")
		}
	})
}

// metric sums the values of a metric family over its label sets.
func metric(t testing.TB, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	return metricLabelled(t, g, name, nil)
}

// metricLabelled sums a metric family's series whose labels include want.
func metricLabelled(t testing.TB, g prometheus.Gatherer, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if hasLabels(m, want) {
				sum += value(m)
			}
		}
	}
	return sum
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	for k, v := range want {
		if !slices.ContainsFunc(m.GetLabel(), func(lp *dto.LabelPair) bool { return lp.GetName() == k && lp.GetValue() == v }) {
			return false
		}
	}
	return true
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return 0
}
