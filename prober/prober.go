package prober

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/picketnet/picket/checks"
	"github.com/picketnet/picket/checks/all"
	"github.com/picketnet/picket/checks/targetpolicy"
	"github.com/picketnet/picket/internal/outagelog"
	"github.com/picketnet/picket/netpath"
	"github.com/picketnet/picket/prober/spool"
	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/scheduler"
	"github.com/picketnet/picket/vantage"
)

// Option changes how New builds a prober.
type Option func(*Prober)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(p *Prober) { p.log = l } }

// WithChecks sets the registry of check kinds (default checks/all.New()).
func WithChecks(r *checks.Registry) Option { return func(p *Prober) { p.kinds = r } }

// WithHTTPClient sets the client used to talk to collectors.
func WithHTTPClient(c *http.Client) Option { return func(p *Prober) { p.hc = c } }

// WithVersion sets the version reported in heartbeats and the User-Agent.
func WithVersion(v string) Option { return func(p *Prober) { p.version = v } }

// WithRegistry registers the prober's metrics on reg instead of a
// registry of its own (the quickstart shares one with the collector).
func WithRegistry(reg *prometheus.Registry) Option { return func(p *Prober) { p.reg = reg } }

// Prober is the agent. Build it with New and start it with Run.
type Prober struct {
	cfg     Config
	log     *slog.Logger
	kinds   *checks.Registry
	hc      *http.Client
	version string
	reg     *prometheus.Registry
	m       *metrics

	identMu sync.Mutex // serialises changes to ident
	ident   atomic.Pointer[vantage.Identity]
	public  atomic.Pointer[netip.Addr]
	policy  atomic.Pointer[targetpolicy.Policy]
	hbEvery atomic.Int64 // time.Duration

	sched *scheduler.Scheduler
	coll  *collectors

	spoolMu sync.Mutex
	spool   *spool.Spool

	errMu       sync.Mutex
	lastErr     map[string]string // component -> error
	seenDropped int64             // spool drops already reported in a heartbeat
	clockOff    bool              // the clock offset is being reported

	// One log line per problem, not one per result, batch or retry.
	appendTrouble, rejections, shipTrouble, assignTrouble *outagelog.Log

	metricsAddr atomic.Pointer[string]
	ran         atomic.Bool
}

// New checks cfg and builds a prober. Nothing starts until Run.
func New(cfg Config, opts ...Option) (*Prober, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("prober config: %w", err)
	}
	p := &Prober{cfg: cfg, version: "dev", lastErr: map[string]string{}}
	for _, o := range opts {
		o(p)
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.appendTrouble = &outagelog.Log{Logger: p.log, Level: slog.LevelError, Failed: "results not spooled; dropped", Back: "results not spooled; dropped" + ": resolved", Remind: time.Minute}
	p.rejections = &outagelog.Log{Logger: p.log, Level: slog.LevelError, Failed: "collector rejected results; dropped", Back: "collector rejected results; dropped" + ": resolved", Remind: time.Minute}
	p.shipTrouble = &outagelog.Log{Logger: p.log, Level: slog.LevelError, Failed: "results not delivered; kept in the spool", Back: "results not delivered; kept in the spool" + ": resolved", Remind: time.Minute}
	p.assignTrouble = &outagelog.Log{Logger: p.log, Level: slog.LevelError, Failed: "assignment not fetched; keeping the current one", Back: "assignment not fetched; keeping the current one" + ": resolved", Remind: time.Minute}
	asns := &netpath.Resolver{DNS: &netpath.Cymru{Server: cfg.ASNServer}}
	if cfg.ASNDB != "" {
		table, err := netpath.LoadTable(strings.Split(cfg.ASNDB, ",")...)
		if err != nil {
			return nil, fmt.Errorf("prober config: asn_db: %w", err)
		}
		asns.Table = table
	}
	d := vantage.Discovery{}
	if p.cfg.Discovery != nil {
		d = *p.cfg.Discovery
	}
	if d.ASNs == nil {
		d.ASNs = asns
	}
	p.cfg.Discovery = &d
	if p.kinds == nil {
		p.kinds = all.WithASNs(asns)
	}
	if p.hc == nil {
		p.hc = &http.Client{Transport: &http.Transport{
			Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true,
			MaxIdleConnsPerHost: 4, IdleConnTimeout: 90 * time.Second, TLSHandshakeTimeout: 10 * time.Second,
		}}
	}
	own := p.reg == nil
	if own {
		p.reg = prometheus.NewRegistry()
	}
	id := cfg.Identity
	p.ident.Store(&id)
	p.hbEvery.Store(int64(cfg.HeartbeatEvery))
	p.policy.Store(&targetpolicy.Policy{})
	sched, err := scheduler.New(scheduler.Options{
		Seed:        cfg.Identity.ID,
		Concurrency: cfg.Concurrency,
		Hooks: scheduler.Hooks{
			Started: func(_ string, lag time.Duration) { p.m.lag.Observe(lag.Seconds()) },
			Skipped: func(key string) {
				p.m.skipped.Inc()
				p.log.Debug("run skipped: previous run still going", "check", key)
			},
		},
	})
	if err != nil {
		return nil, err
	}
	p.sched = sched
	p.m = newMetrics(p.reg, own, p)
	p.coll = newCollectors(p.cfg, p.hc, "picket-prober/"+p.version, p.log, func(collector, path, outcome string) {
		p.m.requests.WithLabelValues(collector, path, outcome).Inc()
	})
	return p, nil
}

