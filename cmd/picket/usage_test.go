package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// -h on a command group lists its subcommands, and -h on a subcommand
// shows its own usage line and only the flags it takes; asking for help
// never needs a token or a collector.
func TestHelp(t *testing.T) {
	// Nothing listens there and there is no token: help must not care.
	env := map[string]string{"PICKET_COLLECTOR": "http://127.0.0.1:1"}
	tests := []struct {
		args    []string
		code    int
		want    []string // in stderr
		notWant []string // flags of other subcommands, errors
	}{
		{[]string{"teams", "--help"}, exitOK,
			[]string{"usage: picket teams SUBCOMMAND", "picket teams add NAME", "picket teams remove NAME"}, []string{"no token"}},
		{[]string{"alerts", "-h"}, exitOK,
			[]string{"picket alerts list", "picket alerts silence --for DURATION", "picket alerts silences", "picket alerts unsilence ID"}, []string{"no token"}},
		{[]string{"endpoints", "help"}, exitOK,
			[]string{"picket endpoints apply -f FILE", "picket endpoints delete NAME"}, nil},
		{[]string{"report", "--help"}, exitOK, []string{"picket report availability [--by"}, nil},
		{[]string{"vantages"}, exitUsage, []string{"picket vantages add ID --region R --provider P"}, nil},
		{[]string{"endpoints", "apply", "-h"}, exitOK,
			[]string{"usage: picket endpoints apply -f FILE", "-dry-run", "-team"}, nil},
		{[]string{"endpoints", "list", "-h"}, exitOK,
			[]string{"usage: picket endpoints list", "-team"}, []string{"-dry-run", "-f file"}},
		{[]string{"endpoints", "delete", "-h"}, exitOK,
			[]string{"usage: picket endpoints delete NAME"}, []string{"-dry-run", "-f file"}},
		{[]string{"vantages", "add", "-h"}, exitOK,
			[]string{"usage: picket vantages add ID", "-region", "-provider", "-asn", "-lat"}, nil},
		{[]string{"vantages", "list", "-h"}, exitOK,
			[]string{"usage: picket vantages list"}, []string{"-region", "-provider", "-asn", "-lat"}},
		{[]string{"vantages", "token", "-h"}, exitOK,
			[]string{"usage: picket vantages token ID"}, []string{"-region", "-provider"}},
		{[]string{"alerts", "list", "-h"}, exitOK,
			[]string{"usage: picket alerts list", "-window", "-json"}, []string{"-reason", "-for", "-endpoint", "-vantage"}},
		{[]string{"alerts", "silence", "-h"}, exitOK,
			[]string{"usage: picket alerts silence", "-reason", "-for", "-endpoint", "-vantage", "-start"}, []string{"-window", "-json"}},
		{[]string{"alerts", "silences", "-h"}, exitOK,
			[]string{"usage: picket alerts silences", "-json"}, []string{"-reason", "-window"}},
		{[]string{"teams", "add", "-h"}, exitOK, []string{"usage: picket teams add NAME"}, nil},
		{[]string{"version", "-h"}, exitOK, []string{"usage: picket version"}, nil},
		{[]string{"up", "-h"}, exitOK, []string{"usage: picket up", "-listen", "overriding"}, nil},
		{[]string{"nel", "headers", "-h"}, exitOK, []string{"usage: picket nel headers --endpoint NAME", "-success-fraction"}, nil},
		// Mistakes: one line, exit 2, before any token is looked for.
		{[]string{"teams", "frob"}, exitUsage, []string{`picket teams: unknown subcommand "frob"`}, []string{"no token"}},
		{[]string{"teams", "add"}, exitUsage, []string{"picket teams add: usage: picket teams add NAME"}, []string{"no token"}},
		{[]string{"alerts", "unsilence"}, exitUsage, []string{"picket alerts unsilence: usage: picket alerts unsilence ID"}, []string{"no token"}},
		{[]string{"endpoints", "list", "-f", "x.yaml"}, exitUsage, []string{"flag provided but not defined: -f"}, nil},
		{[]string{"vantages", "list", "--region", "eu"}, exitUsage, []string{"flag provided but not defined: -region"}, nil},
		{[]string{"alerts", "list", "--reason", "x"}, exitUsage, []string{"flag provided but not defined: -reason"}, nil},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errs := cli(t, env, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tt.code, errs)
			}
			if out != "" {
				t.Errorf("help and usage go to stderr, got stdout %q", out)
			}
			for _, w := range tt.want {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errs)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(errs, w) {
					t.Errorf("stderr has %q:\n%s", w, errs)
				}
			}
		})
	}
}

