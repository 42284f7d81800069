package collector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/picketnet/picket/alerting"
	"github.com/picketnet/picket/checks"
	"github.com/picketnet/picket/collector/config"
	"github.com/picketnet/picket/collector/dashboard"
	"github.com/picketnet/picket/nel"
	"github.com/picketnet/picket/netpath"
	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/results/sqlite"
	"github.com/picketnet/picket/vantage"
)

// OpenStore opens the store a collector.yaml "store:" setting names.
func OpenStore(ctx context.Context, spec string) (results.Store, error) {
	s, err := config.ParseStore(spec)
	if err != nil {
		return nil, err
	}
	switch s.Driver {
	case "sqlite":
		if dir := filepath.Dir(s.Path); dir != "" {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, fmt.Errorf("create store directory: %w", err)
			}
		}
		return sqlite.Open(ctx, s.Path)
	case "postgres":
		return openPostgres(ctx, s.URL)
	}
	return nil, fmt.Errorf("store %q: unknown driver", spec)
}

// Runtime is a collector started from its configuration: the store is
// open, the admin token exists and the listener is bound, but nothing is
// served until Serve, so that other packages can mount their handlers on
// Server first.
type Runtime struct {
	Config *config.Config
	Server *Server
	Store  results.Store
	// Listener is bound to Config.Listen (or the override given to Start).
	Listener net.Listener
	// AdminTokenCreated says the admin token file was made by this start.
	AdminTokenCreated bool
	// Alerts evaluates and notifies while Serve runs.
	Alerts *alerting.Service
}

