package checks_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/picketnet/picket/checks"
	"github.com/picketnet/picket/checks/all"
	"github.com/picketnet/picket/results"
)

// probeKind is a kind for testing the registry: its options are
// {"expect":{"min":N}}, validated through DecodeOptions like a real kind.
type probeKind struct{ name string }

func (k probeKind) Name() string { return k.name }

type probeOptions struct {
	Expect struct {
		Min int `json:"min"`
	} `json:"expect"`
}

func (k probeKind) Parse(target string, raw json.RawMessage) (checks.Check, error) {
	var o probeOptions
	if err := checks.DecodeOptions(raw, &o); err != nil {
		return nil, err
	}
	if target == "" {
		return nil, checks.Errorf("target", "missing")
	}
	if o.Expect.Min < 0 {
		return nil, checks.Within("expect", checks.Errorf("min", "%d is negative", o.Expect.Min))
	}
	return probeCheck{target: target, min: o.Expect.Min}, nil
}

type probeCheck struct {
	target string
	min    int
}

func (c probeCheck) Run(context.Context, checks.Env) results.Result {
	return checks.Begin("probe", c.target)
}

func newRegistry() *checks.Registry {
	return checks.NewRegistry(probeKind{"probe"}, probeKind{"another"})
}

func TestRegistry(t *testing.T) {
	r := newRegistry()
	if got := strings.Join(r.Kinds(), ","); got != "another,probe" {
		t.Errorf("Kinds() = %s, want sorted", got)
	}
	if k, ok := r.Lookup("probe"); !ok || k.Name() != "probe" {
		t.Errorf("Lookup(probe) = %v, %v", k, ok)
	}
	if _, ok := r.Lookup("nope"); ok {
		t.Error("Lookup(nope) found a kind")
	}
	if got := checks.NewRegistry().Kinds(); len(got) != 0 {
		t.Errorf("empty registry has kinds %v", got)
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name, target, spec string
		field              string // "" with ok
		ok                 bool
		interval, timeout  time.Duration
	}{
		{name: "defaults", target: "t", spec: `{"kind":"probe"}`, ok: true, interval: time.Minute, timeout: 10 * time.Second},
		{name: "explicit", target: "t", spec: `{"kind":"probe","interval":"30s","timeout":"5s"}`, ok: true, interval: 30 * time.Second, timeout: 5 * time.Second},
		{name: "timeout defaults to a short interval", target: "t", spec: `{"kind":"probe","interval":"3s"}`, ok: true, interval: 3 * time.Second, timeout: 3 * time.Second},
		{name: "kind options", target: "t", spec: `{"kind":"probe","expect":{"min":2}}`, ok: true, interval: time.Minute, timeout: 10 * time.Second},
		{name: "bounds are inclusive", target: "t", spec: `{"kind":"probe","interval":"24h","timeout":"5m"}`, ok: true, interval: 24 * time.Hour, timeout: 5 * time.Minute},
		{name: "smallest interval", target: "t", spec: `{"kind":"probe","interval":"1s"}`, ok: true, interval: time.Second, timeout: time.Second},

		{name: "missing kind", target: "t", spec: `{}`, field: "kind"},
		{name: "empty kind", target: "t", spec: `{"kind":""}`, field: "kind"},
		{name: "kind not a string", target: "t", spec: `{"kind":7}`, field: "kind"},
		{name: "interval too short", target: "t", spec: `{"kind":"probe","interval":"500ms"}`, field: "interval"},
		{name: "interval too long", target: "t", spec: `{"kind":"probe","interval":"25h"}`, field: "interval"},
		{name: "negative interval", target: "t", spec: `{"kind":"probe","interval":"-1m"}`, field: "interval"},
		{name: "interval not a duration", target: "t", spec: `{"kind":"probe","interval":"often"}`, field: "interval"},
		{name: "interval a number", target: "t", spec: `{"kind":"probe","interval":60}`, field: "interval"},
		{name: "timeout too long", target: "t", spec: `{"kind":"probe","interval":"1h","timeout":"6m"}`, field: "timeout"},
		{name: "negative timeout", target: "t", spec: `{"kind":"probe","timeout":"-1s"}`, field: "timeout"},
		{name: "timeout over interval", target: "t", spec: `{"kind":"probe","interval":"10s","timeout":"11s"}`, field: "timeout"},
		{name: "not an object", target: "t", spec: `[1,2]`, field: ""},
		{name: "not JSON", target: "t", spec: `{"kind":`, field: ""},
		{name: "kind's field error", target: "t", spec: `{"kind":"probe","expect":{"min":-1}}`, field: "expect.min"},
		{name: "kind's type error", target: "t", spec: `{"kind":"probe","expect":{"min":"two"}}`, field: "expect.min"},
		{name: "kind's unknown field", target: "t", spec: `{"kind":"probe","expcet":{}}`, field: "expcet"},
		{name: "kind's target error", target: "", spec: `{"kind":"probe"}`, field: "target"},
		{name: "too large", target: "t", spec: `{"kind":"probe","x":"` + strings.Repeat("a", checks.MaxSpecBytes) + `"}`, field: ""},
	}
	r := newRegistry()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := r.Parse(tt.target, json.RawMessage(tt.spec))
			if tt.ok {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if p.Spec.Kind != "probe" || p.Spec.Interval.Std() != tt.interval || p.Spec.Timeout.Std() != tt.timeout {
					t.Errorf("spec %+v, want interval %s timeout %s", p.Spec, tt.interval, tt.timeout)
				}
				if p.Check == nil {
					t.Error("no check")
				}
				return
			}
			var fe *checks.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Parse = %v (%T), want a *FieldError", err, err)
			}
			if fe.Field != tt.field {
				t.Errorf("field %q, want %q (%v)", fe.Field, tt.field, err)
			}
			if fe.Reason == "" || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q is not one informative line", err)
			}
		})
	}
}

