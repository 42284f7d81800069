package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/picketnet/picket/checks"
	"github.com/picketnet/picket/checks/targetpolicy"
	"github.com/picketnet/picket/collector/endpointspec"
	"github.com/picketnet/picket/internal/outagelog"
	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/vantage"
)

// The default bounds of how often one team's checks run at each vantage
// (Options.MaxTeamRunsPerSecond, MaxTargetRunsPerSecond): 200 a second
// is 2,000 checks every 10 s; 20 against one host is 200 paths of one
// API checked every 10 s.
const (
	DefaultTeamRunsPerSecond   = 200
	DefaultTargetRunsPerSecond = 20
)

// Options configure a Server. Store and Kinds are required.
type Options struct {
	Store results.Store
	// Kinds validates check specs at registration (checks/all.New()).
	Kinds *checks.Registry
	// AdminToken is the operator's token (see EnsureAdminToken).
	AdminToken string
	// Policy is the targets policy, checked at registration and handed to
	// probers in their assignments.
	Policy targetpolicy.Policy
	// AllowCAFiles lets registered endpoints name CA files (ca_file) on
	// the probers' disks. Off by default: a team must not choose which
	// files a prober reads, and its roots can travel inline (ca_pem).
	AllowCAFiles bool
	// Resolver resolves endpoint targets for the policy; nil is the
	// system resolver.
	Resolver *net.Resolver
	// HeartbeatEvery is the heartbeat interval asked of probers.
	HeartbeatEvery time.Duration
	// MaxTeamEndpoints bounds the endpoints a team token may give its
	// team, over all its applies (default endpointspec.MaxEndpoints):
	// without it, applies without prune add up, and one team could load
	// every prober of the network with checks. The admin token is not
	// bound.
	MaxTeamEndpoints int
	// MaxTeamRunsPerSecond bounds how often a team's checks run at each
	// vantage, all together (default 200 a second), and
	// MaxTargetRunsPerSecond how often against one target host (default
	// 20): without them, a team could point every prober of the network
	// at one address at 1 s intervals. The admin token is not bound.
	MaxTeamRunsPerSecond, MaxTargetRunsPerSecond float64
	// Retention is applied periodically by RunMaintenance.
	Retention results.Retention
	// PublicMetrics serves /metrics without the admin token.
	PublicMetrics bool
	// MaxProbeSeries and ProbeSeriesTTL bound the per-check gauges.
	MaxProbeSeries int
	ProbeSeriesTTL time.Duration
	// IngestConcurrency is how many store transactions ingest may run at
	// once (default 2); batches arriving meanwhile are merged into the
	// next transaction, up to IngestGroupRecords records (default 20000).
	IngestConcurrency  int
	IngestGroupRecords int
	// MaxIngestBatches bounds the result batches decompressed and held at
	// once, from decompression until they are stored (default 16); more
	// wait, read but still compressed. A batch may take 16 MiB
	// decompressed and as much again parsed: without a bound, a few
	// hundred small gzip bodies posted at once (a vantage token is
	// enough) would take the collector's memory.
	MaxIngestBatches int
	// Metrics is the registry /metrics serves; New creates one when nil.
	// Other packages register their collectors on Server.Metrics().
	Metrics *prometheus.Registry
	// AlertValidator validates endpoints' alert settings; nil accepts the
	// fields of DESIGN.md §3 (endpointspec.DefaultAlert).
	AlertValidator endpointspec.AlertValidator
	Logger         *slog.Logger
	// Now returns the current time; tests replace it.
	Now func() time.Time
}

// Server is the collector's HTTP API.
type Server struct {
	opt       Options
	store     results.Store
	vantages  *vantage.Registry
	validator *endpointspec.Validator
	adminHash []byte
	mux       *http.ServeMux
	metrics   *metrics
	auth      *authCache
	commits   *committer
	checks    *registeredChecks
	// rawBodies and bodies hold the buffers of bodies as sent and as
	// decompressed: kept apart, a buffer grown for one kind is not grown
	// again for the other, several times the size.
	rawBodies, bodies bodyBuffers
	// ingestSlots holds a token per batch in hand (MaxIngestBatches).
	ingestSlots chan struct{}
	health      *outagelog.Log
	log         *slog.Logger
}

