package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// A silence that could never match is refused with one line naming the
// field, and nothing is stored; good ones are listed.
func TestAlertsSilenceCommands(t *testing.T) {
	hs := startCollector(t)
	admin := map[string]string{"PICKET_COLLECTOR": hs.URL, "PICKET_TOKEN": cliAdmin}
	code, out, errs := cli(t, admin, "teams", "add", "payments")
	if code != 0 {
		t.Fatalf("teams add: %d %q", code, errs)
	}
	env := map[string]string{"PICKET_COLLECTOR": hs.URL, "PICKET_TOKEN": strings.TrimSpace(out)}
	file := filepath.Join(t.TempDir(), "endpoints.yaml")
	if err := os.WriteFile(file, []byte(`endpoints:
  - name: checkout-api
    target: https://203.0.113.10/health
    checks:
      - {kind: http}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errs = cli(t, env, "endpoints", "apply", "-f", file); code != 0 {
		t.Fatalf("apply: %d %q", code, errs)
	}

	ok := regexp.MustCompile(`^silence [0-9a-f-]{36}: \S+ until \S+\n$`)
	tests := []struct {
		args   []string
		code   int
		stderr string // the whole of it; "" for success
	}{
		{[]string{"--endpoint", "nosuch", "--for", "2h", "--reason", "deploy"}, exitUsage,
			`picket alerts silence: endpoint: team payments has no endpoint "nosuch"` + "\n"},
		{[]string{"--type", "bogus", "--for", "2h", "--reason", "deploy"}, exitUsage,
			`picket alerts silence: type: "bogus" is not an alert type; one of reachability, regional_reachability, latency, path_detour, path_change, rtt_below_light_bound, cert_expiry, client_errors` + "\n"},
		{[]string{"--endpoint", "checkout-api", "--for", "-2h", "--reason", "deploy"}, exitUsage,
			`picket alerts silence: for: "-2h": the duration must be positive, such as 2h` + "\n"},
		{[]string{"--vantage", "nosuch", "--for", "2h", "--reason", "deploy"}, exitUsage,
			`picket alerts silence: vantage: no vantage "nosuch" is enrolled` + "\n"},
		{[]string{"--endpoint", "checkout-api", "--for", "2h", "--reason", "deploy"}, exitOK, ""},
		{[]string{"--type", "latency", "--for", "1h", "--reason", "known slow"}, exitOK, ""},
	}
	for _, tt := range tests {
		code, out, errs := cli(t, env, append([]string{"alerts", "silence"}, tt.args...)...)
		if code != tt.code || errs != tt.stderr {
			t.Errorf("alerts silence %s: exit %d, stderr %q; want %d, %q", strings.Join(tt.args, " "), code, errs, tt.code, tt.stderr)
		}
		if tt.code == exitOK && !ok.MatchString(out) {
			t.Errorf("alerts silence %s: stdout %q", strings.Join(tt.args, " "), out)
		}
	}
	code, out, errs = cli(t, env, "alerts", "silences", "--json")
	var listed []struct{ Endpoint, Type, Reason string }
	if err := json.Unmarshal([]byte(out), &listed); code != 0 || err != nil {
		t.Fatalf("alerts silences: %d %q %v\n%s", code, errs, err, out)
	}
	if fmt.Sprint(listed) != "[{checkout-api  deploy} { latency known slow}]" {
		t.Errorf("silences listed %v; want the two accepted only", listed)
	}
}
