package dnscheck

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/picketnet/picket/checks"
)

func TestParseErrors(t *testing.T) {
	tests := []struct {
		target, spec, field string
	}{
		{"", `{}`, "target"},
		{"bad name!", `{}`, "target"},
		{strings.Repeat("a", 64) + ".test", `{}`, "target"},
		{"x.test", `{"query":{"name":"a..b"}}`, "query.name"},
		{"x.test", `{"query":{"type":"AX"}}`, "query.type"},
		{"x.test", `{"query":{"type":"OPT"}}`, "query.type"},
		{"x.test", `{"query":{"type":"TYPE0"}}`, "query.type"},
		{"x.test", `{"query":{"class":"XX"}}`, "query.class"},
		{"x.test", `{"query":{"nmae":"x"}}`, "query.nmae"},
		{"x.test", `{"query":{"type":1}}`, "query.type"},
		{"x.test", `{"query":"A"}`, "query"},
		{"x.test", `{"transport":"doh"}`, "transport"},
		{"x.test", `{"resolver":"https://dns.example/dns-query"}`, "resolver"},
		{"x.test", `{"resolver":"127.0.0.1:0"}`, "resolver"},
		{"x.test", `{"resolver":"127.0.0.1:99999"}`, "resolver"},
		{"x.test", `{"resolver":":53"}`, "resolver"},
		{"x.test", `{"resolver":"bad host:53"}`, "resolver"},
		{"x.test", `{"server_name":"dns.test"}`, "server_name"},
		{"x.test", `{"ca_file":"/x.pem","transport":"tcp"}`, "ca_file"},
		{"x.test", `{"ca_pem":"x","transport":"tcp"}`, "ca_pem"},
		{"x.test", `{"transport":"tls","ca_pem":"not a certificate"}`, "ca_pem"},
		{"x.test", `{"transport":"tls","ca_file":"/a.pem","ca_pem":"x"}`, "ca_pem"},
		{"x.test", `{"recursion_desired":"yes"}`, "recursion_desired"},
		{"x.test", `{"expect":{"rcode":"NOPE"}}`, "expect.rcode"},
		{"x.test", `{"expect":{"answer_regex":"("}}`, "expect.answer_regex"},
		{"x.test", `{"expect":{"answer_regex":"` + strings.Repeat("a", 2000) + `"}}`, "expect.answer_regex"},
		{"x.test", `{"expect":{"answer_contains":"` + strings.Repeat("a", 2000) + `"}}`, "expect.answer_contains"},
		{"x.test", `{"expect":{"min_answers":-1}}`, "expect.min_answers"},
		{"x.test", `{"expect":{"min_answers":"2"}}`, "expect.min_answers"},
		{"x.test", `{"expect":{"authoritive":true}}`, "expect.authoritive"},
		{"x.test", `{"exepct":{}}`, "exepct"},
		{"x.test", `{"timeout":5}`, "timeout"},
		{"x.test", `{"interval":"soon"}`, "interval"},
	}
	for _, tt := range tests {
		_, err := Kind{}.Parse(tt.target, json.RawMessage(tt.spec))
		var fe *checks.FieldError
		if !errors.As(err, &fe) {
			t.Errorf("Parse(%q, %s) = %v, want a FieldError", tt.target, tt.spec, err)
			continue
		}
		if fe.Field != tt.field {
			t.Errorf("Parse(%q, %s): field %q, want %q (%v)", tt.target, tt.spec, fe.Field, tt.field, err)
		}
	}
}

func TestParseDefaults(t *testing.T) {
	base := Check{name: "x.test.", qtype: dns.TypeA, qclass: dns.ClassINET, transport: "udp", recurse: true, rcode: dns.RcodeSuccess, minAnswers: 1, timeout: checks.DefaultTimeout}
	with := func(f func(*Check)) Check { c := base; f(&c); return c }
	tests := []struct {
		target, spec string
		want         Check
	}{
		{"Example.TEST", `{}`, with(func(c *Check) { c.name = "Example.TEST." })},
		{"x.test", `{"timeout":"3s","resolver":"192.0.2.53"}`, with(func(c *Check) { c.timeout, c.resolver = 3*time.Second, "192.0.2.53:53" })},
		{"x.test", `{"interval":"4s"}`, with(func(c *Check) { c.timeout = 4 * time.Second })},
		{"x.test", `{"transport":"TLS","resolver":"2001:db8::53"}`, with(func(c *Check) { c.transport, c.resolver = "tls", "[2001:db8::53]:853" })},
		{"x.test", `{"transport":"tcp","resolver":"dns.example:5353","expect":{"rcode":"NXDOMAIN"}}`, with(func(c *Check) {
			c.transport, c.resolver, c.rcode, c.minAnswers = "tcp", "dns.example:5353", dns.RcodeNameError, 0
		})},
		{"https://api.example.com:8443/health", `{"query":{"type":"aaaa","class":"in"},"recursion_desired":false}`, with(func(c *Check) {
			c.name, c.qtype, c.recurse = "api.example.com.", dns.TypeAAAA, false
		})},
		{"ignored", `{"query":{"name":"y.test","type":"TYPE64"},"dnssec":true,"expect":{"min_answers":0,"authoritative":true,"answer_contains":"z"}}`, with(func(c *Check) {
			c.name, c.qtype, c.dnssec, c.minAnswers, c.authoritative, c.contains = "y.test.", dns.TypeSVCB, true, 0, true, "z"
		})},
	}
	for _, tt := range tests {
		c, err := Kind{}.Parse(tt.target, json.RawMessage(tt.spec))
		if err != nil {
			t.Errorf("Parse(%q, %s): %v", tt.target, tt.spec, err)
			continue
		}
		got := *c.(*Check)
		got.target, got.resolvConf = "", ""
		if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", tt.want) {
			t.Errorf("Parse(%q, %s)\n got %+v\nwant %+v", tt.target, tt.spec, got, tt.want)
		}
	}
}

