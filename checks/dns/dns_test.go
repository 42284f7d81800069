package dnscheck

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/picketnet/picket/checks"
	"github.com/picketnet/picket/checks/targetpolicy"
	"github.com/picketnet/picket/checks/tls/tlstest"
	"github.com/picketnet/picket/internal/netlab"
	"github.com/picketnet/picket/internal/testenv"
	"github.com/picketnet/picket/results"
)

// run parses spec (a JSON object, common fields included) for target and
// runs it once.
func run(t *testing.T, env checks.Env, target, spec string) (results.Result, results.DNSDetails) {
	t.Helper()
	c, err := Kind{}.Parse(target, json.RawMessage(spec))
	if err != nil {
		t.Fatalf("Parse(%q, %s): %v", target, spec, err)
	}
	r := c.Run(context.Background(), env)
	var d results.DNSDetails
	if err := r.DecodeDetails(&d); err != nil {
		t.Fatalf("details: %v", err)
	}
	if r.Kind != "dns" || r.Target != target || r.StartedAt.IsZero() || r.DurationMS <= 0 {
		t.Errorf("run fields not filled: %+v", r)
	}
	return r, d
}

func wantOutcome(t *testing.T, r results.Result, layer results.Layer, code results.Code) {
	t.Helper()
	if layer == "" {
		if !r.OK || r.Error != nil {
			t.Fatalf("want ok, got %v", r.Error)
		}
		return
	}
	if r.OK || r.Error == nil {
		t.Fatalf("want %s/%s, got ok", layer, code)
	}
	if r.Error.Layer != layer || r.Error.Code != code {
		t.Fatalf("want %s/%s, got %v", layer, code, r.Error)
	}
	if !r.Error.Code.ValidFor(r.Error.Layer) {
		t.Fatalf("%v: code not valid for its layer", r.Error)
	}
}

