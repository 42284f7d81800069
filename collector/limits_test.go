package collector

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/picketnet/picket/alerting"
	"github.com/picketnet/picket/collector/api"
	"github.com/picketnet/picket/collector/client"
	"github.com/picketnet/picket/results"
)

// TestTeamEndpointLimit: the bound on a team's endpoints holds over all
// its applies, not per request: applies without prune used to add up
// without end, so that one team could load every prober with checks.
func TestTeamEndpointLimit(t *testing.T) {
	e := newEnv(t, openSQLite, func(o *Options) { o.MaxTeamEndpoints = 3 })
	ctx := context.Background()
	team, other := e.team("payments"), e.team("search")
	eps := func(prefix string, n int) []results.Endpoint {
		var out []results.Endpoint
		for i := range n {
			out = append(out, endpoint(fmt.Sprintf("%s%d", prefix, i), fmt.Sprintf("https://203.0.113.%d/", i+1), nil, probeCheckJSON("")))
		}
		return out
	}
	if _, err := team.ApplyEndpoints(ctx, "", api.ApplyEndpoints{Endpoints: eps("a", 2)}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		req     api.ApplyEndpoints
		refused bool
	}{
		{"adding past the limit", api.ApplyEndpoints{Endpoints: eps("b", 2)}, true},
		{"a dry run past the limit", api.ApplyEndpoints{Endpoints: eps("b", 2), DryRun: true}, true},
		{"updating the ones it has", api.ApplyEndpoints{Endpoints: eps("a", 2)}, false},
		{"adding up to the limit", api.ApplyEndpoints{Endpoints: eps("c", 1)}, false},
		{"one more", api.ApplyEndpoints{Endpoints: eps("d", 1)}, true},
		{"replacing them all with prune", api.ApplyEndpoints{Endpoints: eps("e", 3), Prune: true}, false},
		{"more than the limit at once", api.ApplyEndpoints{Endpoints: eps("f", 4), Prune: true}, true},
	}
	for _, tt := range tests {
		before := endpointNames(t, team)
		_, err := team.ApplyEndpoints(ctx, "", tt.req)
		if !tt.refused {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		var ae *client.Error
		if !errorsAs(err, &ae) || ae.Status != 422 || ae.Body.Field != "endpoints" || !strings.Contains(ae.Body.Error, "at most 3") {
			t.Errorf("%s: %v, want 422 on endpoints naming the limit", tt.name, err)
		}
		if after := endpointNames(t, team); after != before {
			t.Errorf("%s: endpoints %q after the refusal, want %q unchanged", tt.name, after, before)
		}
	}
	if got := endpointNames(t, team); got != "e0,e1,e2" {
		t.Errorf("endpoints %q, want e0,e1,e2", got)
	}
	// The limit is each team's own.
	if _, err := other.ApplyEndpoints(ctx, "", api.ApplyEndpoints{Endpoints: eps("s", 3)}); err != nil {
		t.Errorf("another team: %v", err)
	}
	// The operator is not held to it (picket bench ingest registers more,
	// in steps).
	if _, err := e.admin.ApplyEndpoints(ctx, "payments", api.ApplyEndpoints{Endpoints: eps("g", 2)}); err != nil {
		t.Errorf("the admin token: %v", err)
	}
	if got := endpointNames(t, team); got != "e0,e1,e2,g0,g1" {
		t.Errorf("endpoints %q after the admin's apply, want e0,e1,e2,g0,g1", got)
	}
}

// blockingStore holds every Ingest until release is closed, and counts
// the calls in progress.
type blockingStore struct {
	results.Store
	entered chan struct{}
	release chan struct{}
	mu      sync.Mutex
	now     int
}

func (s *blockingStore) Ingest(ctx context.Context, rs []results.Result) (results.IngestOutcome, error) {
	s.mu.Lock()
	s.now++
	s.mu.Unlock()
	s.entered <- struct{}{}
	<-s.release
	s.mu.Lock()
	s.now--
	s.mu.Unlock()
	return s.Store.Ingest(ctx, rs)
}

func (s *blockingStore) inProgress() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

// TestIngestBatchesInHand: a small gzip body can decompress to a 16 MiB
// batch, so the batches decompressed and held until stored are bounded
// (Options.MaxIngestBatches); the others wait, still compressed, and are
// stored in their turn. Without the bound, 40 concurrent 150 KB bodies
// took the collector to 1.4 GB.
func TestIngestBatchesInHand(t *testing.T) {
	st := &blockingStore{Store: openSQLite(t), entered: make(chan struct{}, 4), release: make(chan struct{})}
	var once sync.Once
	releaseAll := func() { once.Do(func() { close(st.release) }) }
	e := newEnvWith(t, st, func(o *Options) { o.MaxIngestBatches = 1; o.IngestConcurrency = 2 })
	t.Cleanup(releaseAll) // runs before the server's Close, which waits for the requests
	e.register("payments", "checkout")
	v := e.vantage("v1", "eu", "hetzner")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	at := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	acks := make(chan error, 2)
	post := func(id string) {
		ack, err := v.PostResults(ctx, results.Batch{Results: []results.Result{record(id, "payments", "checkout", "v1", at, true, 12)}}, true)
		if err == nil && len(ack.Accepted) != 1 {
			err = fmt.Errorf("ack %+v, want %s accepted", ack, id)
		}
		acks <- err
	}
	go post("r-1")
	select {
	case <-st.entered:
	case <-ctx.Done():
		t.Fatal("the first batch never reached the store")
	}
	go post("r-2")
	for gauge(t, e.srv.metrics.ingestWaiting) != 1 {
		select {
		case <-st.entered:
			t.Fatal("a second batch was taken in hand while the only slot was held")
		case <-ctx.Done():
			t.Fatal("the second batch never waited for a slot")
		case <-time.After(5 * time.Millisecond):
		}
	}
	if n := st.inProgress(); n != 1 {
		t.Fatalf("%d store transactions in progress, want 1", n)
	}
	releaseAll()
	for range 2 {
		if err := <-acks; err != nil {
			t.Fatal(err)
		}
	}
	if got := len(e.stored()); got != 2 {
		t.Errorf("%d results stored, want 2", got)
	}
	if w := gauge(t, e.srv.metrics.ingestWaiting); w != 0 {
		t.Errorf("%v batches still waiting", w)
	}
}

func gauge(t *testing.T, g prometheus.Gauge) float64 {
	t.Helper()
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}

// TestSilenceReasonOneLine: a silence's reason is shown in terminals (the
// admin's `picket alerts silences` lists every team's), so a team cannot
// store escape sequences or line breaks in it.
func TestSilenceReasonOneLine(t *testing.T) {
	e := newEnv(t, openSQLite)
	e.srv.MountAlerts(alerting.NewService(e.store, alerting.Config{}, nil, alerting.Options{}))
	e.register("payments", "checkout")
	team := e.team("search")
	ctx := context.Background()
	tests := []struct {
		reason string
		ok     bool
	}{
		{"deploying v2 (ticket OPS-12): back by 14:00 — ça va", true},
		{"maint\x1b]0;owned\a", false},
		{"maint\x1b[2J", false},
		{"two\nlines", false},
		{"a\ttab", false},
		{"c1\u009b31m", false},
	}
	for _, tt := range tests {
		_, err := team.AddSilence(ctx, "", api.NewSilence{For: "1h", Reason: tt.reason})
		if tt.ok {
			if err != nil {
				t.Errorf("%q: %v", tt.reason, err)
			}
			continue
		}
		var ae *client.Error
		if !errorsAs(err, &ae) || ae.Status != 422 || ae.Body.Field != "reason" {
			t.Errorf("%q: %v, want 422 on reason", tt.reason, err)
		}
	}
	ss, err := e.admin.Silences(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 1 {
		t.Errorf("%d silences stored, want the one-line one only: %+v", len(ss), ss)
	}
}

// A team's checks may run only so often at each vantage, in all and
// against one host: without the bound, one team could aim every prober
// at one address at 1 s intervals. probe checks here run every 30 s
// unless the spec says otherwise.
func TestTeamRunLimits(t *testing.T) {
	e := newEnv(t, openSQLite, func(o *Options) { o.MaxTeamRunsPerSecond, o.MaxTargetRunsPerSecond = 1, 0.5 })
	ctx := context.Background()
	team := e.team("payments")
	every := func(d string) json.RawMessage { return json.RawMessage(`{"kind":"probe","interval":"` + d + `"}`) }
	ep := func(name, host, interval string) results.Endpoint {
		return endpoint(name, "https://"+host+"/", nil, every(interval))
	}
	tests := []struct {
		name  string
		req   api.ApplyEndpoints
		field string // "" when accepted
	}{
		// 0.2 + 0.2 a second on two hosts: within both limits.
		{"within the limits", api.ApplyEndpoints{Endpoints: []results.Endpoint{ep("a", "203.0.113.1", "5s"), ep("b", "203.0.113.2", "5s")}}, ""},
		// A third 5 s check on 203.0.113.1: 0.4 a second there, fine.
		{"more on one host, within", api.ApplyEndpoints{Endpoints: []results.Endpoint{ep("c", "203.0.113.1", "5s")}}, ""},
		// A fourth on it: 0.6 against one host.
		{"past the host limit", api.ApplyEndpoints{Endpoints: []results.Endpoint{ep("d", "203.0.113.1", "5s")}}, "endpoints[0].target"},
		// Five more hosts at 5 s: 1.6 a second in all.
		{"past the team limit", api.ApplyEndpoints{Endpoints: []results.Endpoint{
			ep("e", "203.0.113.3", "5s"), ep("f", "203.0.113.4", "5s"), ep("g", "203.0.113.5", "5s"),
			ep("h", "203.0.113.6", "5s"), ep("i", "203.0.113.7", "5s")}}, "endpoints"},
		// Slowing one down brings the host under its limit again.
		{"a longer interval", api.ApplyEndpoints{Endpoints: []results.Endpoint{ep("c", "203.0.113.1", "1m"), ep("d", "203.0.113.1", "10s")}}, ""},
	}
	for _, tt := range tests {
		before := endpointNames(t, team)
		_, err := team.ApplyEndpoints(ctx, "", tt.req)
		if tt.field == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		var ae *client.Error
		if !errorsAs(err, &ae) || ae.Status != 422 || ae.Body.Field != tt.field || !strings.Contains(ae.Body.Error, "at most") {
			t.Errorf("%s: %v, want 422 on %s naming the limit", tt.name, err, tt.field)
		}
		if after := endpointNames(t, team); after != before {
			t.Errorf("%s: endpoints %q after the refusal, want %q unchanged", tt.name, after, before)
		}
	}
	if got := endpointNames(t, team); got != "a,b,c,d" {
		t.Errorf("endpoints %q, want a,b,c,d", got)
	}
	// The operator is not held to them.
	if _, err := e.admin.ApplyEndpoints(ctx, "payments", api.ApplyEndpoints{Endpoints: []results.Endpoint{ep("z", "203.0.113.1", "1s")}}); err != nil {
		t.Errorf("the admin token: %v", err)
	}
}
