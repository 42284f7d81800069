package alerting

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/picketnet/picket/alerting/notify"
	"github.com/picketnet/picket/internal/config"
)

func TestBuildRoutes(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "pd.key")
	if err := os.WriteFile(keyFile, []byte("R0UT1NG\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SLACK_URL": "https://hooks.slack.com/services/T/B/X"}
	getenv := func(k string) string { return env[k] }

	routes, err := BuildRoutes([]NotifierConfig{
		{Name: "oncall", Kind: "pagerduty", RoutingKeyFile: keyFile, Severities: []Severity{SeverityPage}},
		{Name: "chat", Kind: "slack", URLEnv: "SLACK_URL"},
		{Name: "hook", Kind: "webhook", URL: "https://hooks.example.com/picket"},
		{Name: "mail", Kind: "email", SMTP: "smtp.example.com:587", From: "picket@example.com", To: []string{"sre@example.com"}},
		{Name: "am", Kind: "alertmanager", URL: "http://alertmanager:9093"},
	}, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if len(routes) != 5 {
		t.Fatalf("%d routes", len(routes))
	}
	if pd, ok := routes[0].Sender.(notify.PagerDuty); !ok || pd.RoutingKey != "R0UT1NG" || len(routes[0].Severities) != 1 {
		t.Errorf("pagerduty route %+v", routes[0])
	}
	if sl, ok := routes[1].Sender.(notify.Slack); !ok || sl.URL != env["SLACK_URL"] {
		t.Errorf("slack route %+v", routes[1])
	}
	if got := routes[2].Severities; len(got) != 2 || got[0] != SeverityPage || got[1] != SeverityNotify {
		t.Errorf("default severities %v", got)
	}

	bad := []struct {
		cfg  NotifierConfig
		want string
	}{
		{NotifierConfig{Kind: "webhook", URL: "https://x"}, "notifiers[0].name: missing"},
		{NotifierConfig{Name: "x", Kind: "pager"}, "notifiers[0] (x).kind"},
		{NotifierConfig{Name: "x", Kind: "slack", URL: "https://hooks.slack.com/x"}, "a Slack webhook URL is a secret"},
		{NotifierConfig{Name: "x", Kind: "webhook", URL: "ftp://x"}, "(x).url: not an http(s) URL"},
		{NotifierConfig{Name: "x", Kind: "webhook"}, "(x).url: set exactly one"},
		{NotifierConfig{Name: "x", Kind: "pagerduty", RoutingKeyFile: filepath.Join(dir, "missing")}, "(x).routing_key_file"},
		{NotifierConfig{Name: "x", Kind: "pagerduty"}, "(x).routing_key_file: secret not configured"},
		{NotifierConfig{Name: "x", Kind: "email", SMTP: "smtp:25", From: "not an address", To: []string{"a@b"}}, "(x).from"},
		{NotifierConfig{Name: "x", Kind: "email", SMTP: "smtp:25", From: "a@b"}, "(x).to: missing"},
		{NotifierConfig{Name: "x", Kind: "webhook", URL: "https://x", Severities: []Severity{"loud"}}, "(x).severities"},
	}
	for _, tt := range bad {
		_, err := BuildRoutes([]NotifierConfig{tt.cfg}, getenv)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: error %v, want %q", tt.cfg, err, tt.want)
		}
	}
	if _, err := BuildRoutes([]NotifierConfig{{Name: "a", Kind: "webhook", URL: "https://x"}, {Name: "a", Kind: "webhook", URL: "https://y"}}, getenv); err == nil {
		t.Error("duplicate names accepted")
	}

	// The error carries the entry and field, for collector.yaml's line.
	paths := []struct {
		cfgs []NotifierConfig
		path string
	}{
		{[]NotifierConfig{{Name: "a", Kind: "webhook", URL: "https://x"}, {Name: "b", Kind: "email", SMTP: "s:25", From: "a@b", To: []string{"c@d", "nope"}}}, "notifiers[1].to[1]"},
		{[]NotifierConfig{{Name: "a", Kind: "pagerduty", RoutingKeyEnv: "UNSET"}}, "notifiers[0].routing_key_env"},
		{[]NotifierConfig{{Name: "a", Kind: "slack", URLFile: filepath.Join(dir, "missing")}}, "notifiers[0].url_file"},
		{[]NotifierConfig{{Kind: "webhook"}}, "notifiers[0].name"},
	}
	for _, tt := range paths {
		_, err := BuildRoutes(tt.cfgs, getenv)
		var ne *NotifierError
		if !errors.As(err, &ne) || ne.Path() != tt.path {
			t.Errorf("%+v: error %v, want a *NotifierError at %s", tt.cfgs, err, tt.path)
		}
	}
}

func TestYAMLConfig(t *testing.T) {
	var y YAMLConfig
	err := config.Decode("collector.yaml", []byte("evaluate_every: 2s\nfail_after: 3\nlatency: {window: 30s, baseline: 2h}\n"), &y)
	if err != nil {
		t.Fatal(err)
	}
	c := y.Config()
	if c.EvaluateEvery != 2*time.Second || c.FailAfter != 3 || c.RecoverAfter != 2 || c.Latency.Window != 30*time.Second ||
		c.Latency.Baseline != 2*time.Hour || c.Latency.Windows != 3 {
		t.Errorf("config %+v", c)
	}
	err = config.Decode("collector.yaml", []byte("evaluate_every: 2s\nfail_afte: 3\n"), &y)
	if err == nil || err.Error() != `collector.yaml:2: unknown key "fail_afte"` {
		t.Errorf("unknown key error: %v", err)
	}
}
