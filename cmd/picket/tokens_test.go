package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/picketnet/picket/collector"
	"github.com/picketnet/picket/collector/client"
	"github.com/picketnet/picket/vantage"
)

// TestTokenCommands drives teams token, vantages token and vantages remove
// against a real collector over SQLite, and checks with the tokens
// themselves that the old ones stop working.
func TestTokenCommands(t *testing.T) {
	ctx := context.Background()
	hs := startCollector(t)
	adminEnv := map[string]string{"PICKET_COLLECTOR": hs.URL, "PICKET_TOKEN": cliAdmin}
	envWith := func(token string) map[string]string {
		return map[string]string{"PICKET_COLLECTOR": hs.URL, "PICKET_TOKEN": token}
	}
	// token runs a command that prints a token and returns it, checking
	// that stdout holds the token alone and stderr says it is shown once.
	token := func(prefix string, args ...string) string {
		t.Helper()
		code, out, errs := cli(t, adminEnv, args...)
		tok := strings.TrimSuffix(out, "\n")
		if code != exitOK || !strings.HasPrefix(tok, prefix) || strings.ContainsAny(tok, " \n") || !strings.Contains(errs, "shown only now") {
			t.Fatalf("%s: %d %q %q; want the %s token alone on stdout", strings.Join(args, " "), code, out, errs, prefix)
		}
		return tok
	}
	works := func(tok string) error {
		c, err := client.New(hs.URL, tok, hs.Client())
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(tok, vantage.TokenPrefix) {
			_, _, err = c.Assignment(ctx, "")
		} else {
			_, err = c.Endpoints(ctx, "")
		}
		return err
	}

	team1 := token(collector.TeamTokenPrefix, "teams", "add", "payments")
	team2 := token(collector.TeamTokenPrefix, "teams", "token", "payments")
	if code, _, errs := cli(t, envWith(team1), "endpoints", "list"); code == exitOK || errs != "picket endpoints list: unknown token\n" {
		t.Errorf("endpoints list with the old team token: %d %q; want one line saying the token is unknown", code, errs)
	}
	if err := works(team2); err != nil {
		t.Errorf("new team token: %v", err)
	}

	van1 := token(vantage.TokenPrefix, "vantages", "add", "hel1", "--region", "eu-central", "--provider", "hetzner")
	van2 := token(vantage.TokenPrefix, "vantages", "token", "hel1")
	if err := works(van1); !client.IsStatus(err, http.StatusUnauthorized) {
		t.Errorf("old vantage token: %v, want 401", err)
	}
	if err := works(van2); err != nil {
		t.Errorf("new vantage token: %v", err)
	}
	if code, out, _ := cli(t, adminEnv, "vantages", "list"); code != exitOK || !strings.Contains(out, "hel1") || !strings.Contains(out, "eu-central") {
		t.Errorf("vantages list after rotation: %d\n%s", code, out)
	}

	if code, out, errs := cli(t, adminEnv, "vantages", "remove", "hel1"); code != exitOK || !strings.HasPrefix(out, "vantage hel1 removed") || errs != "" {
		t.Errorf("vantages remove: %d %q %q", code, out, errs)
	}
	if err := works(van2); !client.IsStatus(err, http.StatusUnauthorized) {
		t.Errorf("token of the removed vantage: %v, want 401", err)
	}
	if code, out, _ := cli(t, adminEnv, "vantages", "list"); code != exitOK || strings.Contains(out, "hel1") {
		t.Errorf("vantages list after removal: %d\n%s", code, out)
	}
	// The id may be enrolled again.
	van3 := token(vantage.TokenPrefix, "vantages", "add", "hel1", "--region", "eu-central", "--provider", "hetzner")
	if err := works(van3); err != nil {
		t.Errorf("re-enrolled vantage: %v", err)
	}

	tests := []refusal{
		{"unknown vantage", adminEnv, []string{"vantages", "token", "ghost"}, exitFailed, `picket vantages token: no vantage "ghost"` + "\n"},
		{"remove unknown vantage", adminEnv, []string{"vantages", "remove", "ghost"}, exitFailed, `picket vantages remove: no vantage "ghost"` + "\n"},
		{"unknown team", adminEnv, []string{"teams", "token", "ghost"}, exitFailed, `picket teams token: no team "ghost"` + "\n"},
		{"team token for vantages token", envWith(team2), []string{"vantages", "token", "hel1"}, exitFailed, "picket vantages token: this path needs the admin token\n"},
		{"team token for teams token", envWith(team2), []string{"teams", "token", "payments"}, exitFailed, "picket teams token: this path needs the admin token\n"},
		{"vantage token for remove", envWith(van3), []string{"vantages", "remove", "hel1"}, exitFailed, "picket vantages remove: this path needs the admin token\n"},
		{"vantages token without id", adminEnv, []string{"vantages", "token"}, exitUsage, "picket vantages token: usage: picket vantages token ID"},
		{"vantages token with two ids", adminEnv, []string{"vantages", "token", "a", "b"}, exitUsage, "picket vantages token: usage: picket vantages token ID"},
		{"vantages remove without id", adminEnv, []string{"vantages", "remove"}, exitUsage, "picket vantages remove: usage: picket vantages remove ID"},
		{"teams token without name", adminEnv, []string{"teams", "token"}, exitUsage, "picket teams token: usage: picket teams token NAME"},
	}
	checkRefusals(t, tests)
	// None of the refused commands changed a token.
	for _, tok := range []string{team2, van3} {
		if err := works(tok); err != nil {
			t.Errorf("%.8s... after the refused commands: %v", tok, err)
		}
	}
}

