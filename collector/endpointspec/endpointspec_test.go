package endpointspec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/picketnet/picket/checks"
	"github.com/picketnet/picket/checks/all"
	"github.com/picketnet/picket/results"
)

// statusKind is a kind of these tests with one nested, checked option, so
// that field paths can be tested without depending on a real kind.
type statusKind struct{}

func (statusKind) Name() string { return "probe" }

func (statusKind) Parse(_ string, raw json.RawMessage) (checks.Check, error) {
	var o struct {
		Expect struct {
			Status []int `json:"status"`
		} `json:"expect"`
	}
	if err := checks.DecodeOptions(raw, &o); err != nil {
		return nil, err
	}
	for i, s := range o.Expect.Status {
		if s < 100 || s > 599 {
			return nil, checks.Errorf(fmt.Sprintf("expect.status[%d]", i), "%d is not an HTTP status", s)
		}
	}
	return nil, nil
}

const sample = `# a team's endpoints
endpoints:
  - name: checkout-api
    target: https://api.example.com/health
    checks:
      - {kind: probe, interval: 30s, timeout: 10s, expect: {status: [200]}}
      - kind: probe
        interval: 60s
        expect:
          status: [200, 204]
    regions: [all]
    alert: {severity: page, quorum: 2, latency_ms: 800}
  - name: db
    target: db.example.com:5432
    checks:
      - {kind: probe}
`

