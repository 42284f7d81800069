package collector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/picketnet/picket/checks"
	"github.com/picketnet/picket/checks/targetpolicy"
	"github.com/picketnet/picket/collector/api"
	"github.com/picketnet/picket/collector/client"
	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/results/sqlite/sqlitetest"
)

// probeKind is a check kind for these tests, so that they do not depend
// on the real kinds' options: {kind: probe, expect: {status: [200]}}, and
// a ca_file the check would read where it runs, as the real kinds do.
type probeKind struct{}

func (probeKind) Name() string { return "probe" }

func (probeKind) Parse(target string, raw json.RawMessage) (checks.Check, error) {
	var opts struct {
		Expect struct {
			Status []int `json:"status"`
		} `json:"expect"`
		CAFile string `json:"ca_file"`
	}
	if err := checks.DecodeOptions(raw, &opts); err != nil {
		return nil, err
	}
	for i, s := range opts.Expect.Status {
		if s < 100 || s > 599 {
			return nil, checks.Errorf(fmt.Sprintf("expect.status[%d]", i), "%d is not an HTTP status", s)
		}
	}
	return probeCheck{caFile: opts.CAFile}, nil
}

type probeCheck struct{ caFile string }

func (probeCheck) Run(context.Context, checks.Env) results.Result { return results.Result{} }

func (c probeCheck) LocalFiles() []string {
	if c.caFile == "" {
		return nil
	}
	return []string{c.caFile}
}

// storeOpener opens a fresh store for one test.
type storeOpener func(t *testing.T) results.Store

func openSQLite(t *testing.T) results.Store { return sqlitetest.Open(t) }

// env is a collector over a real store behind an httptest server.
type env struct {
	t     testing.TB
	srv   *Server
	hs    *httptest.Server
	store results.Store
	admin *client.Client
}

const testAdminToken = AdminTokenPrefix + "test-admin-token"

func newEnv(t *testing.T, open storeOpener, mutate ...func(*Options)) *env {
	t.Helper()
	return newEnvWith(t, open(t), mutate...)
}

// newEnvB is newEnv over SQLite for benchmarks.
func newEnvB(b *testing.B) *env {
	return newEnvWith(b, sqlitetest.Open(b))
}

func newEnvWith(t testing.TB, st results.Store, mutate ...func(*Options)) *env {
	opt := Options{
		Store:          st,
		Kinds:          checks.NewRegistry(probeKind{}),
		AdminToken:     testAdminToken,
		Policy:         targetpolicy.Policy{DenyPrivate: true},
		HeartbeatEvery: 10 * time.Second,
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, m := range mutate {
		m(&opt)
	}
	srv, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	// A record that misses the registered checks waits for a reload at
	// most reloadSpacing after the previous one; the tests that post such
	// records would spend seconds waiting. TestRegisteredChecksReloads and
	// TestIngestReadsRegisteredChecksRarely test the spacing itself.
	srv.checks.spacing = 20 * time.Millisecond
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	e := &env{t: t, srv: srv, hs: hs, store: st}
	e.admin = e.client(testAdminToken)
	return e
}

func (e *env) client(token string) *client.Client {
	e.t.Helper()
	c, err := client.New(e.hs.URL, token, e.hs.Client())
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// team creates a team and returns a client with its token.
func (e *env) team(name string) *client.Client {
	e.t.Helper()
	out, err := e.admin.CreateTeam(context.Background(), name)
	if err != nil {
		e.t.Fatalf("create team %s: %v", name, err)
	}
	return e.client(out.Token)
}

// vantage enrols a vantage and returns a client with its token.
func (e *env) vantage(id, region, provider string) *client.Client {
	e.t.Helper()
	out, err := e.admin.EnrolVantage(context.Background(), api.EnrolVantage{ID: id, Region: region, Provider: provider, ASN: 64500})
	if err != nil {
		e.t.Fatalf("enrol vantage %s: %v", id, err)
	}
	return e.client(out.Token)
}

// register registers endpoints of team through the API, as the team
// would, creating the team first when it does not exist. Each endpoint
// has one probe check (id "<name>/probe", what record makes) and is
// assigned to every region. Results are accepted only for registered
// checks.
func (e *env) register(team string, names ...string) {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.admin.CreateTeam(ctx, team); err != nil && !client.IsStatus(err, 409) {
		e.t.Fatalf("create team %s: %v", team, err)
	}
	req := api.ApplyEndpoints{}
	for i, name := range names {
		req.Endpoints = append(req.Endpoints, results.Endpoint{Name: name, Target: fmt.Sprintf("https://203.0.113.%d/", 10+i),
			Checks: []json.RawMessage{json.RawMessage(`{"kind":"probe","interval":"30s"}`)}, Regions: []string{"all"}})
	}
	if _, err := e.admin.ApplyEndpoints(ctx, team, req); err != nil {
		e.t.Fatalf("register %s's endpoints %v: %v", team, names, err)
	}
}

// stored returns every raw result in the store.
func (e *env) stored() []results.Result {
	e.t.Helper()
	rs, err := e.store.Query(context.Background(), results.ResultQuery{Limit: 100000})
	if err != nil {
		e.t.Fatal(err)
	}
	return rs
}

// record returns a valid result of vantage v for endpoint/check.
func record(id, team, endpoint, vantage string, at time.Time, ok bool, ms float64) results.Result {
	r := results.Result{
		ID: id, Team: team, Endpoint: endpoint, Check: endpoint + "/probe", Kind: "probe",
		Vantage: vantage, Target: "https://example.com/", StartedAt: at, DurationMS: ms, OK: ok,
	}
	if !ok {
		r.Error = &results.Error{Layer: results.LayerHTTP, Code: results.CodeStatus, Message: "status 503"}
	}
	return r
}

func errorsAs(err error, target **client.Error) bool { return errors.As(err, target) }