func TestAnswers(t *testing.T) {
	s := startServer(t)
	res := fmt.Sprintf("%q", s.udpAddr)
	tests := []struct {
		name, target, spec string
		layer              results.Layer
		code               results.Code
		answerHas          string // one recorded answer contains it
	}{
		{"A", "example.test", `{"resolver":` + res + `}`, "", "", "IN A 192.0.2.1"},
		{"AAAA", "example.test", `{"resolver":` + res + `,"query":{"type":"AAAA"}}`, "", "", "IN AAAA 2001:db8::1"},
		{"MX", "example.test", `{"resolver":` + res + `,"query":{"type":"mx"}}`, "", "", "MX 10 mail.example.test."},
		{"TXT", "example.test", `{"resolver":` + res + `,"query":{"type":"TXT"}}`, "", "", `"v=spf1 -all"`},
		{"CAA", "example.test", `{"resolver":` + res + `,"query":{"type":"CAA"}}`, "", "", `CAA 0 issue "letsencrypt.org"`},
		{"NS", "example.test", `{"resolver":` + res + `,"query":{"type":"NS"}}`, "", "", "NS ns1.example.test."},
		{"SOA", "example.test", `{"resolver":` + res + `,"query":{"type":"SOA"}}`, "", "", "hostmaster.example.test. 2026112101"},
		{"HTTPS", "example.test", `{"resolver":` + res + `,"query":{"type":"HTTPS"}}`, "", "", `alpn="h2,h3"`},
		{"TYPE65", "example.test", `{"resolver":` + res + `,"query":{"type":"TYPE65"}}`, "", "", `alpn="h2,h3"`},
		{"SRV", "_https._tcp.example.test", `{"resolver":` + res + `,"query":{"type":"SRV"}}`, "", "", "SRV 10 5 443 web.example.test."},
		{"PTR", "ignored.test", `{"resolver":` + res + `,"query":{"name":"1.2.0.192.in-addr.arpa","type":"PTR"}}`, "", "", "PTR example.test."},
		{"CH class", "version.bind", `{"resolver":` + res + `,"query":{"type":"TXT","class":"CH"}}`, "", "", `"picket-test"`},
		{"URL target", "https://example.test/health", `{"resolver":` + res + `}`, "", "", "IN A 192.0.2.2"},
		{"CNAME chain", "www.example.test", `{"resolver":` + res + `,"expect":{"min_answers":1}}`, "", "", "CNAME example.test."},
		{"ANY", "example.test", `{"resolver":` + res + `,"query":{"type":"ANY"},"expect":{"min_answers":9}}`, "", "", "MX 10"},

		{"NXDOMAIN", "nx.test", `{"resolver":` + res + `}`, results.LayerDNS, results.CodeNXDomain, ""},
		{"SERVFAIL", "fail.test", `{"resolver":` + res + `}`, results.LayerDNS, results.CodeServFail, ""},
		{"REFUSED", "refuse.test", `{"resolver":` + res + `}`, results.LayerDNS, results.CodeRefused, ""},
		{"expected NXDOMAIN", "nx.test", `{"resolver":` + res + `,"expect":{"rcode":"nxdomain"}}`, "", "", ""},
		{"NOERROR when NXDOMAIN expected", "example.test", `{"resolver":` + res + `,"expect":{"rcode":"NXDOMAIN"}}`, results.LayerDNS, results.CodeRcode, ""},
		{"answer for another question", "wrongq.test", `{"resolver":` + res + `}`, results.LayerDNS, results.CodeBadResponse, ""},

		{"NODATA", "nodata.test", `{"resolver":` + res + `}`, results.LayerDNS, results.CodeNoAnswer, ""},
		{"NODATA accepted", "nodata.test", `{"resolver":` + res + `,"expect":{"min_answers":0}}`, "", "", ""},
		{"CNAME is not an A", "example.test", `{"resolver":` + res + `,"query":{"type":"A"},"expect":{"min_answers":3}}`, results.LayerDNS, results.CodeTooFewAnswers, ""},
		{"min answers met", "example.test", `{"resolver":` + res + `,"expect":{"min_answers":2}}`, "", "", ""},

		{"contains", "example.test", `{"resolver":` + res + `,"expect":{"answer_contains":"192.0.2.2"}}`, "", "", ""},
		{"contains mismatch", "example.test", `{"resolver":` + res + `,"expect":{"answer_contains":"198.51.100.1"}}`, results.LayerDNS, results.CodeAnswerMismatch, ""},
		{"regex", "example.test", `{"resolver":` + res + `,"query":{"type":"MX"},"expect":{"answer_regex":"MX \\d+ mail\\.example\\.test\\.$"}}`, "", "", ""},
		{"regex mismatch", "example.test", `{"resolver":` + res + `,"expect":{"answer_regex":"^example\\.test\\. \\d+ IN A 10\\."}}`, results.LayerDNS, results.CodeAnswerMismatch, ""},

		{"authoritative", "auth.test", `{"resolver":` + res + `,"expect":{"authoritative":true}}`, "", "", "192.0.2.53"},
		{"not authoritative", "example.test", `{"resolver":` + res + `,"expect":{"authoritative":true}}`, results.LayerDNS, results.CodeNotAuthorative, ""},

		{"tcp", "example.test", `{"resolver":` + res + `,"transport":"tcp"}`, "", "", "192.0.2.1"},
		{"tcp NXDOMAIN", "nx.test", `{"resolver":` + res + `,"transport":"tcp"}`, results.LayerDNS, results.CodeNXDomain, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, d := run(t, checks.Env{}, tt.target, tt.spec)
			wantOutcome(t, r, tt.layer, tt.code)
			if d.Resolver != s.udpAddr || r.Addr != "127.0.0.1" {
				t.Errorf("resolver %q addr %q, want %q and 127.0.0.1", d.Resolver, r.Addr, s.udpAddr)
			}
			if d.Rcode == "" {
				t.Errorf("rcode not recorded: %+v", d)
			}
			if r.Phases.TTFBMS <= 0 {
				t.Errorf("ttfb_ms not recorded: %+v", r.Phases)
			}
			if tt.answerHas != "" && !strings.Contains(strings.Join(d.Answers, "\n"), tt.answerHas) {
				t.Errorf("answers %q lack %q", d.Answers, tt.answerHas)
			}
			if err := r.Validate(); err != nil && !strings.HasPrefix(err.Error(), "id:") {
				t.Errorf("record does not validate: %v", err)
			}
		})
	}
}