// Start prepares a collector from cfg with the check kinds of kinds
// (checks/all.New() in the binary). listen, when not empty, replaces
// cfg.Listen (tests pass "127.0.0.1:0").
func Start(ctx context.Context, cfg *config.Config, kinds *checks.Registry, listen string, log *slog.Logger) (*Runtime, error) {
	if log == nil {
		log = slog.Default()
	}
	// The sections other packages read are checked before anything is
	// created, so that a mistake in them leaves no admin token or store
	// behind.
	sec, err := readSections(cfg)
	if err != nil {
		return nil, err
	}
	token, created, err := EnsureAdminToken(cfg.AdminTokenFile)
	if err != nil {
		return nil, err
	}
	for _, w := range AdminTokenWarnings(cfg.AdminTokenFile, token) {
		log.Warn(w, "file", cfg.AdminTokenFile)
	}
	st, err := OpenStore(ctx, cfg.Store)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	srv, err := New(Options{
		Store:                  st,
		Kinds:                  kinds,
		AdminToken:             token,
		Policy:                 cfg.Policy(),
		AllowCAFiles:           cfg.Targets.AllowCAFiles,
		HeartbeatEvery:         cfg.HeartbeatEvery.Std(),
		Retention:              cfg.ResultsRetention(),
		PublicMetrics:          cfg.Metrics.Public,
		MaxProbeSeries:         cfg.Metrics.MaxProbeSeries,
		ProbeSeriesTTL:         cfg.Metrics.ProbeSeriesTTL.Std(),
		AlertValidator:         alerting.ValidatePolicy,
		MaxTeamEndpoints:       cfg.Limits.TeamEndpoints,
		MaxIngestBatches:       cfg.Limits.IngestBatches,
		MaxTeamRunsPerSecond:   cfg.Limits.TeamRunsPerSecond,
		MaxTargetRunsPerSecond: cfg.Limits.TargetRunsPerSecond,
		Logger:                 log,
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	alerts, err := mountServices(cfg, sec, st, srv, token, log)
	if err != nil {
		st.Close()
		return nil, err
	}
	if listen == "" {
		listen = cfg.Listen
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("listen: %w", err)
	}
	return &Runtime{Config: cfg, Server: srv, Store: st, Listener: ln, AdminTokenCreated: created, Alerts: alerts}, nil
}

// sections are the parts of collector.yaml that other packages decode.
type sections struct {
	alerting alerting.YAMLConfig
	routes   []alerting.Route
	asns     *netpath.Resolver
}

// readSections decodes and checks the alerting and notifiers sections and
// loads asn_db. Errors name the file, the line and the setting.
func readSections(cfg *config.Config) (sections, error) {
	var sec sections
	if err := cfg.DecodeAlerting(&sec.alerting); err != nil {
		return sec, err
	}
	var notifiers []alerting.NotifierConfig
	if err := cfg.DecodeNotifiers(&notifiers); err != nil {
		return sec, err
	}
	routes, err := alerting.BuildRoutes(notifiers, os.Getenv)
	if ne := (*alerting.NotifierError)(nil); errors.As(err, &ne) {
		return sec, cfg.ErrorAt(ne.Path(), ne.Error(), ne)
	} else if err != nil {
		return sec, fmt.Errorf("%s: %w", cfg.File(), err)
	}
	sec.routes = routes
	if cfg.ASNDB != "" {
		table, err := netpath.LoadTable(strings.Split(cfg.ASNDB, ",")...)
		if err != nil {
			return sec, cfg.Errorf("asn_db", "%w", err)
		}
		sec.asns = &netpath.Resolver{Table: table}
	}
	return sec, nil
}

// mountServices composes what the collector serves beside its own API:
// the alerting service (evaluated by whichever replica holds its lock)
// with /v1/alerts and /v1/silences, the public NEL endpoint, and the
// dashboard at /.
func mountServices(cfg *config.Config, sec sections, st results.Store, srv *Server, adminToken string, log *slog.Logger) (*alerting.Service, error) {
	ycfg, routes, asns := sec.alerting, sec.routes, sec.asns
	alerts := alerting.NewService(st, ycfg.Config(), routes, alerting.Options{Logger: log, Registry: srv.Metrics(),
		ClientDetector: &alerting.NELDetector{Counts: st}})
	alerts.DashboardURL = ycfg.DashboardURL
	srv.MountAlerts(alerts)

	nelOpts := nel.Options{Store: st, Endpoints: st, Metrics: srv.Metrics(), Logger: log,
		MaxBodyBytes: int64(cfg.NEL.MaxBodyBytes), MaxReports: cfg.NEL.MaxReports,
		RatePerSecond: cfg.NEL.RatePerSecond, Burst: cfg.NEL.Burst, MaxNetworks: cfg.NEL.MaxNetworks,
		TrustedProxies: cfg.NEL.Proxies()}
	if asns != nil {
		nelOpts.ASN = asns
	}
	nelHandler, err := nel.NewHandler(nelOpts)
	if err != nil {
		// The settings were checked one by one (config.Parse); what is
		// left is how they combine, which is the nel section's.
		return nil, cfg.ErrorAt("nel", err.Error(), err)
	}
	srv.Handle("/v1/reports/nel", nelHandler)

	dash, err := dashboard.New(dashboard.Options{Store: st, Alerts: alerts, AdminToken: adminToken,
		HeartbeatEvery: cfg.HeartbeatEvery.Std(), Logger: log})
	if err != nil {
		return nil, err
	}
	srv.Handle("/", dash)
	return alerts, nil
}

// URL is the base URL of the bound listener.
func (rt *Runtime) URL() string { return "http://" + rt.Listener.Addr().String() }

// Serve serves until ctx is done, applies retention every 10 minutes,
// and closes the store at the end.
func (rt *Runtime) Serve(ctx context.Context) error {
	mctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		rt.Server.RunMaintenance(mctx, 10*time.Minute)
	}()
	alertsDone := make(chan struct{})
	go func() {
		defer close(alertsDone)
		if rt.Alerts != nil {
			_ = rt.Alerts.Run(mctx)
		}
	}()
	err := rt.Server.Serve(ctx, rt.Listener)
	cancel()
	<-done
	<-alertsDone
	return errors.Join(err, rt.Store.Close())
}

// EnsureLocalVantage returns the identity and token of the vantage that
// `picket up` runs in-process, enrolling it on first use and keeping its
// token in tokenFile (mode 0600): the store keeps only token hashes, so
// the file is how a restart finds the token again. When the saved token no
// longer works (the file is gone, or `picket vantages token` replaced it)
// but the vantage exists, it gets a new token: the vantage is this
// process's own, and its history stays under its id.
func (rt *Runtime) EnsureLocalVantage(ctx context.Context, tokenFile string, id vantage.Identity) (vantage.Identity, string, error) {
	if b, err := os.ReadFile(tokenFile); err == nil {
		var saved struct {
			ID    string `json:"id"`
			Token string `json:"token"`
		}
		if err := json.Unmarshal(b, &saved); err == nil && saved.Token != "" {
			if v, err := rt.Server.Vantages().Authenticate(ctx, saved.Token); err == nil {
				return vantage.Identity{ID: v.ID, Region: v.Region, Provider: v.Provider, ASN: v.ASN}, saved.Token, nil
			}
		}
	}
	_, token, err := rt.Server.Vantages().Enrol(ctx, id)
	if errors.Is(err, results.ErrConflict) {
		token, err = rt.Server.replaceVantageToken(ctx, id.ID)
	}
	if err != nil {
		return vantage.Identity{}, "", fmt.Errorf("local vantage %s: %w", id.ID, err)
	}
	v, err := rt.Server.Vantages().Authenticate(ctx, token)
	if err != nil {
		return vantage.Identity{}, "", fmt.Errorf("local vantage %s: %w", id.ID, err)
	}
	b, _ := json.Marshal(map[string]string{"id": v.ID, "token": token})
	if err := os.WriteFile(tokenFile, b, 0o600); err != nil {
		return vantage.Identity{}, "", fmt.Errorf("save local vantage token: %w", err)
	}
	return vantage.Identity{ID: v.ID, Region: v.Region, Provider: v.Provider, ASN: v.ASN}, token, nil
}