func TestParse(t *testing.T) {
	f, err := Parse("endpoints.yaml", []byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Endpoints) != 2 {
		t.Fatalf("%d endpoints, want 2", len(f.Endpoints))
	}
	e := f.Endpoints[0]
	if e.Name != "checkout-api" || e.Target != "https://api.example.com/health" || len(e.Checks) != 2 || strings.Join(e.Regions, ",") != "all" {
		t.Errorf("endpoint 0 = %+v", e)
	}
	var c map[string]any
	if err := json.Unmarshal(e.Checks[1], &c); err != nil {
		t.Fatal(err)
	}
	if c["interval"] != "60s" || fmt.Sprint(c["expect"]) != "map[status:[200 204]]" {
		t.Errorf("check 1 = %s", e.Checks[1])
	}
	if string(e.Alert) != `{"latency_ms":800,"quorum":2,"severity":"page"}` {
		t.Errorf("alert = %s", e.Alert)
	}
	for path, want := range map[string]int{
		"endpoints[0]": 3,
		"endpoints[0].checks[1].expect.status[1]": 10,
		"endpoints[0].checks[1].expect.status":    10,
		"endpoints[0].checks[1].interval":         8,
		"endpoints[0].checks[0].expect.status[0]": 6,
		"endpoints[0].alert.quorum":               12,
		"endpoints[1].checks[0].kind":             16,
		"endpoints[1].checks[0].nothing.here":     16, // falls back to the nearest ancestor
	} {
		if got := f.Line(path); got != want {
			t.Errorf("Line(%s) = %d, want %d", path, got, want)
		}
	}
	ids, err := CheckIDs(e)
	if err != nil || strings.Join(ids, " ") != "checkout-api/probe checkout-api/probe-2" {
		t.Errorf("check ids %v, %v", ids, err)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"unknown top key", "endpoints: []\nteam: x\n", "endpoints.yaml:2: unknown key \"team\""},
		{"unknown endpoint key", "endpoints:\n  - name: a\n    targte: x\n", "endpoints.yaml:3: endpoints[0] (a) targte: unknown key"},
		{"checks not a list", "endpoints:\n  - name: a\n    checks: {kind: probe}\n", "endpoints.yaml:3: endpoints[0] (a) checks: expected a list"},
		{"syntax", "endpoints:\n  - name: [a\n", "endpoints.yaml:"},
		{"not a mapping", "- a\n- b\n", "endpoints.yaml:1: expected a mapping"},
		{"empty", "", "empty file"},
		{"duplicate key", "endpoints:\n  - name: a\n    checks:\n      - {kind: probe, kind: probe}\n", `endpoints.yaml:4: endpoints[0] (a) checks[0].kind: mapping key "kind" already defined at line 4`},
		{"two documents", "endpoints: []\n---\nendpoints: []\n", "more than one YAML document"},
		{"infinite number", "endpoints:\n  - name: a\n    checks:\n      - {kind: probe, x: .inf}\n", "endpoints.yaml:4: endpoints[0] (a) checks[0].x: .inf is not a finite number"},
		// Syntax errors name the line of the mistake, which yaml.v3 does
		// not always do (its line is in the comment).
		{"dedented check field", // yaml.v3: line 3
			"endpoints:\n  - name: a\n    checks:\n      - kind: probe\n        interval: 30s\n       timeout: 5s\n",
			"endpoints.yaml:6: did not find expected '-' indicator"},
		{"unclosed quote in the first endpoint", // yaml.v3: line 2 (right)
			"endpoints:\n  - name: \"a\n    target: x\n",
			"endpoints.yaml:2: found unexpected end of stream"},
		{"unclosed flow sequence of checks", // yaml.v3: line 3
			"endpoints:\n  - name: a\n    target: x\n    checks: [{kind: probe}, {kind: probe}\n    regions: [all]\n",
			"endpoints.yaml:4: did not find expected ',' or ']'"},
		{"text after a quoted target", // yaml.v3: line 1
			"endpoints:\n  - name: a\n    target: \"x\" y\n",
			"endpoints.yaml:3: did not find expected key"},
		// A duplicate key would otherwise be dropped silently: a node tree
		// keeps both, and the last one won.
		{"duplicate endpoint key", "endpoints:\n  - name: a\n    target: x\n    name: b\n",
			`endpoints.yaml:4: endpoints[0] (a) name: mapping key "name" already defined at line 2`},
		{"duplicate checks", "endpoints:\n  - name: a\n    checks: []\n    checks: []\n",
			`endpoints.yaml:4: endpoints[0] (a) checks: mapping key "checks" already defined at line 3`},
		{"duplicate endpoints list", "endpoints: []\nendpoints: []\n",
			`endpoints.yaml:2: mapping key "endpoints" already defined at line 1`},
	}
	for _, tc := range tests {
		_, err := Parse("endpoints.yaml", []byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	if f, err := Parse("e.yaml", []byte("endpoints:\n")); err != nil || len(f.Endpoints) != 0 {
		t.Errorf("empty list: %v, %v", f, err)
	}
}

// TestValidateLocates: a spec error becomes file:line, endpoint and field.
func TestValidateLocates(t *testing.T) {
	in := strings.Replace(sample, "status: [200, 204]", "status: [200, 999]", 1)
	f, err := Parse("endpoints.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	v := &Validator{Kinds: checks.NewRegistry(statusKind{})}
	err = f.Validate(context.Background(), v)
	want := "endpoints.yaml:10: endpoints[0] (checkout-api) checks[1].expect.status[1]: 999 is not an HTTP status"
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
	// Errors found by the collector come back as paths; Locate maps them.
	index, field, ok := ParsePath("endpoints[1].checks[0].kind")
	if !ok || index != 1 || field != "checks[0].kind" {
		t.Errorf("ParsePath = %d %q %v", index, field, ok)
	}
	located := f.Locate(&Error{Index: 1, Name: "db", Field: "checks[0].kind", Reason: "bad"})
	if located.Error() != "endpoints.yaml:16: endpoints[1] (db) checks[0].kind: bad" {
		t.Errorf("Locate = %v", located)
	}
}

// TestZeroDurationsInAFile: "interval: 0s" in a file is refused with its
// line, endpoint, check and field; leaving interval out is the default.
func TestZeroDurationsInAFile(t *testing.T) {
	v := &Validator{Kinds: checks.NewRegistry(statusKind{})}
	tests := []struct{ name, in, want string }{
		{"zero interval", "endpoints:\n  - name: a\n    target: x\n    checks:\n      - {kind: probe}\n  - name: b\n    target: x\n    checks:\n      - kind: probe\n        interval: 0s\n",
			"e.yaml:10: endpoints[1] (b) checks[0].interval: must be positive, got 0s; leave interval out for the default"},
		{"zero timeout", "endpoints:\n  - name: a\n    target: x\n    checks:\n      - {kind: probe, interval: 30s, timeout: 0s}\n",
			"e.yaml:5: endpoints[0] (a) checks[0].timeout: must be positive, got 0s; leave timeout out for the default"},
		{"empty interval", "endpoints:\n  - name: a\n    target: x\n    checks:\n      - kind: probe\n        interval:\n",
			"e.yaml:6: endpoints[0] (a) checks[0].interval: empty; write a duration such as 30s, or leave interval out for the default"},
		{"omitted", "endpoints:\n  - name: a\n    target: x\n    checks:\n      - {kind: probe}\n", ""},
	}
	for _, tt := range tests {
		f, err := Parse("e.yaml", []byte(tt.in))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		err = f.Validate(context.Background(), v)
		if tt.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s:\n got %v\nwant %s", tt.name, err, tt.want)
		}
	}
}

// TestRealKinds validates against the kinds Picket ships (whatever
// exists): every registered kind accepts a minimal spec on a suitable
// target or rejects it with a field error; an unknown kind lists them.
func TestRealKinds(t *testing.T) {
	reg := all.New()
	v := &Validator{Kinds: reg}
	e := results.Endpoint{Name: "x", Target: "https://example.com/", Checks: []json.RawMessage{json.RawMessage(`{"kind":"nope"}`)}}
	err := v.Validate(context.Background(), &e)
	if err == nil || !strings.Contains(err.Error(), "checks[0].kind") {
		t.Errorf("unknown kind: %v", err)
	}
	for _, k := range reg.Kinds() {
		if k != "http" {
			continue
		}
		f, err := Parse("e.yaml", []byte("endpoints:\n  - name: web\n    target: https://example.com/\n    checks:\n      - {kind: http, interval: 30s, timeout: 10s, expect: {status: [200]}}\n      - {kind: http, timeout: 10m}\n"))
		if err != nil {
			t.Fatal(err)
		}
		err = f.Validate(context.Background(), v)
		if err == nil || !strings.HasPrefix(err.Error(), "e.yaml:6: endpoints[0] (web) checks[1].timeout:") {
			t.Errorf("http timeout over the interval: %v", err)
		}
	}
	// A zero is refused, naming endpoint and field, rather than read as
	// "the default".
	f, err := Parse("e.yaml", []byte("endpoints:\n  - name: web\n    target: https://example.com/\n    checks:\n      - {kind: icmp}\n      - kind: traceroute\n        probes: 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := "e.yaml:7: endpoints[0] (web) checks[1].probes: 0 is outside 1..10"
	if err := f.Validate(context.Background(), v); err == nil || err.Error() != want {
		t.Errorf("traceroute probes 0:\n got %v\nwant %s", err, want)
	}
}

func TestValidateRules(t *testing.T) {
	v := &Validator{Kinds: checks.NewRegistry(statusKind{})}
	probe := json.RawMessage(`{"kind":"probe"}`)
	tests := []struct {
		ep   results.Endpoint
		want string
	}{
		{results.Endpoint{Name: "a/b", Target: "x", Checks: []json.RawMessage{probe}}, "name:"},
		{results.Endpoint{Name: "a", Target: "has space", Checks: []json.RawMessage{probe}}, "target:"},
		{results.Endpoint{Name: "a", Target: "x", Checks: []json.RawMessage{probe}, Regions: []string{"eu", "eu"}}, "regions[1]: \"eu\" is listed twice"},
		{results.Endpoint{Name: "a", Target: "x", Checks: []json.RawMessage{probe}, Alert: json.RawMessage(`{"sevrity":"page"}`)}, "alert.sevrity: unknown field"},
		{results.Endpoint{Name: "a", Target: "x", Checks: []json.RawMessage{json.RawMessage(`{"kind":"probe","interval":"1h","timeout":"2h"}`)}}, "checks[0].timeout"},
		// Zero would silently mean the default: refused when applied.
		{results.Endpoint{Name: "a", Target: "x", Checks: []json.RawMessage{json.RawMessage(`{"kind":"probe","interval":"0s"}`)}},
			"checks[0].interval: must be positive, got 0s; leave interval out for the default"},
		{results.Endpoint{Name: "a", Target: "x", Checks: []json.RawMessage{probe, json.RawMessage(`{"kind":"probe","interval":"30s","timeout":"0s"}`)}},
			"checks[1].timeout: must be positive, got 0s"},
		{results.Endpoint{Name: "a", Target: "x", Checks: []json.RawMessage{json.RawMessage(`{"kind":"probe","interval":"-1m"}`)}},
			"checks[0].interval: must be positive, got -1m0s"},
		{results.Endpoint{Name: "a", Target: "x", Checks: []json.RawMessage{json.RawMessage(`{"kind":"probe","timeout":null}`)}},
			"checks[0].timeout: empty; write a duration such as 30s"},
	}
	for _, tc := range tests {
		err := v.Validate(context.Background(), &tc.ep)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.ep, err, tc.want)
		}
	}
	ok := results.Endpoint{Name: "a", Target: "x", Checks: []json.RawMessage{probe}}
	if err := v.Validate(context.Background(), &ok); err != nil || strings.Join(ok.Regions, ",") != "all" {
		t.Errorf("minimal endpoint: %v, regions %v", err, ok.Regions)
	}
}

func TestTargetHost(t *testing.T) {
	for in, want := range map[string]string{
		"https://api.example.com/health": "api.example.com",
		"https://[2001:db8::1]:8443/":    "2001:db8::1",
		"db.example.com:5432":            "db.example.com",
		"example.com":                    "example.com",
		"192.0.2.1":                      "192.0.2.1",
		"2001:db8::1":                    "2001:db8::1",
	} {
		if got := TargetHost(in); got != want {
			t.Errorf("TargetHost(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzParse: any input parses or fails with an *Error naming the file,
// never panics; what parses converts to valid JSON checks.
func FuzzParse(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte("endpoints: []\n"))
	f.Add([]byte("endpoints:\n  - name: a\n    checks: [{kind: probe, x: &a [*a]}]\n"))
	f.Add([]byte("a: &a [*a, *a]\nendpoints: *a\n"))
	f.Add([]byte("endpoints:\n  - {name: x, checks: [{kind: probe, n: 1e400}]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("f.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.yaml") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		for _, e := range file.Endpoints {
			for _, c := range e.Checks {
				if !json.Valid(c) {
					t.Fatalf("invalid JSON check %q", c)
				}
			}
		}
	})
}

// A team must not choose which files the probers (or the collector) read:
// every kind's ca_file is refused in a registered endpoint unless the
// operator allows it, and nothing is read while validating.
func TestCAFileNeedsTheOperator(t *testing.T) {
	absent := filepath.Join(t.TempDir(), "absent.pem")
	checksWithFile := map[string]results.Endpoint{
		"http": {Target: "https://example.com/", Checks: []json.RawMessage{json.RawMessage(`{"kind":"http","ca_file":"` + absent + `"}`)}},
		"tls":  {Target: "example.com:443", Checks: []json.RawMessage{json.RawMessage(`{"kind":"tls","ca_file":"` + absent + `"}`)}},
		"tcp":  {Target: "example.com:443", Checks: []json.RawMessage{json.RawMessage(`{"kind":"tcp","tls":true,"ca_file":"` + absent + `"}`)}},
		"dns": {Target: "example.com", Checks: []json.RawMessage{
			json.RawMessage(`{"kind":"dns","resolver":"192.0.2.53:853","transport":"tls"}`),
			json.RawMessage(`{"kind":"dns","resolver":"192.0.2.53:853","transport":"tls","ca_file":"` + absent + `"}`),
		}},
	}
	for kind, ep := range checksWithFile {
		t.Run(kind, func(t *testing.T) {
			last := len(ep.Checks) - 1
			ep.Name = "web"
			refused := ep
			err := (&Validator{Kinds: all.New()}).Validate(context.Background(), &refused)
			var ve *Error
			if !errors.As(err, &ve) || ve.Field != fmt.Sprintf("checks[%d].ca_file", last) || !strings.Contains(ve.Reason, "ca_pem") {
				t.Fatalf("without the operator's leave: %v, want an error on checks[%d].ca_file pointing to ca_pem", err, last)
			}
			allowed := ep
			if err := (&Validator{Kinds: all.New(), AllowLocalFiles: true}).Validate(context.Background(), &allowed); err != nil {
				t.Fatalf("allowed by the operator: %v (the file must be read by the prober at run time, not here)", err)
			}
		})
	}
}