func TestDetails(t *testing.T) {
	s := startServer(t)
	r, d := run(t, checks.Env{}, "auth.test", `{"resolver":"`+s.udpAddr+`"}`)
	wantOutcome(t, r, "", "")
	want := results.DNSDetails{
		Rcode:         "NOERROR",
		Answers:       []string{"auth.test. 60 IN A 192.0.2.53"},
		Authoritative: new(true),
		Resolver:      s.udpAddr,
		Transport:     "udp",
		UDPQueries:    1,
		UDPAnswerTo:   1,
	}
	if got, _ := json.Marshal(d); string(got) != string(must(json.Marshal(want))) {
		t.Errorf("details\n got %s\nwant %s", got, must(json.Marshal(want)))
	}
	if r.Phases.ConnectMS != 0 || r.Phases.TLSMS != 0 {
		t.Errorf("UDP has no connect or TLS phase: %+v", r.Phases)
	}
}

func TestQueryFlags(t *testing.T) {
	s := startServer(t)
	tests := []struct {
		spec       string
		rd, do     bool
		class      uint16
		qtype      uint16
		wantRecord bool
	}{
		{`{}`, true, false, dns.ClassINET, dns.TypeA, true},
		{`{"recursion_desired":false}`, false, false, dns.ClassINET, dns.TypeA, true},
		{`{"dnssec":true,"query":{"type":"caa"}}`, true, true, dns.ClassINET, dns.TypeCAA, true},
	}
	for _, tt := range tests {
		var spec map[string]any
		if err := json.Unmarshal([]byte(tt.spec), &spec); err != nil {
			t.Fatal(err)
		}
		spec["resolver"] = s.udpAddr
		b, _ := json.Marshal(spec)
		r, _ := run(t, checks.Env{}, "example.test", string(b))
		wantOutcome(t, r, "", "")
		q, _ := s.lastQuery()
		if q.RecursionDesired != tt.rd {
			t.Errorf("%s: RD = %v, want %v", tt.spec, q.RecursionDesired, tt.rd)
		}
		opt := q.IsEdns0()
		if (opt != nil && opt.Do()) != tt.do {
			t.Errorf("%s: DO bit = %v, want %v", tt.spec, opt != nil && opt.Do(), tt.do)
		}
		if got := q.Question[0]; got.Qclass != tt.class || got.Qtype != tt.qtype || got.Name != "example.test." {
			t.Errorf("%s: question %v", tt.spec, got)
		}
	}
}

func TestTruncationFallsBackToTCP(t *testing.T) {
	s := startServer(t)
	r, d := run(t, checks.Env{}, "big.test", `{"resolver":"`+s.udpAddr+`","query":{"type":"TXT"},"expect":{"min_answers":40,"answer_contains":"record 39"}}`)
	wantOutcome(t, r, "", "")
	if !d.Truncated || d.Transport != "tcp" {
		t.Errorf("want truncated=true transport=tcp, got %+v", d)
	}
	if len(d.Answers) != 32 {
		t.Errorf("recorded %d answers, want the first 32", len(d.Answers))
	}
	if r.Phases.ConnectMS <= 0 {
		t.Errorf("TCP connect not timed: %+v", r.Phases)
	}
	_, n := s.lastQuery()
	if n != 2 {
		t.Errorf("server saw %d queries, want 2 (UDP then TCP)", n)
	}
}

// A resolver that truncates over UDP and has no TCP: the run fails on the
// TCP connect, and says that the truncation is why it tried.
func TestTruncatedWithoutTCP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveUDP(t, pc, &testServer{release: make(chan struct{})})

	r, d := run(t, checks.Env{}, "big.test", `{"resolver":"`+pc.LocalAddr().String()+`","query":{"type":"TXT"}}`)
	wantOutcome(t, r, results.LayerConnect, results.CodeRefused)
	if !strings.Contains(r.Error.Message, "the UDP answer was truncated, and over TCP: ") || !d.Truncated || d.Transport != "tcp" {
		t.Errorf("message %q, details %+v: want the truncation named", r.Error.Message, d)
	}
}