func TestParseUnknownKind(t *testing.T) {
	_, err := newRegistry().Parse("t", json.RawMessage(`{"kind":"gopher"}`))
	if !errors.Is(err, checks.ErrUnknownKind) {
		t.Fatalf("err = %v, want ErrUnknownKind", err)
	}
	if want := `kind: "gopher" is not one of another, probe`; err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}
}

func TestFieldError(t *testing.T) {
	cause := io.ErrUnexpectedEOF
	tests := []struct {
		err  *checks.FieldError
		want string
	}{
		{&checks.FieldError{Field: "expect.status[1]", Reason: "not a status"}, "expect.status[1]: not a status"},
		{&checks.FieldError{Reason: "not an object"}, "not an object"},
		{&checks.FieldError{Field: "x", Reason: "bad", Err: cause}, "x: bad"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	if !errors.Is(tests[2].err, cause) {
		t.Error("FieldError does not unwrap to its cause")
	}
	if got := checks.Errorf("a.b", "%d is %s", 3, "odd").Error(); got != "a.b: 3 is odd" {
		t.Errorf("Errorf = %q", got)
	}
}

func TestWithin(t *testing.T) {
	plain := errors.New("plain")
	tests := []struct {
		parent string
		err    error
		want   string
	}{
		{"expect", &checks.FieldError{Reason: "bad"}, "expect: bad"},
		{"expect", &checks.FieldError{Field: "status", Reason: "bad"}, "expect.status: bad"},
		{"status", &checks.FieldError{Field: "[2]", Reason: "bad"}, "status[2]: bad"},
		{"a", checks.Within("b", &checks.FieldError{Field: "c", Reason: "bad"}), "a.b.c: bad"},
		{"a", plain, "plain"},
	}
	for _, tt := range tests {
		if got := checks.Within(tt.parent, tt.err).Error(); got != tt.want {
			t.Errorf("Within(%q, %v) = %q, want %q", tt.parent, tt.err, got, tt.want)
		}
	}
	if checks.Within("x", plain) != plain {
		t.Error("Within changed an error that is not a FieldError")
	}
	orig := &checks.FieldError{Field: "f", Reason: "r"}
	_ = checks.Within("p", orig)
	if orig.Field != "f" {
		t.Errorf("Within modified its argument: %q", orig.Field)
	}
	if checks.Within("x", nil) != nil {
		t.Error("Within(nil) is not nil")
	}
}

func TestDecodeOptions(t *testing.T) {
	type Embedded struct {
		Region string `json:"region"`
	}
	type rule struct {
		Port int `json:"port"`
	}
	type opts struct {
		Embedded
		Name   string `json:"name"`
		Expect struct {
			Min  int      `json:"min"`
			Tags []string `json:"tags"`
		} `json:"expect"`
		Rules   []rule           `json:"rules"`
		ByName  map[string]*rule `json:"by_name"`
		Ignored string           `json:"-"`
	}
	tests := []struct {
		spec   string
		field  string // want a FieldError on this field
		reason string // ... whose reason contains this
		ok     bool
	}{
		{spec: `{"kind":"x","interval":"1m","timeout":"5s","name":"n","expect":{"min":1,"tags":["a"]}}`, ok: true},
		{spec: `{}`, ok: true},
		{spec: `{"region":"eu","NAME":"n","rules":[{"port":1}],"by_name":{"a":{"port":2}}}`, ok: true},
		{spec: `{"nmae":"n"}`, field: "nmae", reason: "unknown field"},
		{spec: `{"region":"eu","regoin":"eu"}`, field: "regoin", reason: "unknown field"},
		{spec: `{"Ignored":"x"}`, field: "Ignored", reason: "unknown field"},
		{spec: `{"rules":[{"port":"80"}]}`, field: "rules.port", reason: "expected int"},
		{spec: `{"name":3}`, field: "name", reason: "expected string, got number"},
		{spec: `{"expect":{"min":"one"}}`, field: "expect.min", reason: "expected int"},
		{spec: `{"expect":{"tags":[1]}}`, field: "expect.tags", reason: "expected string"},
		{spec: `{"expect":[]}`, field: "expect", reason: "got array"},
		{spec: `"name"`, field: "", reason: "got string"},
		{spec: `{"name":`, field: "", reason: "unexpected end"},
	}
	for _, tt := range tests {
		var o opts
		err := checks.DecodeOptions(json.RawMessage(tt.spec), &o)
		if tt.ok {
			if err != nil {
				t.Errorf("DecodeOptions(%s): %v", tt.spec, err)
			}
			continue
		}
		var fe *checks.FieldError
		if !errors.As(err, &fe) {
			t.Errorf("DecodeOptions(%s) = %v (%T), want a FieldError", tt.spec, err, err)
			continue
		}
		if fe.Field != tt.field || !strings.Contains(fe.Reason, tt.reason) {
			t.Errorf("DecodeOptions(%s) = field %q reason %q; want field %q reason containing %q", tt.spec, fe.Field, fe.Reason, tt.field, tt.reason)
		}
	}
	var o opts
	if err := checks.DecodeOptions(json.RawMessage(`{"kind":"x","name":"n","expect":{"min":2}}`), &o); err != nil || o.Name != "n" || o.Expect.Min != 2 {
		t.Errorf("decoded %+v, %v", o, err)
	}
}

func TestDurationJSON(t *testing.T) {
	for _, d := range []time.Duration{0, time.Second, 90 * time.Second, 36 * time.Hour, 1500 * time.Millisecond} {
		b, err := json.Marshal(checks.Duration(d))
		if err != nil {
			t.Fatal(err)
		}
		var back checks.Duration
		if err := json.Unmarshal(b, &back); err != nil || back.Std() != d {
			t.Errorf("%s: round trip via %s gave %s, %v", d, b, back, err)
		}
	}
	if b, _ := json.Marshal(checks.Duration(90 * time.Second)); string(b) != `"1m30s"` {
		t.Errorf("Marshal(90s) = %s", b)
	}
	for _, in := range []string{`30`, `"30"`, `"soon"`, `null`, `{}`} {
		var d checks.Duration
		err := json.Unmarshal([]byte(in), &d)
		if in == `null` {
			// encoding/json leaves the value alone for null.
			continue
		}
		var fe *checks.FieldError
		if !errors.As(err, &fe) || !strings.Contains(fe.Reason, "duration") {
			t.Errorf("Unmarshal(%s) = %v, want a FieldError about a duration", in, err)
		}
	}
}

func TestBegin(t *testing.T) {
	before := time.Now()
	r := checks.Begin("dns", "example.com")
	if r.Kind != "dns" || r.Target != "example.com" || r.StartedAt.Before(before.Add(-time.Second)) || r.StartedAt.Location() != time.UTC {
		t.Errorf("Begin = %+v", r)
	}
}

// FuzzRegistryParse runs every real kind's parser on arbitrary specs: no
// panic, every refusal a FieldError, and every accepted spec within the
// bounds of the common fields.
func FuzzRegistryParse(f *testing.F) {
	seeds := []struct{ target, spec string }{
		{"example.com", `{"kind":"dns"}`},
		{"example.com", `{"kind":"dns","query":{"type":"MX"},"expect":{"min_answers":2}}`},
		{"https://example.com/health", `{"kind":"http","interval":"30s","timeout":"10s","expect":{"status":[200]}}`},
		{"https://example.com", `{"kind":"http","http_version":"3","expect":{"status":["2xx"],"body":"ok"}}`},
		{"example.com:443", `{"kind":"tls","expect":{"min_days_left":14}}`},
		{"example.com:22", `{"kind":"tcp"}`},
		{"example.com", `{"kind":"icmp","count":3}`},
		{"x", `{"kind":"nope"}`},
		{"x", `{"kind":"dns","interval":"1s","timeout":"2s"}`},
		{"", `null`},
		{"x", `{"kind":["dns"]}`},
	}
	for _, s := range seeds {
		f.Add(s.target, s.spec)
	}
	reg := all.New()
	f.Fuzz(func(t *testing.T, target, spec string) {
		p, err := reg.Parse(target, json.RawMessage(spec))
		if err != nil {
			var fe *checks.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Parse(%q, %q) = %v (%T), not a FieldError", target, spec, err, err)
			}
			return
		}
		iv, to := p.Spec.Interval.Std(), p.Spec.Timeout.Std()
		if iv < checks.MinInterval || iv > checks.MaxInterval || to <= 0 || to > checks.MaxTimeout || to > iv {
			t.Fatalf("accepted interval %s timeout %s", iv, to)
		}
		if _, ok := reg.Lookup(p.Spec.Kind); !ok || p.Check == nil {
			t.Fatalf("accepted kind %q with check %v", p.Spec.Kind, p.Check)
		}
	})
}

var update = flag.Bool("update", false, "rewrite the generated parts of docs/checks.md")

// codesTable renders results.Codes() as the README's table of layers and
// codes, in the order a run meets the layers.
func codesTable() string {
	var b strings.Builder
	b.WriteString("| layer | codes |\n|---|---|\n")
	codes := results.Codes()
	for _, l := range results.Layers() {
		names := make([]string, len(codes[l]))
		for i, c := range codes[l] {
			names[i] = "`" + string(c) + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s |\n", l, strings.Join(names, ", "))
	}
	return b.String()
}

// TestReadmeCodesTable keeps the README's table of error codes equal to
// results.Codes(). Regenerate with: go test ./checks -run TestReadmeCodesTable -update
func TestReadmeCodesTable(t *testing.T) {
	const path = "../docs/checks.md"
	const begin, end = "<!-- codes:begin (generated from results.Codes(); go test ./checks -run TestReadmeCodesTable -update) -->\n", "<!-- codes:end -->"
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	before, rest, ok1 := strings.Cut(string(doc), begin)
	_, after, ok2 := strings.Cut(rest, end)
	if !ok1 || !ok2 {
		t.Fatalf("%s lacks the markers %q ... %q", path, begin, end)
	}
	want := before + begin + codesTable() + end + after
	if want == string(doc) {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s: the codes table is not results.Codes(); run go test ./checks -run TestReadmeCodesTable -update", path)
}
