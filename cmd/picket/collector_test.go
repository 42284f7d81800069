package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/picketnet/picket/alerting"
	"github.com/picketnet/picket/checks/all"
	"github.com/picketnet/picket/checks/targetpolicy"
	"github.com/picketnet/picket/collector"
	"github.com/picketnet/picket/results/sqlite/sqlitetest"
)

// cliAdmin is the admin token of startCollector's collector.
const cliAdmin = "pka_cli-test"

// startCollector serves a real collector over SQLite for the client
// commands, with the admin token cliAdmin and the alerts API, until the
// test ends.
func startCollector(t *testing.T) *httptest.Server {
	t.Helper()
	st := sqlitetest.Open(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := collector.New(collector.Options{Store: st, Kinds: all.New(), AdminToken: cliAdmin, Policy: targetpolicy.Policy{DenyPrivate: true},
		AlertValidator: alerting.ValidatePolicy, Logger: log}) // as collector.Run wires it
	if err != nil {
		t.Fatal(err)
	}
	srv.MountAlerts(alerting.NewService(st, alerting.Config{}, nil, alerting.Options{Logger: log}))
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return hs
}

// cli runs the picket binary's main logic with PICKET_* from env.
func cli(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, stdio{in: strings.NewReader(""), out: &out, err: &errb, getenv: func(k string) string { return env[k] }})
	return code, out.String(), errb.String()
}

// TestClientCommands drives teams, vantages, endpoints and report against
// a real collector over SQLite.
func TestClientCommands(t *testing.T) {
	hs := startCollector(t)
	env := map[string]string{"PICKET_COLLECTOR": hs.URL, "PICKET_TOKEN": cliAdmin}

	code, out, errs := cli(t, env, "teams", "add", "payments")
	team := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(team, collector.TeamTokenPrefix) || strings.Contains(out, " ") || !strings.Contains(errs, "payments") {
		t.Fatalf("teams add: %d %q %q; want the token alone on stdout", code, out, errs)
	}
	if code, out, _ = cli(t, env, "vantages", "add", "hel1", "--region", "eu-central", "--provider", "hetzner", "--asn", "24940"); code != 0 || !strings.HasPrefix(out, "pkv_") {
		t.Errorf("vantages add: %d %q", code, out)
	}
	if code, out, _ = cli(t, env, "vantages", "list"); code != 0 || !strings.Contains(out, "hel1") || !strings.Contains(out, "AS24940") || !strings.Contains(out, "never") {
		t.Errorf("vantages list: %d\n%s", code, out)
	}
	if code, _, errs = cli(t, map[string]string{"PICKET_COLLECTOR": hs.URL, "PICKET_TOKEN": team}, "teams", "list"); code == 0 || !strings.Contains(errs, "admin token") || strings.Count(errs, "\n") != 1 {
		t.Errorf("teams list with a team token: %d %q; want one line naming the admin token", code, errs)
	}

	dir := t.TempDir()
	file := filepath.Join(dir, "endpoints.yaml")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	teamEnv := map[string]string{"PICKET_COLLECTOR": hs.URL, "PICKET_TOKEN": team}
	write(`endpoints:
  - name: checkout-api
    target: https://203.0.113.10/health
    checks:
      - {kind: http, interval: 30s, timeout: 10s, expect: {status: [200]}}
      - {kind: http, interval: 60s}
  - name: internal
    target: https://10.1.2.3/
    checks:
      - {kind: http}
`)
	// The collector's policy refusal comes back with the file's line.
	code, _, errs = cli(t, teamEnv, "endpoints", "apply", "-f", file)
	if code != exitUsage || !strings.HasPrefix(errs, "picket endpoints apply: "+file+":8: endpoints[1] (internal) target:") || !strings.Contains(errs, "denied") {
		t.Errorf("apply with a private target: %d %q", code, errs)
	}
	write(`endpoints:
  - name: checkout-api
    target: https://203.0.113.10/health
    checks:
      - {kind: http, interval: 30s, timeout: 10s, expect: {status: [200]}}
      - {kind: http, interval: 60s, timeout: 2m}
`)
	// A spec mistake is found before anything is sent, with its line.
	code, _, errs = cli(t, teamEnv, "endpoints", "apply", "-f", file)
	if code != exitUsage || !strings.HasPrefix(errs, "picket endpoints apply: "+file+":6: endpoints[0] (checkout-api) checks[1].timeout:") {
		t.Errorf("apply with a bad timeout: %d %q", code, errs)
	}
	write(`endpoints:
  - name: checkout-api
    target: https://203.0.113.10/health
    checks:
      - {kind: http, interval: 30s, timeout: 10s, expect: {status: [200]}}
`)
	if code, out, errs = cli(t, teamEnv, "endpoints", "apply", "-f", file); code != 0 || out != "+ create checkout-api\n1 created, 0 updated, 0 deleted, 0 unchanged\n" {
		t.Errorf("apply: %d %q %q", code, out, errs)
	}
	if code, out, _ = cli(t, teamEnv, "endpoints", "list"); code != 0 || !strings.Contains(out, "checkout-api") || !strings.Contains(out, "http/30s") {
		t.Errorf("list: %d\n%s", code, out)
	}
	write("endpoints: []\n")
	if code, out, _ = cli(t, teamEnv, "endpoints", "apply", "-f", file, "--dry-run"); code != 0 || !strings.HasPrefix(out, "(dry run) - delete checkout-api\n") {
		t.Errorf("dry run: %d %q", code, out)
	}
	if code, out, _ = cli(t, teamEnv, "endpoints", "delete", "checkout-api"); code != 0 || out != "- delete checkout-api\n" {
		t.Errorf("delete: %d %q", code, out)
	}
	if code, _, errs = cli(t, teamEnv, "endpoints", "delete", "checkout-api"); code != exitFailed || !strings.Contains(errs, "no endpoint") {
		t.Errorf("delete again: %d %q", code, errs)
	}
	if code, out, _ = cli(t, teamEnv, "report", "availability", "--format", "csv", "--since", "1h"); code != 0 || !strings.HasPrefix(out, "team,endpoint,region,results") {
		t.Errorf("report csv: %d %q", code, out)
	}
	if code, _, errs = cli(t, teamEnv, "report", "availability", "--format", "xml"); code != exitUsage || !strings.Contains(errs, "--format") {
		t.Errorf("report xml: %d %q", code, errs)
	}
	if code, _, errs = cli(t, map[string]string{"PICKET_COLLECTOR": "http://127.0.0.1:1", "PICKET_TOKEN": "x"}, "endpoints", "list"); code == 0 || strings.Count(errs, "\n") != 1 {
		t.Errorf("unreachable collector: %d %q; want one line", code, errs)
	}
}