func TestTimeout(t *testing.T) {
	s := startServer(t)
	for _, transport := range []string{"udp", "tcp", "tls"} {
		t.Run(transport, func(t *testing.T) {
			addr := s.udpAddr
			extra := ""
			if transport == "tls" {
				addr, extra = s.tlsAddr, `,"ca_file":"`+s.caFile+`"`
			}
			r, _ := run(t, checks.Env{}, "slow.test", `{"timeout":"200ms","transport":"`+transport+`","resolver":"`+addr+`"`+extra+`}`)
			wantOutcome(t, r, results.LayerDNS, results.CodeTimeout)
			// No answer came: no rcode, no AA bit, no first byte to report.
			if bytes.Contains(r.Details, []byte(`"rcode"`)) || bytes.Contains(r.Details, []byte(`"authoritative"`)) {
				t.Errorf("details %s describe an answer that never came", r.Details)
			}
			if r.Phases.TTFBMS != 0 {
				t.Errorf("ttfb_ms %v without an answer", r.Phases.TTFBMS)
			}
		})
	}
}

func TestCancel(t *testing.T) {
	s := startServer(t)
	c, err := Kind{}.Parse("slow.test", json.RawMessage(`{"resolver":"`+s.udpAddr+`","transport":"tcp"}`))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// Cancel once the query is waiting at the server.
		for {
			if _, n := s.lastQuery(); n > 0 {
				cancel()
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	r := c.Run(ctx, checks.Env{})
	wantOutcome(t, r, results.LayerTimeout, results.CodeDeadline)
	if !strings.Contains(r.Error.Message, "cancelled") {
		t.Errorf("message %q does not say the run was cancelled", r.Error.Message)
	}
}

func TestDoT(t *testing.T) {
	s := startServer(t)
	tests := []struct {
		name, spec string
		layer      results.Layer
		code       results.Code
	}{
		{"verified by IP SAN", `{"transport":"tls","resolver":"` + s.tlsAddr + `","ca_file":"` + s.caFile + `"}`, "", ""},
		{"server_name", `{"transport":"tls","resolver":"` + s.tlsAddr + `","ca_file":"` + s.caFile + `","server_name":"dns.test"}`, "", ""},
		{"NXDOMAIN over TLS", `{"transport":"tls","resolver":"` + s.tlsAddr + `","ca_file":"` + s.caFile + `","expect":{"rcode":"NXDOMAIN"},"query":{"name":"nx.test"}}`, "", ""},
		{"untrusted", `{"transport":"tls","resolver":"` + s.tlsAddr + `"}`, results.LayerTLS, results.CodeCertUntrusted},
		{"wrong name", `{"transport":"tls","resolver":"` + s.tlsAddr + `","ca_file":"` + s.caFile + `","server_name":"other.test"}`, results.LayerTLS, results.CodeHostnameMismatch},
		{"plain DNS server closes on a ClientHello", `{"transport":"tls","resolver":"` + s.udpAddr + `","ca_file":"` + s.caFile + `"}`, results.LayerTLS, results.CodeReset},
		{"verified by ca_pem", `{"transport":"tls","resolver":"` + s.tlsAddr + `","ca_pem":` + jsonString(t, readFile(t, s.caFile)) + `}`, "", ""},
		// ca_file is read where the check runs, at every run, never by a
		// collector validating the spec.
		{"absent ca_file", `{"transport":"tls","resolver":"` + s.tlsAddr + `","ca_file":"` + filepath.Join(t.TempDir(), "absent.pem") + `"}`, results.LayerValidation, results.CodeBadSpec},
		{"ca_file not PEM", `{"transport":"tls","resolver":"` + s.tlsAddr + `","ca_file":"` + writeFile(t, "hello") + `"}`, results.LayerValidation, results.CodeBadSpec},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, d := run(t, checks.Env{}, "example.test", tt.spec)
			wantOutcome(t, r, tt.layer, tt.code)
			if tt.layer == results.LayerValidation {
				return // nothing was dialed
			}
			if r.Phases.ConnectMS <= 0 {
				t.Errorf("connect not timed: %+v", r.Phases)
			}
			if tt.layer == "" && (r.Phases.TLSMS <= 0 || r.Phases.TTFBMS <= 0 || d.Transport != "tls") {
				t.Errorf("phases %+v details %+v", r.Phases, d)
			}
		})
	}
}

