package collector

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/picketnet/picket/checks"
	"github.com/picketnet/picket/collector/api"
	"github.com/picketnet/picket/collector/client"
	"github.com/picketnet/picket/collector/config"
	"github.com/picketnet/picket/collector/endpointspec"
	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/vantage"
)

// TestRuntime starts a collector from a configuration the way the binary
// does: the admin token file is created, the store opened, the API served
// until the context ends; the local vantage of `picket up` survives a
// restart with the same token.
func TestRuntime(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Parse("collector.yaml", []byte("store: sqlite:"+filepath.Join(dir, "data", "p.db")+"\nadmin_token_file: "+filepath.Join(dir, "data", "admin.token")+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var firstToken string
	localFile := filepath.Join(dir, "data", "local.json")
	for round := range 4 {
		rt, err := Start(context.Background(), cfg, checks.NewRegistry(probeKind{}), "127.0.0.1:0", log)
		if err != nil {
			t.Fatal(err)
		}
		if rt.AdminTokenCreated != (round == 0) {
			t.Errorf("round %d: AdminTokenCreated = %v", round, rt.AdminTokenCreated)
		}
		switch round {
		case 2: // the saved token was lost
			if err := os.Remove(localFile); err != nil {
				t.Fatal(err)
			}
		case 3: // the operator replaced the token (picket vantages token local)
			if _, err := rt.Server.replaceVantageToken(context.Background(), "local"); err != nil {
				t.Fatal(err)
			}
		}
		id, token, err := rt.EnsureLocalVantage(context.Background(), localFile, vantage.Identity{ID: "local", Region: "local", Provider: "local"})
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case id.ID != "local" || id.Region != "local":
			t.Errorf("round %d: vantage %+v, want local in region local", round, id)
		case round == 0:
			firstToken = token
		case round == 1 && token != firstToken:
			t.Errorf("after a restart the token changed; want the saved one")
		case round >= 2 && token == firstToken:
			t.Errorf("round %d: the old token is kept though it no longer works", round)
		}
		firstToken = token
		if vs, err := rt.Store.Vantages(context.Background()); err != nil || len(vs) != 1 {
			t.Errorf("round %d: vantages %+v (%v), want local alone", round, vs, err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- rt.Serve(ctx) }()
		c, err := client.New(rt.URL(), token, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Assignment(ctx, ""); err != nil {
			t.Errorf("round %d: assignment with the local vantage token: %v", round, err)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("round %d: Serve: %v", round, err)
		}
	}
}

// collector.yaml's nel section reaches the public NEL endpoint, and a
// contradiction in it stops the start with the file named.
func TestRuntimeNELLimits(t *testing.T) {
	dir := t.TempDir()
	base := "store: sqlite:" + filepath.Join(dir, "p.db") + "\nadmin_token_file: " + filepath.Join(dir, "admin.token") + "\n"
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	cfg, err := config.Parse("collector.yaml", []byte(base+"nel: {max_reports: 50, burst: 10}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Start(context.Background(), cfg, checks.NewRegistry(probeKind{}), "127.0.0.1:0", log); err == nil ||
		!strings.Contains(err.Error(), "collector.yaml") || !strings.Contains(err.Error(), "burst") {
		t.Errorf("burst below max_reports: %v, want an error naming the file and the burst", err)
	}

	cfg, err = config.Parse("collector.yaml", []byte(base+"nel: {max_body_bytes: 1KiB}\n"))
	if err != nil {
		t.Fatal(err)
	}
	rt, err := Start(context.Background(), cfg, checks.NewRegistry(probeKind{}), "127.0.0.1:0", log)
	if err != nil {
		t.Fatal(err)
	}
	serve(t, rt)
	body := `[{"type":"network-error","url":"https://shop.example/","body":{"type":"tcp.refused","phase":"connection","sampling_fraction":1,"pad":"` + strings.Repeat("x", 2000) + `"}}]`
	resp, err := http.Post(rt.URL()+"/v1/reports/nel", "application/reports+json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("a 2 KiB report with nel.max_body_bytes 1KiB: status %d, want 413", resp.StatusCode)
	}
}

// picket up's endpoints come from the operator's own picket.yaml and are
// probed in the same process: unlike a team's, they may name ca_file.
func TestApplyLocalAllowsCAFile(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Parse("picket.yaml", []byte("store: sqlite:"+filepath.Join(dir, "p.db")+"\nadmin_token_file: "+filepath.Join(dir, "admin.token")+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	rt, err := Start(context.Background(), cfg, checks.NewRegistry(probeKind{}), "127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Store.Close()
	f, err := endpointspec.Parse("picket.yaml", []byte("endpoints:\n  - name: intranet\n    target: https://203.0.113.10/\n    checks:\n      - {kind: probe, ca_file: /etc/ssl/corp.pem}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := rt.ApplyLocal(context.Background(), "local", f); err != nil {
		t.Fatalf("ApplyLocal with ca_file: %v", err)
	}
}

// A mistake in a notifier or in asn_db stops the start with the file, the
// line and the setting, before the admin token or the store is created.
func TestRuntimeSectionErrors(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "pd.key")
	if err := os.WriteFile(keyFile, []byte("R0UT1NG\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown notifier kind", "notifiers:\n  - name: oncall\n    kind: pager\n",
			`collector.yaml:3: notifiers[0] (oncall).kind: "pager" is not one of webhook, slack, pagerduty, email, alertmanager`},
		{"notifier without kind", "notifiers:\n  - {name: oncall, routing_key_file: " + keyFile + "}\n",
			"collector.yaml:2: notifiers[0] (oncall).kind: missing; one of webhook, slack, pagerduty, email, alertmanager"},
		{"pagerduty key file missing", "notifiers:\n  - name: ok\n    kind: webhook\n    url: https://hooks.example.com/x\n  - name: oncall\n    kind: pagerduty\n    routing_key_file: " + filepath.Join(dir, "nope") + "\n",
			"collector.yaml:7: notifiers[1] (oncall).routing_key_file: read secret: open " + filepath.Join(dir, "nope") + ": no such file or directory"},
		{"pagerduty key env empty", "notifiers:\n  - name: oncall\n    kind: pagerduty\n    routing_key_env: PICKET_TEST_UNSET_PD_KEY\n",
			"collector.yaml:4: notifiers[0] (oncall).routing_key_env: environment variable PICKET_TEST_UNSET_PD_KEY is empty"},
		{"inline slack url", "notifiers:\n  - name: chat\n    kind: slack\n    url: https://hooks.slack.com/services/T/B/X\n",
			"collector.yaml:4: notifiers[0] (chat).url: a Slack webhook URL is a secret: use url_file or url_env"},
		{"webhook url not http", "notifiers:\n  - {name: hook, kind: webhook, url: \"ftp://x\"}\n",
			"collector.yaml:2: notifiers[0] (hook).url: not an http(s) URL"},
		{"notifier without name", "listen: 127.0.0.1:0\nnotifiers:\n  - kind: webhook\n    url: https://x.example\n",
			"collector.yaml:3: notifiers[0].name: missing"},
		{"bad severity", "notifiers:\n  - name: hook\n    kind: webhook\n    url: https://x.example\n    severities: [page, loud]\n",
			`collector.yaml:5: notifiers[0] (hook).severities[1]: "loud" is not one of page, notify, info`},
		{"bad email recipient", "notifiers:\n  - name: mail\n    kind: email\n    smtp: smtp.example.com:587\n    from: picket@example.com\n    to:\n      - sre@example.com\n      - not an address\n",
			"collector.yaml:8: notifiers[0] (mail).to[1]: mail: no angle-addr"},
		{"asn_db missing", "asn_db: " + filepath.Join(dir, "nope.tsv") + "\n",
			"collector.yaml:1: asn_db: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			base := "store: sqlite:" + filepath.Join(data, "p.db") + "\nadmin_token_file: " + filepath.Join(data, "admin.token") + "\n"
			// The setting under test comes first, so that its line does
			// not depend on the temporary paths.
			cfg, err := config.Parse("collector.yaml", []byte(tt.yaml+base))
			if err != nil {
				t.Fatal(err)
			}
			_, err = Start(context.Background(), cfg, checks.NewRegistry(probeKind{}), "127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("Start: %v\nwant %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			if _, err := os.Stat(data); !os.IsNotExist(err) {
				t.Errorf("the data directory was created before the error: %v", err)
			}
		})
	}
}

// collector.yaml's limits reach the server: a team token cannot pass
// limits.team_endpoints.
func TestRuntimeLimits(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "admin.token")
	cfg, err := config.Parse("collector.yaml", []byte("store: sqlite:"+filepath.Join(dir, "p.db")+"\nadmin_token_file: "+tokenFile+
		"\ntargets: {allow: [203.0.113.0/24]}\nlimits: {team_endpoints: 1, ingest_batches: 4, team_runs_per_second: 7, target_runs_per_second: 3}\n"))
	if err != nil {
		t.Fatal(err)
	}
	rt, err := Start(context.Background(), cfg, checks.NewRegistry(probeKind{}), "127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if got := cap(rt.Server.ingestSlots); got != 4 {
		t.Errorf("batches held at once: %d, want limits.ingest_batches 4", got)
	}
	if o := rt.Server.opt; o.MaxTeamRunsPerSecond != 7 || o.MaxTargetRunsPerSecond != 3 {
		t.Errorf("runs a second: team %v, target %v; want limits' 7 and 3", o.MaxTeamRunsPerSecond, o.MaxTargetRunsPerSecond)
	}
	ctx := serve(t, rt)
	token, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := client.New(rt.URL(), strings.TrimSpace(string(token)), nil)
	if err != nil {
		t.Fatal(err)
	}
	created, err := admin.CreateTeam(ctx, "payments")
	if err != nil {
		t.Fatal(err)
	}
	team, err := client.New(rt.URL(), created.Token, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := api.ApplyEndpoints{Endpoints: []results.Endpoint{endpoint("a", "https://203.0.113.1/", nil, probeCheckJSON(""))}}
	if _, err := team.ApplyEndpoints(ctx, "", first); err != nil {
		t.Fatalf("the first endpoint: %v", err)
	}
	second := api.ApplyEndpoints{Endpoints: []results.Endpoint{endpoint("b", "https://203.0.113.2/", nil, probeCheckJSON(""))}}
	var apiErr *client.Error
	if _, err := team.ApplyEndpoints(ctx, "", second); !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnprocessableEntity {
		t.Errorf("a second endpoint with limits.team_endpoints 1: %v, want a 422", err)
	}
}

// serve runs rt until the test ends, and returns the context it serves in.
func serve(t *testing.T, rt *Runtime) context.Context {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return ctx
}