func TestBindFlags(t *testing.T) {
	caFile := startServer(t).caFile
	tests := []struct {
		args []string
		want string
	}{
		{nil, `{}`},
		{[]string{"--type", "MX", "--resolver", "192.0.2.53", "--transport", "tcp"}, `{"query":{"type":"MX"},"resolver":"192.0.2.53","transport":"tcp"}`},
		{[]string{"--expect-rcode", "NXDOMAIN", "--min-answers", "0", "--authoritative", "--expect-answer", "x", "--expect-answer-regex", "^y"},
			`{"expect":{"answer_contains":"x","answer_regex":"^y","authoritative":true,"min_answers":0,"rcode":"NXDOMAIN"}}`},
		{[]string{"--recursion-desired=false", "--dnssec", "--name", "n.test", "--class", "CH"}, `{"dnssec":true,"query":{"class":"CH","name":"n.test"},"recursion_desired":false}`},
		{[]string{"--transport", "tls", "--server-name", "dns.test", "--ca-file", caFile}, `{"ca_file":"` + caFile + `","server_name":"dns.test","transport":"tls"}`},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		get := Kind{}.BindFlags(fs)
		if err := fs.Parse(tt.args); err != nil {
			t.Fatal(err)
		}
		got, err := get()
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tt.want {
			t.Errorf("%q: got %s, want %s", tt.args, got, tt.want)
		}
		// What the flags yield is a spec the kind accepts.
		if _, err := (Kind{}).Parse("x.test", got); err != nil {
			t.Errorf("%q: the flags' spec %s does not parse: %v", tt.args, got, err)
		}
	}
}

// FuzzParse: no spec makes Parse panic, every refusal is a FieldError,
// and every accepted spec yields a fully qualified valid name and a
// resolver that can be dialed as host:port.
func FuzzParse(f *testing.F) {
	for _, seed := range []struct{ target, spec string }{
		{"example.com", `{}`},
		{"example.com", `{"query":{"name":"a.example","type":"TXT","class":"CH"},"resolver":"[::1]:5353","transport":"tls","server_name":"x"}`},
		{"https://example.com/x", `{"expect":{"rcode":"NXDOMAIN","answer_regex":"^a+$","min_answers":3,"authoritative":true}}`},
		{"x", `{"query":{"type":"TYPE65535"},"timeout":"1s","kind":"dns","interval":"1m"}`},
		{"", `[]`},
		{"x", `{"expect":{"min_answers":1e9}}`},
		{`\046.example`, `{"resolver":"1.2.3.4:53"}`},
		{"x", `{"resolver":"dns.example"}`},
	} {
		f.Add(seed.target, seed.spec)
	}
	f.Fuzz(func(t *testing.T, target, spec string) {
		c, err := Kind{}.Parse(target, json.RawMessage(spec))
		if err != nil {
			var fe *checks.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T) is not a FieldError", err, err)
			}
			return
		}
		ch := c.(*Check)
		if _, ok := dns.IsDomainName(ch.name); !ok || !dns.IsFqdn(ch.name) {
			t.Fatalf("accepted name %q", ch.name)
		}
		if ch.resolver != "" {
			if _, _, err := net.SplitHostPort(ch.resolver); err != nil {
				t.Fatalf("accepted resolver %q: %v", ch.resolver, err)
			}
		}
		// The query the check would send must pack.
		if _, err := ch.query().Pack(); err != nil {
			t.Fatalf("query for %q does not pack: %v", ch.name, err)
		}
	})
}