func TestNetworkFailures(t *testing.T) {
	s := startServer(t)
	closed := closedPort(t)
	tests := []struct {
		name, spec string
		env        checks.Env
		layer      results.Layer
		code       results.Code
	}{
		{"udp to a closed port", `{"resolver":"` + closed + `"}`, checks.Env{}, results.LayerConnect, results.CodeRefused},
		{"tcp to a closed port", `{"resolver":"` + closed + `","transport":"tcp"}`, checks.Env{}, results.LayerConnect, results.CodeRefused},
		{"policy denies the resolver (udp)", `{"resolver":"` + s.udpAddr + `"}`, checks.Env{Policy: &targetpolicy.Policy{DenyPrivate: true}}, results.LayerConnect, results.CodeDenied},
		{"policy denies the resolver (tls)", `{"resolver":"` + s.tlsAddr + `","transport":"tls"}`, checks.Env{Policy: &targetpolicy.Policy{DenyPrivate: true}}, results.LayerConnect, results.CodeDenied},
		{"policy exception", `{"resolver":"` + s.udpAddr + `"}`, checks.Env{Policy: &targetpolicy.Policy{DenyPrivate: true, Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}}, "", ""},
		// A resolver named by a host name is refused on the address it
		// resolves to: the name is no way around the policy.
		{"policy denies a resolver by name", `{"resolver":"` + byName(s.udpAddr) + `"}`, checks.Env{Policy: &targetpolicy.Policy{DenyPrivate: true}}, results.LayerConnect, results.CodeDenied},
		{"policy denies a resolver by name (tcp)", `{"resolver":"` + byName(s.udpAddr) + `","transport":"tcp"}`, checks.Env{Policy: &targetpolicy.Policy{DenyPrivate: true}}, results.LayerConnect, results.CodeDenied},
		{"resolver by name", `{"resolver":"` + byName(s.udpAddr) + `"}`, checks.Env{}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, before := s.lastQuery()
			r, _ := run(t, tt.env, "example.test", tt.spec)
			wantOutcome(t, r, tt.layer, tt.code)
			if r.Addr != "127.0.0.1" {
				t.Errorf("addr %q, want the resolver's address 127.0.0.1", r.Addr)
			}
			if tt.layer != "" && r.Phases.TTFBMS != 0 {
				t.Errorf("ttfb_ms %v without an answer", r.Phases.TTFBMS)
			}
			if _, after := s.lastQuery(); tt.code == results.CodeDenied && after != before {
				t.Errorf("a denied resolver received %d queries", after-before)
			}
		})
	}
}

// byName writes a 127.0.0.1 address as localhost:port.
func byName(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return net.JoinHostPort("localhost", port)
}

