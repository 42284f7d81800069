package prober_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/picketnet/picket/checks/all"
	"github.com/picketnet/picket/collector"
	"github.com/picketnet/picket/collector/api"
	"github.com/picketnet/picket/collector/client"
	"github.com/picketnet/picket/internal/syncbuf"
	"github.com/picketnet/picket/prober"
	"github.com/picketnet/picket/prober/spool"
	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/results/sqlite"
	"github.com/picketnet/picket/vantage"
)

// realCollector serves the real collector API over a SQLite store on a
// fixed address, and can be stopped and started again on it.
type realCollector struct {
	t     *testing.T
	store results.Store
	addr  string
	stop  context.CancelFunc
	done  chan error
}

func (c *realCollector) start() {
	c.t.Helper()
	srv, err := collector.New(collector.Options{
		Store: c.store, Kinds: all.New(), AdminToken: "admin-token", HeartbeatEvery: time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		c.t.Fatal(err)
	}
	var ln net.Listener
	for range 50 {
		if ln, err = net.Listen("tcp", c.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		c.t.Fatal(err)
	}
	c.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	c.stop, c.done = cancel, make(chan error, 1)
	go func() { c.done <- srv.Serve(ctx, ln) }()
}

func (c *realCollector) shutdown() {
	if c.stop != nil {
		c.stop()
		<-c.done
		c.stop = nil
	}
}

func gauge(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAgainstTheRealCollector enrols a vantage and an endpoint through
// the collector's API, runs a prober against it, takes the collector down
// and brings it back, and checks that the store holds every result the
// prober produced exactly once, stamped as the collector expects.
func TestAgainstTheRealCollector(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	lab := newCollectorLab(t)
	store, col, url, admin, enrolled := lab.store, lab.col, lab.url, lab.admin, lab.enrolled
	lab.tcpEndpoints(t, "all", "api")

	dir := t.TempDir()
	logs := &syncbuf.Buffer{}
	p, stopProber := runProber(t, prober.Config{Collectors: []string{url}, Token: enrolled.Token, SpoolDir: dir}, prober.WithVersion("e2e"), prober.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))

	stored := func() []results.Result {
		rs, err := store.Query(ctx, results.ResultQuery{Vantage: "hel1-e2e", Limit: 100000})
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	until(t, "results in the store", func() bool { return len(stored()) >= 3 })
	until(t, "a heartbeat", func() bool {
		vs, err := admin.Vantages(ctx)
		return err == nil && len(vs) == 1 && vs[0].Version == "e2e" && !vs[0].LastHeartbeat.IsZero()
	})

	col.shutdown()
	until(t, "a backlog in the spool", func() bool { return gauge(t, p.Gatherer(), "picket_prober_spool_records") >= 3 })
	col.start()
	until(t, "the backlog to drain", func() bool { return gauge(t, p.Gatherer(), "picket_prober_spool_records") == 0 })
	stopProber()
	// The outage, retried many times, is one line when it starts and one
	// when it ends.
	for msg, want := range map[string]int{
		`msg="results not delivered; kept in the spool"`:           1,
		`msg="results not delivered; kept in the spool: resolved"`: 1,
	} {
		if lines := logs.Lines(msg); len(lines) != want {
			t.Errorf("%d lines with %s, want %d:\n%s", len(lines), msg, want, strings.Join(lines, "\n"))
		}
	}

	produced := int(gauge(t, p.Gatherer(), "picket_prober_checks_run_total"))
	sp, err := spool.Open(spool.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	left := int(sp.Stats().Records)
	sp.Close()
	rs := stored()
	ids := map[string]bool{}
	for _, r := range rs {
		if ids[r.ID] {
			t.Fatalf("result %s stored twice", r.ID)
		}
		ids[r.ID] = true
		if r.Check != "api/tcp" || r.Team != "payments" || r.Endpoint != "api" || r.Region != "eu-central" || r.ASN != 24940 || !r.OK {
			t.Fatalf("stored result %+v", r)
		}
	}
	if len(rs)+left != produced {
		t.Fatalf("produced %d results: %d stored + %d still spooled", produced, len(rs), left)
	}
}

// TestSpooledResultsForADeletedEndpoint: results a prober spooled for an
// endpoint that was deleted before they could be delivered are rejected by
// the collector, and the prober drops them instead of sending them again
// and again; the rest of its batches is stored as before.
func TestSpooledResultsForADeletedEndpoint(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	lab := newCollectorLab(t)
	store, col, url, enrolled := lab.store, lab.col, lab.url, lab.enrolled
	lab.tcpEndpoints(t, "all", "api", "web")
	logs := &syncbuf.Buffer{}
	p, stopProber := runProber(t, prober.Config{Collectors: []string{url}, Token: enrolled.Token}, prober.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	stored := func(endpoint string, since time.Time) int {
		rs, err := store.Query(ctx, results.ResultQuery{Vantage: "hel1-e2e", Endpoint: endpoint, Since: since, Limit: 100000})
		if err != nil {
			t.Fatal(err)
		}
		return len(rs)
	}
	until(t, "results of both endpoints in the store", func() bool { return stored("api", time.Time{}) > 0 && stored("web", time.Time{}) > 0 })

	// The collector goes away; meanwhile api is deleted (as on another
	// replica) and the prober spools results of both endpoints.
	col.shutdown()
	outage := time.Now()
	until(t, "a backlog in the spool", func() bool { return gauge(t, p.Gatherer(), "picket_prober_spool_records") >= 6 })
	if err := store.DeleteEndpoint(ctx, "payments", "api"); err != nil {
		t.Fatal(err)
	}
	col.start()
	until(t, "the backlog to drain", func() bool { return gauge(t, p.Gatherer(), "picket_prober_spool_records") == 0 })
	stopProber()

	dropped := int(gauge(t, p.Gatherer(), "picket_prober_results_dropped_total"))
	if dropped == 0 {
		t.Error("no result dropped, want the spooled results of the deleted endpoint rejected and dropped")
	}
	// One line for the burst, naming a reason, not one per result.
	if lines := logs.Lines(`msg="collector rejected results; dropped"`); len(lines) != 1 ||
		!strings.Contains(lines[0], `has no registered endpoint \"api\"`) {
		t.Errorf("log lines about the rejected results:\n%s\nwant one naming the reason", strings.Join(lines, "\n"))
	}
	if n := stored("api", outage); n != 0 {
		t.Errorf("%d results of the deleted endpoint made during the outage stored, want none", n)
	}
	if stored("web", outage) == 0 {
		t.Error("no result of web made during the outage stored: the rest of the batches was lost")
	}
	produced := int(gauge(t, p.Gatherer(), "picket_prober_checks_run_total"))
	if all := stored("", time.Time{}); all+dropped != produced {
		t.Errorf("produced %d results: %d stored + %d dropped", produced, all, dropped)
	}
}

// TestEnrolmentWinsOverProberYAML: a prober whose prober.yaml names
// another region and provider than the operator enrolled it with (a typo)
// still has every result stored, under the enrolment, instead of having
// each one refused and dropped; its heartbeats say what is wrong.
func TestEnrolmentWinsOverProberYAML(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	lab := newCollectorLab(t)
	lab.tcpEndpoints(t, "eu-central", "api")
	p, stopProber := runProber(t, prober.Config{
		// Enrolled as eu-central, hetzner.
		Identity:   vantage.Identity{ID: "hel1-e2e", Region: "eu-centrl", Provider: "Hetzner", ASN: 24940},
		Collectors: []string{lab.url}, Token: lab.enrolled.Token,
	})
	g := p.Gatherer()
	until(t, "three results delivered or dropped", func() bool {
		return gauge(t, g, "picket_prober_checks_run_total") >= 3 && gauge(t, g, "picket_prober_spool_records") == 0
	})
	if dropped := gauge(t, g, "picket_prober_results_dropped_total"); dropped != 0 {
		t.Fatalf("%v results dropped, want none", dropped)
	}
	until(t, "a heartbeat naming the mismatch", func() bool {
		vs, err := lab.admin.Vantages(ctx)
		return err == nil && len(vs) == 1 && strings.Contains(vs[0].LastError, `"eu-centrl"`)
	})
	stopProber()

	if dropped := gauge(t, g, "picket_prober_results_dropped_total"); dropped != 0 {
		t.Errorf("%v results dropped, want none", dropped)
	}
	rs, err := lab.store.Query(ctx, results.ResultQuery{Vantage: "hel1-e2e", Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	if produced := int(gauge(t, g, "picket_prober_checks_run_total")); len(rs) != produced {
		t.Errorf("produced %d results, %d stored", produced, len(rs))
	}
	for _, r := range rs {
		if r.Region != "eu-central" || r.Provider != "hetzner" {
			t.Fatalf("stored result of region %q, provider %q; want the enrolment's eu-central, hetzner", r.Region, r.Provider)
		}
	}
}

// TestReplacedTokenIsReadAgain: the operator replaces a vantage's token
// (picket vantages token) and writes the new one to the prober's token
// file; the prober, refused, reads the file again and carries on with
// the new token, without a restart and without losing a result.
func TestReplacedTokenIsReadAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	lab := newCollectorLab(t)
	lab.tcpEndpoints(t, "all", "api")
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(lab.enrolled.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p, stopProber := runProber(t, prober.Config{Collectors: []string{lab.url}, Token: lab.enrolled.Token, TokenFile: tokenFile, SpoolDir: dir})
	g := p.Gatherer()
	stored := func(since time.Time) int {
		rs, err := lab.store.Query(ctx, results.ResultQuery{Vantage: "hel1-e2e", Since: since, Limit: 100000})
		if err != nil {
			t.Fatal(err)
		}
		return len(rs)
	}
	until(t, "results in the store", func() bool { return stored(time.Time{}) >= 2 })

	rotated, err := lab.admin.RotateVantageToken(ctx, "hel1-e2e")
	if err != nil {
		t.Fatal(err)
	}
	until(t, "the old token refused", func() bool { return gauge(t, g, "picket_prober_ship_failures_total") > 0 })
	if err := os.WriteFile(tokenFile, []byte(rotated.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	written := time.Now()
	until(t, "results made after the new token was written stored", func() bool { return stored(written) >= 2 })
	until(t, "the backlog to drain", func() bool { return gauge(t, g, "picket_prober_spool_records") == 0 })
	stopProber()
	if d := gauge(t, g, "picket_prober_results_dropped_total"); d != 0 {
		t.Errorf("%v results dropped", d)
	}
	if produced := int(gauge(t, g, "picket_prober_checks_run_total")); stored(time.Time{}) != produced {
		t.Errorf("produced %d results, stored %d", produced, stored(time.Time{}))
	}
}

// collectorLab is a real collector on a SQLite store, with team payments,
// vantage hel1-e2e enrolled, and a TCP target that accepts and closes.
type collectorLab struct {
	store       *sqlite.Store
	col         *realCollector
	url         string
	admin, team *client.Client
	enrolled    api.VantageEnrolled
	target      string
}

func newCollectorLab(t *testing.T) *collectorLab {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "picket.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	col := &realCollector{t: t, store: store, addr: "127.0.0.1:0"}
	col.start()
	t.Cleanup(col.shutdown)
	lab := &collectorLab{store: store, col: col, url: "http://" + col.addr}
	if lab.admin, err = client.New(lab.url, "admin-token", nil); err != nil {
		t.Fatal(err)
	}
	team, err := lab.admin.CreateTeam(ctx, "payments")
	if err != nil {
		t.Fatal(err)
	}
	if lab.team, err = client.New(lab.url, team.Token, nil); err != nil {
		t.Fatal(err)
	}
	if lab.enrolled, err = lab.admin.EnrolVantage(ctx, api.EnrolVantage{ID: "hel1-e2e", Region: "eu-central", Provider: "hetzner", ASN: 24940}); err != nil {
		t.Fatal(err)
	}
	lab.target = prober.Listener(t)
	return lab
}

// runProber makes a prober of cfg, the test defaults filled in (a
// vantage hel1-e2e in eu-central, short polls and backoffs, no
// discovery), runs it, and returns it with a stop that waits for Run to
// return and reports its error. The test's cleanup stops it too.
func runProber(t *testing.T, cfg prober.Config, opts ...prober.Option) (*prober.Prober, func()) {
	t.Helper()
	if cfg.Identity.ID == "" {
		cfg.Identity = vantage.Identity{ID: "hel1-e2e", Region: "eu-central", Provider: "hetzner", ASN: 24940}
	}
	if cfg.SpoolDir == "" {
		cfg.SpoolDir = t.TempDir()
	}
	cfg.Discovery = &vantage.Discovery{Disabled: true}
	cfg.PollEvery, cfg.BatchLinger = 200*time.Millisecond, 50*time.Millisecond
	cfg.BackoffMin, cfg.BackoffMax = 50*time.Millisecond, 300*time.Millisecond
	p, err := prober.New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return p, stop
}

// tcpEndpoints registers, for the lab's team, endpoints named names with
// one tcp check every second of the lab's target, in region ("all" for
// every one).
func (l *collectorLab) tcpEndpoints(t *testing.T, region string, names ...string) {
	t.Helper()
	var eps []results.Endpoint
	for _, n := range names {
		eps = append(eps, results.Endpoint{Name: n, Target: l.target, Regions: []string{region},
			Checks: []json.RawMessage{json.RawMessage(`{"kind":"tcp","interval":"1s"}`)}})
	}
	if _, err := l.team.ApplyEndpoints(context.Background(), "", api.ApplyEndpoints{Endpoints: eps}); err != nil {
		t.Fatal(err)
	}
}
