package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A user's mistake in a file the commands read is one line naming the
// file and the line of the mistake, and exit 2. The lines are those of
// the mistakes, where yaml.v3's own were off (see internal/config).
func TestFileMistakesNameTheLine(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		file string
		want string // after "FILE:"
	}{
		{"collector: key dedented", []string{"collector", "--config"},
			"listen: 127.0.0.1:0\nalerting:\n  latency:\n    window: 1m\n   baseline: 1h\n",
			"5: did not find expected key"},
		{"collector: unclosed quote on line 1", []string{"collector", "--config"},
			"listen: \"127.0.0.1:0\nstore: sqlite:./x.db\nasn_db: x\n",
			"1: found unexpected end of stream"},
		{"collector: unclosed flow sequence", []string{"collector", "--config"},
			"listen: 127.0.0.1:0\ntargets:\n  allow: [203.0.113.0/24\n  deny_private: true\n",
			"3: did not find expected ',' or ']'"},
		{"collector: bad store", []string{"collector", "--config"},
			"listen: 127.0.0.1:0\nstore: mysql://db/picket\n",
			`2: store: "mysql://db/picket" is neither sqlite:PATH nor postgres://USER@HOST/DB`},
		{"collector: unknown notifier kind", []string{"collector", "--config"},
			"listen: 127.0.0.1:0\nnotifiers:\n  - name: oncall\n    kind: pagerdutty\n",
			`4: notifiers[0] (oncall).kind: "pagerdutty" is not one of webhook, slack, pagerduty, email, alertmanager`},
		{"prober: text after a quoted value", []string{"prober", "--config"},
			"vantage:\n  id: \"hel1\" a\n  region: eu\n",
			"2: did not find expected key"},
		{"endpoints: dedented check field", []string{"endpoints", "apply", "--dry-run", "-f"},
			"endpoints:\n  - name: web\n    target: https://203.0.113.10/\n    checks:\n      - kind: http\n        interval: 30s\n       timeout: 5s\n",
			"7: did not find expected '-' indicator"},
		{"endpoints: duplicate key", []string{"endpoints", "apply", "--dry-run", "-f"},
			"endpoints:\n  - name: web\n    target: https://203.0.113.10/\n    target: https://203.0.113.11/\n    checks: [{kind: http}]\n",
			`4: endpoints[0] (web) target: mapping key "target" already defined at line 3`},
		{"endpoints: zero interval", []string{"endpoints", "apply", "--dry-run", "-f"},
			"endpoints:\n  - name: web\n    target: https://203.0.113.10/\n    checks:\n      - {kind: http}\n      - kind: tls\n        interval: 0s\n",
			"7: endpoints[0] (web) checks[1].interval: must be positive, got 0s; leave interval out for the default"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(dir, fmt.Sprintf("file%d.yaml", i))
			content := tt.file
			if tt.args[0] == "collector" && !strings.Contains(content, "store:") {
				// Below the mistake, so that its line stays; if the
				// collector got as far as its store, it would be here.
				content += "store: sqlite:" + filepath.Join(dir, "p.db") + "\nadmin_token_file: " + filepath.Join(dir, "admin.token") + "\n"
			}
			if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			// Nothing listens there: every mistake is found before the
			// collector is asked anything.
			env := map[string]string{"PICKET_COLLECTOR": "http://127.0.0.1:1", "PICKET_TOKEN": "pkt_x"}
			code, _, errs := cli(t, env, append(tt.args, file)...)
			cmd := tt.args[0]
			if cmd == "endpoints" {
				cmd = "endpoints apply"
			}
			want := "picket " + cmd + ": " + file + ":" + tt.want + "\n"
			if code != exitUsage || errs != want {
				t.Errorf("exit %d, stderr\n %q\nwant exit %d and\n %q", code, errs, exitUsage, want)
			}
		})
	}
}

// --team naming a team that does not exist is an error naming it, exit 1
// (not found), for every command that takes --team; nothing is created.
func TestUnknownTeamFlag(t *testing.T) {
	hs := startCollector(t)
	env := map[string]string{"PICKET_COLLECTOR": hs.URL, "PICKET_TOKEN": cliAdmin}
	if code, _, errs := cli(t, env, "teams", "add", "payments"); code != 0 {
		t.Fatalf("teams add: %d %q", code, errs)
	}
	file := filepath.Join(t.TempDir(), "endpoints.yaml")
	if err := os.WriteFile(file, []byte("endpoints:\n  - name: web\n    target: https://203.0.113.10/\n    checks: [{kind: http}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"endpoints", "list"},
		{"endpoints", "apply", "-f", file},
		{"endpoints", "apply", "-f", file, "--dry-run"},
		{"endpoints", "delete", "web"},
		{"report", "availability"},
		{"alerts", "list"},
		{"alerts", "silences"},
		{"alerts", "silence", "--for", "1h", "--reason", "deploy"},
		{"alerts", "unsilence", "01a2018a-89e6-7ea3-9c13-6e365ba0da9f"},
	} {
		code, out, errs := cli(t, env, append(args, "--team", "nosuch")...)
		if code != exitFailed || !strings.HasSuffix(errs, `: no team "nosuch" (picket teams list shows the teams)`+"\n") || strings.Count(errs, "\n") != 1 || out != "" {
			t.Errorf("%s --team nosuch: exit %d, stdout %q, stderr %q; want exit %d and one line naming the team", strings.Join(args, " "), code, out, errs, exitFailed)
		}
	}
	// The real team still works, and the refusals created nothing.
	if code, out, errs := cli(t, env, "endpoints", "list", "--team", "payments"); code != 0 || strings.Contains(out, "web") {
		t.Errorf("endpoints list --team payments: %d %q %q", code, out, errs)
	}
	if code, out, errs := cli(t, env, "alerts", "silences"); code != 0 || strings.Count(out, "\n") != 1 {
		t.Errorf("alerts silences: %d %q %q; want the header alone", code, out, errs)
	}
}