// TestTeamsRemove drives teams remove against a real collector over
// SQLite: one line says what happened, the team's token is refused, its
// endpoints are gone while another team's stay, and mistakes are one-line
// errors with a non-zero exit that change nothing.
func TestTeamsRemove(t *testing.T) {
	hs := startCollector(t)
	adminEnv := map[string]string{"PICKET_COLLECTOR": hs.URL, "PICKET_TOKEN": cliAdmin}
	envWith := func(token string) map[string]string {
		return map[string]string{"PICKET_COLLECTOR": hs.URL, "PICKET_TOKEN": token}
	}
	file := filepath.Join(t.TempDir(), "endpoints.yaml")
	tokens := map[string]string{}
	for team, yaml := range map[string]string{
		"payments": `endpoints:
  - name: checkout-api
    target: https://203.0.113.10/health
    checks: [{kind: http}]
  - name: web
    target: https://203.0.113.11/
    checks: [{kind: tcp}]
  - name: ledger
    target: https://203.0.113.12/
    checks: [{kind: http}]
`,
		"search": `endpoints:
  - name: query
    target: https://203.0.113.20/
    checks: [{kind: http}]
`,
		"ops": "endpoints:\n  - name: status\n    target: https://203.0.113.30/\n    checks: [{kind: http}]\n",
	} {
		code, out, errs := cli(t, adminEnv, "teams", "add", team)
		if code != exitOK {
			t.Fatalf("teams add %s: %d %q", team, code, errs)
		}
		tokens[team] = strings.TrimSpace(out)
		if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		if code, _, errs := cli(t, envWith(tokens[team]), "endpoints", "apply", "-f", file); code != exitOK {
			t.Fatalf("endpoints apply for %s: %d %q", team, code, errs)
		}
	}
	if code, _, errs := cli(t, envWith(tokens["payments"]), "endpoints", "list"); code != exitOK {
		t.Fatalf("endpoints list before removal: %d %q", code, errs)
	}

	removals := []struct {
		team, out string
	}{
		{"payments", "team payments removed: its token no longer works, 3 endpoints deleted; its past results stay until retention\n"},
		{"search", "team search removed: its token no longer works, 1 endpoint deleted; its past results stay until retention\n"},
	}
	for _, tc := range removals {
		if code, out, errs := cli(t, adminEnv, "teams", "remove", tc.team); code != exitOK || out != tc.out || errs != "" {
			t.Errorf("teams remove %s: %d %q %q; want exit 0 and the one line %q", tc.team, code, out, errs, tc.out)
		}
		if code, out, errs := cli(t, envWith(tokens[tc.team]), "endpoints", "list"); code != exitFailed || out != "" || errs != "picket endpoints list: unknown token\n" {
			t.Errorf("endpoints list with %s's token after removal: %d %q %q; want one line saying the token is unknown", tc.team, code, out, errs)
		}
		// The team is gone, so --team names nothing; and its endpoints
		// are not among every team's.
		if code, out, errs := cli(t, adminEnv, "endpoints", "list", "--team", tc.team); code != exitFailed || out != "" ||
			errs != `picket endpoints list: no team "`+tc.team+`" (picket teams list shows the teams)`+"\n" {
			t.Errorf("endpoints list --team %s after removal: %d %q %q; want exit 1 and one line naming the team", tc.team, code, out, errs)
		}
		gone := map[string]string{"payments": "203.0.113.1", "search": "203.0.113.2"}[tc.team] // their targets' prefix
		if code, out, _ := cli(t, adminEnv, "endpoints", "list"); code != exitOK || strings.Contains(out, gone) {
			t.Errorf("every team's endpoints after removing %s: %d\n%s", tc.team, code, out)
		}
	}
	if code, out, _ := cli(t, adminEnv, "teams", "list"); code != exitOK || !strings.Contains(out, "ops") || strings.Contains(out, "payments") || strings.Contains(out, "search") {
		t.Errorf("teams list after removal: %d\n%s", code, out)
	}

	tests := []refusal{
		{"removed again", adminEnv, []string{"teams", "remove", "payments"}, exitFailed, `picket teams remove: no team "payments"` + "\n"},
		{"unknown team", adminEnv, []string{"teams", "remove", "ghost"}, exitFailed, `picket teams remove: no team "ghost"` + "\n"},
		{"team token", envWith(tokens["ops"]), []string{"teams", "remove", "ops"}, exitFailed, "picket teams remove: this path needs the admin token\n"},
		{"without name", adminEnv, []string{"teams", "remove"}, exitUsage, "picket teams remove: usage: picket teams remove NAME"},
		{"with two names", adminEnv, []string{"teams", "remove", "ops", "payments"}, exitUsage, "picket teams remove: usage: picket teams remove NAME"},
	}
	checkRefusals(t, tests)
	// The refused commands left ops alone.
	if code, out, errs := cli(t, envWith(tokens["ops"]), "endpoints", "list"); code != exitOK || !strings.Contains(out, "status") {
		t.Errorf("ops' endpoints after the refused commands: %d %q %q", code, out, errs)
	}
}

// refusal is a command the CLI must refuse with one line on stderr.
type refusal struct {
	name string
	env  map[string]string
	args []string
	code int
	err  string // stderr starts with it
}

// checkRefusals runs each command and checks its exit code, that nothing
// went to stdout and that stderr is one line starting with err.
func checkRefusals(t *testing.T, tests []refusal) {
	t.Helper()
	for _, tc := range tests {
		code, out, errs := cli(t, tc.env, tc.args...)
		if code != tc.code || out != "" || strings.Count(errs, "\n") != 1 || !strings.HasPrefix(errs, tc.err) {
			t.Errorf("%s: picket %s = %d %q %q; want %d, nothing on stdout and the one line %q", tc.name, strings.Join(tc.args, " "), code, out, errs, tc.code, tc.err)
		}
	}
}