// closedPort returns a loopback address where nothing listens on UDP or TCP.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestSystemResolver(t *testing.T) {
	dir := t.TempDir()
	t.Run("missing resolv.conf", func(t *testing.T) {
		c, err := Kind{ResolvConf: filepath.Join(dir, "absent")}.Parse("example.test", json.RawMessage(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		r := c.Run(context.Background(), checks.Env{})
		wantOutcome(t, r, results.LayerDNS, results.CodeNetwork)
		if !strings.Contains(r.Error.Message, "no resolver") {
			t.Errorf("message %q", r.Error.Message)
		}
	})
	t.Run("first nameserver on port 53", func(t *testing.T) {
		// resolv.conf has no port, so the server must sit on port 53 of an
		// otherwise unused loopback address.
		testenv.RequireRoot(t)
		pc, err := net.ListenPacket("udp", "127.0.53.1:53")
		if err != nil {
			t.Fatalf("listen on 127.0.53.1:53: %v", err)
		}
		serveUDP(t, pc, &testServer{release: make(chan struct{})})

		conf := filepath.Join(dir, "resolv.conf")
		if err := os.WriteFile(conf, []byte("search example.test\nnameserver 127.0.53.1\nnameserver 192.0.2.1\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Kind{ResolvConf: conf}.Parse("auth.test", json.RawMessage(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		// The policy guards resolvers that specs choose, not the system's.
		r := c.Run(context.Background(), checks.Env{Policy: &targetpolicy.Policy{DenyPrivate: true}})
		wantOutcome(t, r, "", "")
		var d results.DNSDetails
		if err := r.DecodeDetails(&d); err != nil {
			t.Fatal(err)
		}
		if d.Resolver != "127.0.53.1:53" {
			t.Errorf("resolver %q", d.Resolver)
		}
	})
}

// TestNothingOutlivesARun runs every path (answers, fallback, TLS,
// failures, timeouts, cancellation) and then requires the goroutines and
// file descriptors of the process to come back to where they were.
func TestNothingOutlivesARun(t *testing.T) {
	s := startServer(t)
	specs := []struct{ target, spec string }{
		{"example.test", `{"resolver":"` + s.udpAddr + `"}`},
		{"big.test", `{"resolver":"` + s.udpAddr + `","query":{"type":"TXT"}}`},
		{"example.test", `{"resolver":"` + s.udpAddr + `","transport":"tcp"}`},
		{"example.test", `{"resolver":"` + s.tlsAddr + `","transport":"tls","ca_file":"` + s.caFile + `"}`},
		{"example.test", `{"resolver":"` + s.tlsAddr + `","transport":"tls"}`},
		{"nx.test", `{"resolver":"` + s.udpAddr + `"}`},
		{"example.test", `{"resolver":"` + closedPort(t) + `","transport":"tcp"}`},
	}
	runAll := func() {
		for _, sp := range specs {
			run(t, checks.Env{}, sp.target, sp.spec)
		}
	}
	// A socket left open would be closed by its finalizer sooner or later;
	// without GC it stays, and the count sees it.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	runAll() // warm up: lazily started runtime goroutines are not leaks
	// The server's handlers of the slow queries answer after a second;
	// NoLeaks waits for them to be done.
	tlstest.NoLeaks(t, func() {
		for range 5 {
			runAll()
		}
		// Runs that end by timeout and by cancellation, while the server
		// still holds the query.
		for _, transport := range []string{"udp", "tcp", "tls"} {
			addr, extra := s.udpAddr, ""
			if transport == "tls" {
				addr, extra = s.tlsAddr, `,"ca_file":"`+s.caFile+`"`
			}
			spec := `{"timeout":"100ms","transport":"` + transport + `","resolver":"` + addr + `"` + extra + `}`
			r, _ := run(t, checks.Env{}, "slow.test", spec)
			wantOutcome(t, r, results.LayerDNS, results.CodeTimeout)
			c, _ := Kind{}.Parse("slow.test", json.RawMessage(spec))
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(20*time.Millisecond, cancel)
			c.Run(ctx, checks.Env{})
			cancel()
		}
	})
}

// TestMalformedAnswer: a reply with the query's id that does not parse is
// dns/bad_response, not a network error; so is one larger than any answer
// the query allowed, which the read may have cut.
func TestMalformedAnswer(t *testing.T) {
	tests := []struct {
		name  string
		reply func(query []byte) []byte
		text  string
	}{
		// The query's id, QR set, one question promised and none sent.
		{"short", func(q []byte) []byte { return []byte{q[0], q[1], 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 7, 'e'} }, "malformed answer"},
		{"oversized", func(q []byte) []byte { return append(q[:2:2], make([]byte, 5000)...) }, "4096 bytes or more"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := udpReplier(t, func(q []byte) []byte {
				if len(q) < 2 {
					return nil
				}
				return tt.reply(q)
			})
			r, _ := run(t, checks.Env{}, "example.test", `{"resolver":"`+addr+`","timeout":"2s"}`)
			wantOutcome(t, r, results.LayerDNS, results.CodeBadResponse)
			if !strings.Contains(r.Error.Message, tt.text) {
				t.Errorf("message %q lacks %q", r.Error.Message, tt.text)
			}
		})
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

func jsonString(t *testing.T, s string) string {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A resolver that a router says cannot be reached (an unreachable or
// prohibit route, as a firewall's REJECT) is connect/unreachable over UDP
// as over TCP, like a closed port is connect/refused over both: the
// resolver is not there, and that is no DNS failure.
func TestResolverUnreachable(t *testing.T) {
	for _, resolver := range []string{netlab.HostUnreachable, netlab.Prohibited, netlab.NetUnreachable, netlab.Prohibited6, netlab.NetUnreachable6} {
		h1 := netlab.RejectingRouter(t)
		for _, transport := range []string{"udp", "tcp"} {
			t.Run(resolver+"/"+transport, func(t *testing.T) {
				var r results.Result
				if err := h1.Do(func() error {
					r, _ = run(t, checks.Env{}, "example.test", `{"timeout":"2s","resolver":"`+resolver+`","transport":"`+transport+`"}`)
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				wantOutcome(t, r, results.LayerConnect, results.CodeUnreachable)
			})
		}
	}
}

// A datagram lost on the way is no outage: the query goes out again after
// a third of the timeout, from a fresh socket with a fresh id, as a stub
// resolver retries (dig +tries=3, glibc's attempts), and an answer to any
// query sent counts.
func TestUDPRetries(t *testing.T) {
	tests := []struct {
		name, target, timeout string
		layer                 results.Layer
		code                  results.Code
		queries, answerTo     int
		answer, message       string
	}{
		// The first query is lost: the second, a third of 1.5s later, is
		// answered.
		{"first query lost", "drop1.test", "1500ms", "", "", 2, 2, "192.0.2.10", ""},
		// The first query is answered only after the second went out, and
		// the second is lost: the answer to the first still counts.
		{"slow answer to the first", "late.test", "1500ms", "", "", 2, 1, "192.0.2.11", ""},
		// The third query leaves at 800ms: 400ms of slack for a busy machine.
		{"every query lost", "slow.test", "1200ms", results.LayerDNS, results.CodeTimeout, 3, 0, "", "no answer to 3 queries over UDP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t)
			r, d := run(t, checks.Env{}, tt.target, `{"timeout":"`+tt.timeout+`","resolver":"`+s.udpAddr+`"}`)
			wantOutcome(t, r, tt.layer, tt.code)
			if d.UDPQueries != tt.queries || d.UDPAnswerTo != tt.answerTo || d.Transport != "udp" {
				t.Errorf("details %+v, want udp_queries %d, udp_answer_to %d over udp", d, tt.queries, tt.answerTo)
			}
			if tt.answer != "" && !strings.Contains(strings.Join(d.Answers, "\n"), tt.answer) {
				t.Errorf("answers %q lack %s", d.Answers, tt.answer)
			}
			if tt.message != "" && !strings.Contains(r.Error.Message, tt.message) {
				t.Errorf("message %q lacks %q", r.Error.Message, tt.message)
			}
			seen := s.seen(dns.Fqdn(tt.target))
			if len(seen) != tt.queries {
				t.Fatalf("server saw %d queries, want %d", len(seen), tt.queries)
			}
			// Each retry is a new flow, so that an ECMP path or a NAT
			// binding that lost the first does not lose it again, and
			// carries a new id.
			ids, ports := map[uint16]bool{}, map[string]bool{}
			for _, q := range seen {
				ids[q.id], ports[q.from] = true, true
			}
			if len(ids) != len(seen) || len(ports) != len(seen) {
				t.Errorf("queries %+v: want a fresh id and source port each", seen)
			}
		})
	}
}

// Only an answer with the id of a query sent is an answer. Over UDP a
// datagram with another id is ignored, as a resolver ignores a forged
// answer (RFC 5452), and counted; over TCP, where nobody off the path can
// inject one, a wrong id is a broken server.
func TestAnswerIDs(t *testing.T) {
	s := startServer(t)
	t.Run("forged answer before the true one", func(t *testing.T) {
		r, d := run(t, checks.Env{}, "spoof.test", `{"resolver":"`+s.udpAddr+`"}`)
		wantOutcome(t, r, "", "")
		if got := strings.Join(d.Answers, "\n"); !strings.Contains(got, "192.0.2.12") || strings.Contains(got, "192.0.2.66") {
			t.Errorf("answers %q: want the true 192.0.2.12, not the forged 192.0.2.66", d.Answers)
		}
		if d.UDPWrongID != 1 || d.UDPQueries != 1 {
			t.Errorf("details %+v, want udp_wrong_id 1 after 1 query", d)
		}
	})
	t.Run("udp, every answer with a wrong id", func(t *testing.T) {
		r, d := run(t, checks.Env{}, "wrongid.test", `{"timeout":"1200ms","resolver":"`+s.udpAddr+`"}`)
		wantOutcome(t, r, results.LayerDNS, results.CodeTimeout)
		want := fmt.Sprintf("%d answers with a wrong id ignored", d.UDPWrongID)
		if d.UDPQueries != 3 || d.UDPWrongID != 3 || !strings.Contains(r.Error.Message, want) {
			t.Errorf("details %+v, message %q: want 3 queries and their 3 wrong-id answers named", d, r.Error.Message)
		}
	})
	t.Run("tcp, an answer with a wrong id", func(t *testing.T) {
		r, _ := run(t, checks.Env{}, "wrongid.test", `{"resolver":"`+s.udpAddr+`","transport":"tcp"}`)
		wantOutcome(t, r, results.LayerDNS, results.CodeBadResponse)
	})
}

// A UDP echo service sends the query back: the id and the question match,
// but it is no answer (QR clear), and reading it as an empty NOERROR one
// would say the name has no record.
func TestQueryEchoedBack(t *testing.T) {
	addr := udpReplier(t, func(q []byte) []byte { return q })
	r, _ := run(t, checks.Env{}, "example.test", `{"resolver":"`+addr+`","expect":{"min_answers":0}}`)
	wantOutcome(t, r, results.LayerDNS, results.CodeBadResponse)
	if !strings.Contains(r.Error.Message, "not a response") {
		t.Errorf("message %q", r.Error.Message)
	}
	if bytes.Contains(r.Details, []byte(`"rcode"`)) {
		t.Errorf("details %s take the echoed query's rcode for an answer's", r.Details)
	}
}

// A resolver named by a host name with several addresses, the first of
// them silent: each UDP retry goes to the next address, as dig moves on to
// the next address of a server, so one dead address of an anycast pair or
// a dual-stack name does not fail the check. addr is the one that
// answered.
func TestUDPRetryMovesToTheNextAddress(t *testing.T) {
	s := startServer(t)
	_, port, _ := net.SplitHostPort(s.udpAddr)
	silent, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.2", port))
	if err != nil {
		t.Skipf("127.0.0.2:%s: %v", port, err)
	}
	t.Cleanup(func() { silent.Close() })
	names := startNameServer(t, map[string][]string{
		"pair.test.":    {"127.0.0.2", "127.0.0.1"}, // the first address silent: a retry after a third of the timeout
		"refused.test.": {"127.0.0.3", "127.0.0.1"}, // nothing on the first (port unreachable): the next at once
		"dead.test.":    {"127.0.0.3", "127.0.0.4"}, // neither: the last refusal ends the run
	})
	for _, tt := range []struct {
		name  string
		layer results.Layer
		code  results.Code
		addr  string
	}{
		{"pair.test", "", "", "127.0.0.1"},
		{"refused.test", "", "", "127.0.0.1"},
		{"dead.test", results.LayerConnect, results.CodeRefused, "127.0.0.4"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Kind{}.Parse("example.test", json.RawMessage(`{"timeout":"1500ms","resolver":"`+tt.name+`:`+port+`"}`))
			if err != nil {
				t.Fatal(err)
			}
			c.(*Check).lookup = names
			r := c.Run(context.Background(), checks.Env{})
			wantOutcome(t, r, tt.layer, tt.code)
			var d results.DNSDetails
			if err := r.DecodeDetails(&d); err != nil {
				t.Fatal(err)
			}
			if r.Addr != tt.addr || d.UDPQueries != 2 || (tt.layer == "" && d.UDPAnswerTo != 2) {
				t.Errorf("addr %s, details %+v: want 2 queries, the second answered by %s", r.Addr, d, tt.addr)
			}
		})
	}
}

// startNameServer serves A records for names on loopback and returns a
// resolver that asks it, for the resolver's own name.
func startNameServer(t *testing.T, records map[string][]string) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg).SetReply(req)
		q := req.Question[0]
		for _, a := range records[q.Name] {
			if q.Qtype == dns.TypeA {
				rr, _ := dns.NewRR(q.Name + " 60 IN A " + a)
				m.Answer = append(m.Answer, rr)
			}
		}
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown(); <-done })
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", pc.LocalAddr().String())
	}}
}

// udpReplier answers every datagram sent to the address it returns with
// what reply makes of it (nothing for nil), until the test ends: a
// resolver that is not miekg/dns's, to send what no server would.
func udpReplier(t *testing.T, reply func(query []byte) []byte) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if b := reply(slices.Clone(buf[:n])); b != nil {
				_, _ = pc.WriteTo(b, from)
			}
		}
	}()
	return pc.LocalAddr().String()
}