// New returns a server; it does not listen (see Serve, Handler).
func New(opt Options) (*Server, error) {
	if opt.Store == nil || opt.Kinds == nil {
		return nil, errors.New("collector: Options.Store and Options.Kinds are required")
	}
	if opt.AdminToken == "" {
		return nil, errors.New("collector: no admin token")
	}
	if opt.HeartbeatEvery <= 0 {
		opt.HeartbeatEvery = 30 * time.Second
	}
	if opt.MaxTeamEndpoints <= 0 {
		opt.MaxTeamEndpoints = endpointspec.MaxEndpoints
	}
	if opt.MaxTeamRunsPerSecond <= 0 {
		opt.MaxTeamRunsPerSecond = DefaultTeamRunsPerSecond
	}
	if opt.MaxTargetRunsPerSecond <= 0 {
		opt.MaxTargetRunsPerSecond = DefaultTargetRunsPerSecond
	}
	if opt.Metrics == nil {
		opt.Metrics = prometheus.NewRegistry()
	}
	if opt.MaxProbeSeries <= 0 {
		opt.MaxProbeSeries = 100000
	}
	if opt.ProbeSeriesTTL <= 0 {
		opt.ProbeSeriesTTL = 15 * time.Minute
	}
	if opt.IngestConcurrency <= 0 {
		opt.IngestConcurrency = 2
	}
	if opt.MaxIngestBatches <= 0 {
		opt.MaxIngestBatches = 16
	}
	if opt.IngestGroupRecords <= 0 {
		opt.IngestGroupRecords = 4 * results.MaxBatchRecords
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	s := &Server{
		opt:         opt,
		store:       opt.Store,
		vantages:    vantage.NewRegistry(opt.Store, opt.HeartbeatEvery),
		adminHash:   vantage.HashToken(opt.AdminToken),
		mux:         http.NewServeMux(),
		auth:        newAuthCache(opt.Now),
		ingestSlots: make(chan struct{}, opt.MaxIngestBatches),
		health: &outagelog.Log{Logger: opt.Logger, Level: slog.LevelError, Now: opt.Now,
			Failed: "store failing; requests that need it are answered 5xx until it answers again (further failures are counted, not logged)",
			Back:   "store answering again"},
		log: opt.Logger,
	}
	s.vantages.Now = opt.Now
	policy := opt.Policy
	s.validator = &endpointspec.Validator{Kinds: opt.Kinds, Policy: &policy, Resolver: opt.Resolver, Alert: opt.AlertValidator, AllowLocalFiles: opt.AllowCAFiles}
	backlog, _ := opt.Store.(pendingRollups)
	m, err := newMetrics(opt.Metrics, opt.MaxProbeSeries, opt.ProbeSeriesTTL, opt.Now, backlog)
	if err != nil {
		return nil, fmt.Errorf("collector: register metrics: %w", err)
	}
	s.metrics = m
	s.commits = newCommitter(opt.Store, opt.IngestConcurrency, opt.IngestGroupRecords, func(n int, d time.Duration) {
		m.storeSeconds.WithLabelValues("ingest").Observe(d.Seconds())
		m.commitRecords.Observe(float64(n))
	})
	s.checks = newRegisteredChecks(func(ctx context.Context) ([]results.Endpoint, error) { return opt.Store.Endpoints(ctx, "") },
		func(d time.Duration) { m.storeSeconds.WithLabelValues("registered_checks").Observe(d.Seconds()) }, opt.Logger)
	s.routes()
	return s, nil
}

// Metrics is the registry /metrics serves.
func (s *Server) Metrics() *prometheus.Registry { return s.opt.Metrics }

// Vantages is the vantage registry the server uses.
func (s *Server) Vantages() *vantage.Registry { return s.vantages }

// Handle mounts h on the server's mux (net/http pattern syntax), for the
// handlers of other packages: alerts, NEL reports, the dashboard.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

func (s *Server) routes() {
	s.mux.Handle("/v1/results", methods{http.MethodPost: s.vantageAuth(s.handleResults)})
	s.mux.Handle("/v1/heartbeat", methods{http.MethodPost: s.vantageAuth(s.handleHeartbeat)})
	s.mux.Handle("/v1/assignments", methods{http.MethodGet: s.vantageAuth(s.handleAssignments)})
	s.mux.Handle("/v1/endpoints", methods{
		http.MethodGet:    s.teamAuth(s.handleListEndpoints),
		http.MethodPost:   s.teamAuth(s.handleApplyEndpoints),
		http.MethodDelete: s.teamAuth(s.handleDeleteEndpoint),
	})
	s.mux.Handle("/v1/endpoints/{name}", methods{
		http.MethodGet:    s.teamAuth(s.handleGetEndpoint),
		http.MethodDelete: s.teamAuth(s.handleDeleteEndpoint),
	})
	s.mux.Handle("/v1/vantages", methods{
		http.MethodGet:  s.teamAuth(s.handleListVantages),
		http.MethodPost: s.adminAuth(s.handleEnrolVantage),
	})
	s.mux.Handle("/v1/vantages/{id}", methods{http.MethodDelete: s.adminAuth(s.handleRemoveVantage)})
	s.mux.Handle("/v1/vantages/{id}/token", methods{http.MethodPost: s.adminAuth(s.handleRotateVantageToken)})
	s.mux.Handle("/v1/teams", methods{
		http.MethodGet:  s.adminAuth(s.handleListTeams),
		http.MethodPost: s.adminAuth(s.handleCreateTeam),
	})
	s.mux.Handle("/v1/teams/{name}", methods{http.MethodDelete: s.adminAuth(s.handleRemoveTeam)})
	s.mux.Handle("/v1/teams/{name}/token", methods{http.MethodPost: s.adminAuth(s.handleRotateTeamToken)})
	s.mux.Handle("/v1/reports/availability", methods{http.MethodGet: s.teamAuth(s.handleAvailability)})
	s.mux.Handle("/metrics", methods{http.MethodGet: s.metricsHandler()})
	s.mux.Handle("/healthz", methods{http.MethodGet: http.HandlerFunc(s.handleHealthz)})
	s.mux.Handle("/readyz", methods{http.MethodGet: http.HandlerFunc(s.handleReadyz)})
}

// ServeHTTP answers unknown paths with a JSON 404 and passes the rest to
// the mux.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := s.mux.Handler(r); pattern == "" {
		s.writeError(w, r, http.StatusNotFound, apiErr(codeNotFound, "no such API path %s", r.URL.Path))
		return
	}
	s.mux.ServeHTTP(w, r)
}

