package config

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const full = `listen: 127.0.0.1:9090
store: postgres://picket@db/picket
admin_token_file: /etc/picket/admin.token
asn_db: ./ip2asn-v4.tsv.gz
retention: {raw: 14d, minute: 90d, hour: 2y}
targets:
  deny_private: true
  allow: [203.0.113.0/24, 10.1.2.3]
  deny: [198.51.100.0/24]
nel:
  max_body_bytes: 32KiB
  rate_per_second: 5
  burst: 500
  trusted_proxies: [10.0.0.0/8, 192.0.2.7]
alerting:
  evaluate_every: 5s
  fail_after: 2
notifiers:
  - {name: hook, kind: webhook, url: "https://hooks.example.com/picket"}
`

func TestParse(t *testing.T) {
	c, err := Parse("collector.yaml", []byte(full))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9090" || c.AdminTokenFile != "/etc/picket/admin.token" {
		t.Errorf("%+v", c)
	}
	s, err := ParseStore(c.Store)
	if err != nil || s.Driver != "postgres" || s.URL != "postgres://picket@db/picket" {
		t.Errorf("store %+v %v", s, err)
	}
	if n := c.NEL; n.MaxBodyBytes != 32<<10 || n.RatePerSecond != 5 || n.Burst != 500 ||
		fmt.Sprint(n.Proxies()) != "[10.0.0.0/8 192.0.2.7/32]" {
		t.Errorf("nel %+v, proxies %v", n, n.Proxies())
	}
	r := c.ResultsRetention()
	if r.Raw != 14*24*time.Hour || r.Hour != 2*365*24*time.Hour {
		t.Errorf("retention %+v", r)
	}
	p := c.Policy()
	if !p.DenyPrivate || len(p.Allow) != 2 || p.Allow[1] != netip.MustParsePrefix("10.1.2.3/32") ||
		len(p.Deny) != 1 || p.Deny[0] != netip.MustParsePrefix("198.51.100.0/24") {
		t.Errorf("policy %+v", p)
	}
	var alerting struct {
		EvaluateEvery string `yaml:"evaluate_every"`
		FailAfter     int    `yaml:"fail_after"`
	}
	if err := c.DecodeAlerting(&alerting); err != nil || alerting.FailAfter != 2 {
		t.Errorf("alerting %+v %v", alerting, err)
	}
	var narrow struct {
		EvaluateEvery string `yaml:"evaluate_every"`
	}
	if err := c.DecodeAlerting(&narrow); err == nil || !strings.Contains(err.Error(), `collector.yaml:17: unknown key "fail_after"`) {
		t.Errorf("unknown key inside alerting: %v", err)
	}
	var notifiers []struct {
		Name, Kind, URL string
	}
	if err := c.DecodeNotifiers(&notifiers); err != nil || len(notifiers) != 1 || notifiers[0].Kind != "webhook" {
		t.Errorf("notifiers %+v %v", notifiers, err)
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse("c.yaml", []byte("store: sqlite:/tmp/x.db\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != DefaultListen || !c.Policy().DenyPrivate || c.Targets.AllowCAFiles || c.ResultsRetention() != DefaultRetention || c.Metrics.MaxProbeSeries != DefaultMaxProbeSeries {
		t.Errorf("defaults %+v", c)
	}
	if s, _ := ParseStore(c.Store); s.Path != "/tmp/x.db" {
		t.Errorf("sqlite path %q", s.Path)
	}
	c, err = Parse("c.yaml", []byte("targets: {deny_private: false, allow_ca_files: true}\n"))
	if err != nil || c.Policy().DenyPrivate || !c.Targets.AllowCAFiles {
		t.Errorf("deny_private false, allow_ca_files true: %+v %v", c, err)
	}
	if d := Default(); d.Store != DefaultStore {
		t.Errorf("Default() store %q", d.Store)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"listen: x\nlisten_addr: y\n", `c.yaml:2: unknown key "listen_addr"`},
		// The errors found after decoding name the line too.
		{"listen: x\nstore: mysql://x\n", `c.yaml:2: store: "mysql://x" is neither sqlite:PATH nor postgres://USER@HOST/DB`},
		{"store: \"sqlite:\"\n", `c.yaml:1: store: "sqlite:" has no path; write sqlite:./picket-data/picket.db`},
		{"targets:\n  allow: [not-a-cidr]\n", "c.yaml:2: targets.allow"},
		{"targets:\n  deny: [192.0.2.0/33]\n", "c.yaml:2: targets.deny"},
		{"retention:\n  raw: 90d\n  minute: 14d\n", "c.yaml:3: retention.minute: 336h0m0s is shorter than raw (2160h0m0s)"},
		{"retention: {raw: 1d, minute: 2d, hour: 1d}\n", "c.yaml:1: retention.hour: 24h0m0s is shorter than minute (48h0m0s)"},
		{"retention:\n  raw: -5s\n", "c.yaml:2: retention.raw: -5s is negative: periods must be positive"},
		// raw is longer than the default minute period, which the file
		// does not have: the line is the section's.
		{"listen: x\nretention:\n  raw: 100d\n", "c.yaml:2: retention.minute: 2160h0m0s is shorter than raw (2400h0m0s)"},
		{"retention: {raw: soon}\n", "c.yaml:1: bad duration"},
		{"listen: x\nheartbeat_every: 10ms\n", "c.yaml:2: heartbeat_every: 10ms is shorter than 1s"},
		{"metrics:\n  public: true\n  max_probe_series: -1\n", "c.yaml:3: metrics.max_probe_series: must be positive"},
		{"nel:\n  trusted_proxies: [10.0.0.0/8, proxy.internal]\n", `c.yaml:2: nel.trusted_proxies: "proxy.internal" is not an address`},
		{"nel:\n  max_body_bytes: 1GiB\n", "c.yaml:2: nel.max_body_bytes: 1073741824 is outside 0..16MiB"},
		{"nel: {max_reports: -1}\n", "c.yaml:1: nel.max_reports: -1 is outside 0..10000"},
		{"nel:\n  rate_per_second: 1\n  burst: -5\n", "c.yaml:3: nel.burst: -5 is negative"},
		{"nel:\n  rate_per_second: -1\n", "c.yaml:2: nel.rate_per_second: -1 is negative"},
		{"nel:\n  max_networks: -1\n", "c.yaml:2: nel.max_networks: -1 is outside 0..10000000"},
		{"limits:\n  team_endpoints: -1\n", "c.yaml:2: limits.team_endpoints: -1 is outside 0..1000000"},
		{"limits: {ingest_batches: 5000}\n", "c.yaml:1: limits.ingest_batches: 5000 is outside 0..1024"},
		{"limits:\n  target_runs_per_second: -2\n", "c.yaml:2: limits.target_runs_per_second: -2 is negative"},
	}
	for _, tc := range tests {
		_, err := Parse("c.yaml", []byte(tc.in))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.in, err, tc.want)
		}
	}
	path := filepath.Join(t.TempDir(), "collector.yaml")
	if err := os.WriteFile(path, []byte(full), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := Load(path); err != nil || c.File() != path {
		t.Errorf("Load: %v", err)
	}
}