// Gatherer exposes the prober's metrics.
func (p *Prober) Gatherer() prometheus.Gatherer { return p.reg }

// MetricsAddr is the address the metrics endpoint listens on, once Run
// has started it ("" before, or when none is configured).
func (p *Prober) MetricsAddr() string {
	if a := p.metricsAddr.Load(); a != nil {
		return *a
	}
	return ""
}

func (p *Prober) spoolStats() spool.Stats {
	p.spoolMu.Lock()
	s := p.spool
	p.spoolMu.Unlock()
	if s == nil {
		return spool.Stats{}
	}
	return s.Stats()
}

// setErr records the latest error of a component for heartbeats; nil
// clears it.
func (p *Prober) setErr(component string, err error) {
	p.errMu.Lock()
	defer p.errMu.Unlock()
	if err == nil {
		delete(p.lastErr, component)
		return
	}
	p.lastErr[component] = err.Error()
}

// lastError lists the components' current errors, the most urgent
// first, cut to what a heartbeat may carry: a longer one would have the
// heartbeat refused and the vantage shown missing.
func (p *Prober) lastError() string {
	p.errMu.Lock()
	defer p.errMu.Unlock()
	var parts []string
	for _, c := range []string{"ship", "assignments", "spool", "spool_full", "spool_read", "clock", "identity", "heartbeat"} {
		if e, ok := p.lastErr[c]; ok {
			parts = append(parts, c+": "+e)
		}
	}
	return truncate(strings.Join(parts, "; "), results.MaxMessageBytes)
}

// truncate cuts s to at most n bytes, at a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const ellipsis = "…"
	cut := n - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}

// Run runs the prober until ctx ends, then shuts down gracefully: it
// stops scheduling, lets running checks finish for up to ShutdownGrace,
// and leaves every unacknowledged result in the spool. A Prober runs once.
func (p *Prober) Run(ctx context.Context) error {
	if !p.ran.CompareAndSwap(false, true) {
		return errors.New("prober: Run called twice")
	}
	unlock, err := lockDir(p.cfg.SpoolDir)
	if err != nil {
		return err
	}
	defer unlock()
	sp, err := spool.Open(spool.Options{
		Dir: p.cfg.SpoolDir, MaxBytes: p.cfg.SpoolMaxBytes, SyncEvery: p.cfg.SpoolSyncEvery, Logger: p.log,
	})
	if err != nil {
		return err
	}
	p.spoolMu.Lock()
	p.spool = sp
	p.spoolMu.Unlock()
	defer sp.Close()

	var wg sync.WaitGroup
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer func() { stopBG(); wg.Wait() }()

	if p.cfg.MetricsListen != "" {
		ln, err := net.Listen("tcp", p.cfg.MetricsListen)
		if err != nil {
			return fmt.Errorf("metrics_listen: %w", err)
		}
		addr := ln.Addr().String()
		p.metricsAddr.Store(&addr)
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(p.reg, promhttp.HandlerOpts{Registry: p.reg}))
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		wg.Add(1)
		go func() { defer wg.Done(); srv.Serve(ln) }()
		defer srv.Close()
	}

	p.sched.Start()
	var etag string
	if a, ok := p.loadCachedAssignment(); ok {
		p.log.Info("using the cached assignment until a collector answers", "checks", len(a.Checks))
		if err := p.apply(a); err == nil {
			etag = a.ETag
		} else {
			p.setErr("assignments", err)
		}
	}

	run := func(f func(context.Context)) {
		wg.Add(1)
		go func() { defer wg.Done(); f(bg) }()
	}
	run(func(ctx context.Context) { p.discover(ctx) })
	run(func(ctx context.Context) { p.pollAssignments(ctx, etag) })
	run(func(ctx context.Context) { p.heartbeats(ctx) })
	shipCtx, stopShip := context.WithCancel(bg)
	shipped := make(chan struct{})
	batches := &batcher{size: p.cfg.BatchSize, ceiling: p.cfg.BatchSize}
	go func() { defer close(shipped); p.ship(shipCtx, batches) }()
	p.log.Info("prober started", "vantage", p.cfg.Identity.ID, "collectors", p.cfg.Collectors, "spool", p.cfg.SpoolDir,
		"spooled", sp.Stats().Records)

	<-ctx.Done()
	p.log.Info("stopping: waiting for running checks", "running", p.sched.Running(), "grace", p.cfg.ShutdownGrace)
	grace, cancel := context.WithTimeout(context.Background(), p.cfg.ShutdownGrace)
	if err := p.sched.Stop(grace); err != nil {
		p.log.Warn("scheduler stop", "err", err)
	}
	cancel()
	// One last bounded attempt to deliver; whatever is left stays spooled.
	stopShip()
	<-shipped
	final, cancel := context.WithTimeout(context.Background(), min(2*time.Second, p.cfg.ShutdownGrace))
	p.drain(final, batches)
	cancel()
	if err := sp.Sync(); err != nil {
		p.log.Error("spool flush at exit", "err", err)
	}
	p.log.Info("prober stopped", "spooled", sp.Stats().Records)
	return nil
}