// Serve answers HTTP on ln until ctx is done, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shut); err != nil {
		return fmt.Errorf("collector: shutdown: %w", err)
	}
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// RunMaintenance applies retention now and then every interval until ctx
// is done. Across replicas sharing a store only the holder of the
// "retention" lock does the work.
func (s *Server) RunMaintenance(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s.maintainOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Server) maintainOnce(ctx context.Context) {
	if s.opt.Retention == (results.Retention{}) {
		return
	}
	unlock, ok, err := s.store.TryLock(ctx, "retention")
	if err != nil {
		s.log.Warn("retention: lock", "err", err)
		return
	}
	if !ok {
		return
	}
	defer unlock()
	start := time.Now()
	if err := s.store.ApplyRetention(ctx, s.opt.Retention, s.opt.Now()); err != nil {
		s.log.Warn("retention", "err", err)
		return
	}
	s.metrics.storeSeconds.WithLabelValues("retention").Observe(time.Since(start).Seconds())
}

// methods dispatches by HTTP method and answers others with a JSON 405.
type methods map[string]http.Handler

func (m methods) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, ok := m[r.Method]
	if !ok && r.Method == http.MethodHead {
		h, ok = m[http.MethodGet]
	}
	if !ok {
		allow := slices.Sorted(maps.Keys(m))
		if _, get := m[http.MethodGet]; get {
			allow = append(allow, http.MethodHead)
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeJSON(w, http.StatusMethodNotAllowed, apiErr(codeMethod, "method %s not allowed on %s; allowed: %s",
			r.Method, r.URL.Path, strings.Join(allow, ", ")).body())
		return
	}
	h.ServeHTTP(w, r)
}

func (s *Server) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReadyz is ready when the store answers. Anyone may ask, so the
// store's error, which names its host, port, user and database, goes to
// the log (once per outage), not into the answer.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if _, err := s.store.Teams(ctx); err != nil {
		s.health.Fail(1, err, "op", "readyz")
		s.writeError(w, r, http.StatusServiceUnavailable, apiErr(codeUnavailable, "store not ready; see the collector's log"))
		return
	}
	s.health.OK()
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