func TestLine(t *testing.T) {
	c, err := Parse("collector.yaml", []byte(full))
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]int{
		"store":                     2,
		"retention.minute":          5,
		"targets.allow[1]":          8,
		"nel.burst":                 13,
		"notifiers[0]":              19,
		"notifiers[0].url":          19,
		"notifiers[3].url":          18, // no such entry: the list's line
		"alerting.latency.window":   15, // no such key: the section's line
		"nel.trusted_proxies[9]":    14,
		"missing":                   0,
		"targets.allow[x]":          8,
		"notifiers[0].to[0].nested": 19,
	} {
		if got := c.Line(path); got != want {
			t.Errorf("Line(%q) = %d, want %d", path, got, want)
		}
	}
	if got := Default().Line("store"); got != 0 {
		t.Errorf("Default().Line(store) = %d, want 0", got)
	}
}

// A collector logs its store at start; a password written into the URL
// must not reach the log.
func TestRedactStore(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"sqlite:./picket-data/picket.db", "sqlite:./picket-data/picket.db"},
		{"postgres://picket@db.internal/picket", "postgres://picket@db.internal/picket"},
		{"postgres://picket:s3cret@db.internal:5432/picket?sslmode=require", "postgres://picket:xxxxx@db.internal:5432/picket?sslmode=require"},
		{"postgresql://picket@db.internal/picket?password=s3cret&sslmode=require", "postgresql://picket@db.internal/picket?password=xxxxx&sslmode=require"},
		{"postgres://picket:s3cret@db.internal:bad port/picket", "postgres://... (not shown: it does not parse as a URL)"},
	} {
		got := RedactStore(tc.in)
		if got != tc.want {
			t.Errorf("RedactStore(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if strings.Contains(got, "s3cret") {
			t.Errorf("RedactStore(%q) shows the password: %q", tc.in, got)
		}
	}
}