// lockDir takes an exclusive lock on dir so that two probers never share
// a spool. The kernel releases it when the process dies.
func lockDir(dir string) (func(), error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool dir: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("spool dir %s is in use by another prober: %w", dir, err)
	}
	return func() { f.Close() }, nil
}

// job turns an assigned check into a scheduler job.
func (p *Prober) job(ac vantage.AssignedCheck, parsed checks.Parsed) scheduler.Job {
	kind := parsed.Spec.Kind
	return scheduler.Job{
		Key:      ac.ID,
		Version:  checkVersion(ac),
		Interval: parsed.Spec.Interval.Std(),
		Timeout:  parsed.Spec.Timeout.Std(),
		Run: func(ctx context.Context) {
			res := parsed.Check.Run(ctx, checks.Env{Policy: p.policy.Load()})
			if errors.Is(context.Cause(ctx), scheduler.ErrStopped) {
				// Cut short by shutdown: not an observation of the target.
				return
			}
			p.record(ac, kind, res)
		},
	}
}

// checkVersion changes whenever anything that shapes a check's runs or
// records changes.
func checkVersion(ac vantage.AssignedCheck) string {
	b, _ := json.Marshal([]any{ac.Endpoint, ac.Team, ac.Target, json.RawMessage(ac.Spec)})
	return string(b)
}

// record stamps a finished run with its identity and spools it.
func (p *Prober) record(ac vantage.AssignedCheck, kind string, res results.Result) {
	id, err := uuid.NewV7()
	if err != nil {
		p.log.Error("make result id", "err", err)
		p.m.dropped.WithLabelValues("internal").Inc()
		return
	}
	ident := p.ident.Load()
	res.ID = id.String()
	res.Endpoint, res.Team, res.Check = ac.Endpoint, ac.Team, ac.ID
	res.Vantage, res.Region, res.Provider, res.ASN = ident.ID, ident.Region, ident.Provider, ident.ASN
	if res.Kind == "" {
		res.Kind = kind
	}
	if res.Target == "" {
		res.Target = ac.Target
	}
	data, err := json.Marshal(res)
	if err != nil {
		p.log.Error("encode result", "check", ac.ID, "err", err)
		p.m.dropped.WithLabelValues("internal").Inc()
		return
	}
	if err := p.spool.Append(spool.Record{ID: res.ID, Data: data}); err != nil {
		p.appendTrouble.Fail(1, err, "check", ac.ID)
		p.setErr("spool", err)
		p.m.dropped.WithLabelValues("spool_error").Inc()
		return
	}
	p.appendTrouble.OK()
	p.setErr("spool", nil)
	// Counted once spooled, so that checks_run_total never counts a
	// result the prober could lose.
	p.m.checksRun.WithLabelValues(res.Kind).Inc()
	p.m.runDuration.WithLabelValues(res.Kind).Observe(res.DurationMS / 1000)
	if !res.OK {
		layer := "unknown"
		if res.Error != nil {
			layer = string(res.Error.Layer)
		}
		p.m.checksFailed.WithLabelValues(res.Kind, layer).Inc()
	}
}