// The alert block the collector accepts (docs/alerting.md, "Endpoint
// alert block") is accepted by `endpoints apply` too, and a bad one is
// refused by the CLI with the file's line, as the collector would.
func TestEndpointsApplyAlertBlock(t *testing.T) {
	hs := startCollector(t)
	env := map[string]string{"PICKET_COLLECTOR": hs.URL, "PICKET_TOKEN": cliAdmin}
	code, out, errs := cli(t, env, "teams", "add", "payments")
	if code != exitOK {
		t.Fatalf("teams add: %d %s", code, errs)
	}
	team := strings.TrimSpace(out)
	teamEnv := map[string]string{"PICKET_COLLECTOR": hs.URL, "PICKET_TOKEN": team}
	file := filepath.Join(t.TempDir(), "endpoints.yaml")

	tests := []struct {
		name  string
		alert string
		code  int
		want  string // stdout, or stderr after "picket endpoints apply: FILE:"
	}{
		{"documented block", "{severity: page, quorum: 2, latency_ms: 800, min_days_left: 21, location: {lat: 50.11, lon: 8.68}}",
			exitOK, "+ create checkout-api\n1 created, 0 updated, 0 deleted, 0 unchanged\n"},
		{"not a point on Earth", "{location: {lat: 95, lon: 8.68}}",
			exitUsage, "5: endpoints[0] (checkout-api) alert.location: (95, 8.68) is not a point on Earth\n"},
		{"unknown severity", "{severity: critical}",
			exitUsage, "5: endpoints[0] (checkout-api) alert.severity: \"critical\" is not one of page, notify, info\n"},
		{"unknown key", "{min_days: 21}",
			exitUsage, "5: endpoints[0] (checkout-api) alert.min_days: unknown field\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := "endpoints:\n  - name: checkout-api\n    target: https://203.0.113.10/health\n    checks: [{kind: tls}]\n    alert: " + tt.alert + "\n"
			if err := os.WriteFile(file, []byte(spec), 0o600); err != nil {
				t.Fatal(err)
			}
			code, out, errs := cli(t, teamEnv, "endpoints", "apply", "-f", file)
			got := out
			if tt.code != exitOK {
				got = strings.TrimPrefix(errs, "picket endpoints apply: "+file+":")
			}
			if code != tt.code || got != tt.want {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and %q", code, out, errs, tt.code, tt.want)
			}
		})
	}

	// The collector stored the block as written.
	req, _ := http.NewRequest(http.MethodGet, hs.URL+"/v1/endpoints/checkout-api", nil)
	req.Header.Set("Authorization", "Bearer "+team)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ep struct {
		Alert struct {
			MinDaysLeft float64 `json:"min_days_left"`
			Location    struct{ Lat, Lon float64 }
		} `json:"alert"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ep); err != nil {
		t.Fatalf("GET /v1/endpoints/checkout-api: %s: %v", resp.Status, err)
	}
	if ep.Alert.MinDaysLeft != 21 || ep.Alert.Location.Lat != 50.11 || ep.Alert.Location.Lon != 8.68 {
		t.Errorf("stored alert block %+v; want min_days_left 21 at (50.11, 8.68)", ep.Alert)
	}
}

// Input the collector refuses (400, 422) is bad usage, exit 2, like input
// the CLI refuses itself; a request that is understood but cannot be done
// (a conflict, a name not found) is exit 1. Every error is one line.
func TestRefusedInputExitCodes(t *testing.T) {
	hs := startCollector(t)
	env := map[string]string{"PICKET_COLLECTOR": hs.URL, "PICKET_TOKEN": cliAdmin}
	if code, _, errs := cli(t, env, "teams", "add", "payments"); code != exitOK {
		t.Fatalf("teams add: %d %s", code, errs)
	}
	tests := []struct {
		args []string
		code int
		want string // the whole of stderr
	}{
		{[]string{"teams", "add", "Bad Name"}, exitUsage,
			"picket teams add: name: \"Bad Name\": use 1-63 lower-case letters, digits, '.', '_' or '-'\n"},
		{[]string{"vantages", "add", "hel1", "--region", "EU West", "--provider", "hetzner"}, exitUsage,
			"picket vantages add: invalid vantage: region \"EU West\": use 1-63 lower-case letters, digits, '.', '_' or '-'\n"},
		{[]string{"report", "availability", "--by", "bogus"}, exitUsage,
			"picket report: by: \"bogus\" is not one of region, asn, provider, vantage\n"},
		{[]string{"report", "availability", "--since", "yesterday"}, exitUsage,
			"picket report: since: expected a duration (24h, 30d) or an RFC 3339 time\n"},
		{[]string{"alerts", "list", "--window", "100d"}, exitUsage,
			"picket alerts list: window: expected a duration up to 90d, such as 24h or 7d\n"},
		{[]string{"endpoints", "delete", "web"}, exitUsage,
			"picket endpoints delete: the admin token acts for one team: name it with --team TEAM\n"},
		{[]string{"alerts", "silence", "--for", "1h", "--reason", "deploy"}, exitUsage,
			"picket alerts silence: the admin token acts for one team: name it with --team TEAM\n"},
		{[]string{"teams", "add", "payments"}, exitFailed, "picket teams add: team \"payments\" already exists\n"},
		{[]string{"endpoints", "delete", "web", "--team", "payments"}, exitFailed,
			"picket endpoints delete: team payments has no endpoint \"web\"\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errs := cli(t, env, tt.args...)
			if code != tt.code || out != "" || errs != tt.want {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and %q", code, out, errs, tt.code, tt.want)
			}
		})
	}
}
