package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/picketnet/picket/checks/all"
	"github.com/picketnet/picket/results"
)

// runPicket runs the binary's run() in-process with buffers for stdio.
func runPicket(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(ctx, args, stdio{in: strings.NewReader(""), out: &out, err: &errb, getenv: func(string) string { return "" }})
	return code, out.String(), errb.String()
}

// startDNS serves a tiny zone on loopback over UDP: example.test has two
// A records, nx.test does not exist, slow.test never gets an answer.
func startDNS(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		switch req.Question[0].Name {
		case "example.test.":
			for _, s := range []string{"example.test. 60 IN A 192.0.2.1", "example.test. 60 IN A 192.0.2.2"} {
				rr, _ := dns.NewRR(s)
				m.Answer = append(m.Answer, rr)
			}
		case "slow.test.":
			<-release
			return
		default:
			m.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})
	srv := &dns.Server{PacketConn: pc, Handler: handler}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.ActivateAndServe() })
	<-started
	t.Cleanup(func() {
		close(release)
		_ = srv.Shutdown()
		wg.Wait()
	})
	return pc.LocalAddr().String()
}

func TestCheckDNS(t *testing.T) {
	resolver := startDNS(t)
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   []string // substrings of the human summary
		stderr   string   // substring of the one-line error
		wantCode results.Code
	}{
		{"ok", []string{"check", "dns", "example.test", "--resolver", resolver},
			exitOK, []string{"dns example.test: ok", "addr      127.0.0.1", "ttfb", "█", "answers", "example.test. 60 IN A 192.0.2.1", "example.test. 60 IN A 192.0.2.2", "resolver       " + resolver}, "", ""},
		{"flags before the kind and before the target", []string{"check", "--timeout", "3s", "dns", "--resolver", resolver, "--expect-answer", "192.0.2.2", "example.test"},
			exitOK, []string{"dns example.test: ok"}, "", ""},
		{"nxdomain fails", []string{"check", "dns", "nx.test", "--resolver=" + resolver},
			exitFailed, []string{"dns nx.test: FAIL dns/nxdomain", "rcode NXDOMAIN, expected NOERROR"}, "", ""},
		{"expected nxdomain passes", []string{"check", "dns", "nx.test", "--resolver", resolver, "--expect-rcode", "NXDOMAIN"},
			exitOK, []string{"dns nx.test: ok"}, "", ""},
		{"deny-private refuses loopback", []string{"check", "dns", "example.test", "--resolver", resolver, "--deny-private"},
			exitFailed, []string{"FAIL connect/denied_address"}, "", ""},
		{"timeout", []string{"check", "dns", "slow.test", "--resolver", resolver, "--timeout", "150ms"},
			exitFailed, []string{"FAIL dns/timeout"}, "", ""},
		{"--spec and flags combine", []string{"check", "dns", "example.test", "--resolver", resolver, "--spec", `{"expect":{"min_answers":3}}`, "--expect-answer", "192.0.2.1"},
			exitFailed, []string{"FAIL dns/too_few_answers"}, "", ""},

		{"bad flag value names the flag", []string{"check", "dns", "example.test", "--expect-rcode", "BOGUS"},
			exitUsage, nil, `bad spec: expect.rcode: "BOGUS" is not an rcode`, ""},
		{"hint for a nested field", []string{"check", "dns", "example.test", "--min-answers", "-3"},
			exitUsage, nil, "expect.min_answers: -3 is outside 0..1000 (flag --min-answers)", ""},
		{"zero is no default", []string{"check", "traceroute", "example.test", "--probes", "0"},
			exitUsage, nil, "picket check: bad spec: probes: 0 is outside 1..10 (flag --probes)", ""},
		{"unknown kind", []string{"check", "gopher", "x"}, exitUsage, nil, `unknown kind "gopher"; one of`, ""},
		{"missing target", []string{"check", "dns", "--resolver", resolver}, exitUsage, nil, "want exactly one TARGET after dns, got 0", ""},
		{"two targets", []string{"check", "dns", "a.test", "b.test"}, exitUsage, nil, "want exactly one TARGET after dns, got 2", ""},
		{"nothing", []string{"check"}, exitUsage, nil, "missing KIND and TARGET", ""},
		{"unknown flag", []string{"check", "dns", "x.test", "--bogus"}, exitUsage, nil, "picket check: flag provided but not defined: -bogus; see 'picket check dns -h'", ""},
		{"bad flag syntax", []string{"check", "dns", "x.test", "--min-answers", "many"}, exitUsage, nil, `picket check: invalid value "many" for flag -min-answers: parse error; see 'picket check dns -h'`, ""},
		{"unknown flag before the kind", []string{"check", "--bogus"}, exitUsage, nil, "picket check: flag provided but not defined: -bogus; see 'picket check KIND -h'", ""},
		{"bad --spec", []string{"check", "dns", "x.test", "--spec", "[1]"}, exitUsage, nil, "--spec: want a JSON object", ""},
		{"unknown --spec field", []string{"check", "dns", "x.test", "--spec", `{"expect":{"nope":1}}`}, exitUsage, nil, "bad spec: expect.nope: unknown field", ""},
		{"timeout above the bound", []string{"check", "dns", "x.test", "--timeout", "1h"}, exitUsage, nil, "timeout: 1h0m0s is outside 0..5m0s (flag --timeout)", ""},
		{"help", []string{"check", "dns", "-h"}, exitOK, nil, "usage: picket check KIND TARGET [flags]", ""},
		{"help without a kind", []string{"check", "--help"}, exitOK, nil, "kinds: dns, http", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runPicket(context.Background(), tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout, stderr)
			}
			for _, s := range tt.stdout {
				if !strings.Contains(stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout)
				}
			}
			if tt.stderr != "" && !strings.Contains(stderr, tt.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.stderr, stderr)
			}
			if tt.code == exitUsage {
				if lines := strings.Count(strings.TrimSpace(stderr), "\n") + 1; lines != 1 {
					t.Errorf("want a one-line error, got %d lines:\n%s", lines, stderr)
				}
				if stdout != "" {
					t.Errorf("nothing goes to stdout on a usage error, got %q", stdout)
				}
			}
		})
	}
}

func TestCheckJSON(t *testing.T) {
	resolver := startDNS(t)
	code, stdout, stderr := runPicket(context.Background(), "check", "dns", "example.test", "--json", "--resolver", resolver, "--type", "A")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rec results.Result
	if err := json.Unmarshal([]byte(stdout), &rec); err != nil {
		t.Fatalf("stdout is not a record: %v\n%s", err, stdout)
	}
	var d results.DNSDetails
	if err := rec.DecodeDetails(&d); err != nil {
		t.Fatal(err)
	}
	if !rec.OK || rec.Kind != "dns" || rec.Target != "example.test" || rec.Addr != "127.0.0.1" || rec.ID == "" ||
		d.Rcode != "NOERROR" || len(d.Answers) != 2 || d.Resolver != resolver || rec.Phases.TTFBMS <= 0 {
		t.Errorf("record %+v details %+v", rec, d)
	}

	code, stdout, _ = runPicket(context.Background(), "check", "dns", "nx.test", "--json", "--resolver", resolver)
	if code != exitFailed {
		t.Fatalf("exit %d, want %d", code, exitFailed)
	}
	rec = results.Result{}
	if err := json.Unmarshal([]byte(stdout), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.OK || rec.Error == nil || rec.Error.Layer != results.LayerDNS || rec.Error.Code != results.CodeNXDomain {
		t.Errorf("record %+v", rec)
	}
}

// TestCheckInterrupted: SIGINT cancels the command's context (main wires
// it with signal.NotifyContext); the run ends with a record, not a hang.
func TestCheckInterrupted(t *testing.T) {
	resolver := startDNS(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	code, stdout, _ := runPicket(ctx, "check", "dns", "slow.test", "--resolver", resolver, "--timeout", "1m")
	if code != exitFailed || !strings.Contains(stdout, "FAIL timeout/deadline") || !strings.Contains(stdout, "cancelled") {
		t.Errorf("exit %d, stdout:\n%s", code, stdout)
	}
}

// TestCheckHTTP drives the http kind through the same generic command,
// flags after the target.
func TestCheckHTTP(t *testing.T) {
	if _, ok := all.New().Lookup("http"); !ok {
		t.Skip("the http kind is not registered yet")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte("all good"))
	}))
	t.Cleanup(srv.Close)

	code, stdout, stderr := runPicket(context.Background(), "check", "http", srv.URL+"/health", "--expect-status", "200", "--expect-body", "good")
	if code != exitOK || !strings.Contains(stdout, "http "+srv.URL+"/health: ok") || !strings.Contains(stdout, "connect") {
		t.Errorf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	code, stdout, stderr = runPicket(context.Background(), "check", "http", srv.URL+"/missing", "--expect-status", "200")
	if code != exitFailed || !strings.Contains(stdout, "FAIL http/status") {
		t.Errorf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	code, stdout, _ = runPicket(context.Background(), "check", "http", srv.URL, "--deny-private")
	if code != exitFailed || !strings.Contains(stdout, "FAIL connect/denied_address") {
		t.Errorf("exit %d\nstdout: %s", code, stdout)
	}
}

// TestCheckEveryKindHasFlags: every registered kind can be driven from the
// command line and documents its flags.
func TestCheckEveryKindHasFlags(t *testing.T) {
	for _, kind := range all.New().Kinds() {
		code, _, stderr := runPicket(context.Background(), "check", kind, "-h")
		if code != exitOK || !strings.Contains(stderr, "usage: picket check KIND TARGET") {
			t.Errorf("%s -h: exit %d\n%s", kind, code, stderr)
		}
		if strings.Contains(stderr, "has no flags of its own") {
			t.Errorf("kind %s does not implement checks.FlagBinder", kind)
		}
	}
}

func TestInterleaved(t *testing.T) {
	fs := newFlagSet("t", stdio{err: &bytes.Buffer{}})
	fs.String("resolver", "", "")
	fs.Bool("json", false, "")
	tests := []struct {
		args, flags, positional []string
	}{
		{[]string{"x"}, nil, []string{"--", "x"}},
		{[]string{"x", "--resolver", "r", "--json"}, []string{"--resolver", "r", "--json"}, []string{"--", "x"}},
		{[]string{"--json", "x", "--resolver=r"}, []string{"--json", "--resolver=r"}, []string{"--", "x"}},
		{[]string{"-resolver", "-r", "x"}, []string{"-resolver", "-r"}, []string{"--", "x"}},
		{[]string{"x", "--", "-y"}, nil, []string{"--", "x", "-y"}},
		{[]string{"--unknown", "x"}, []string{"--unknown"}, []string{"--", "x"}},
	}
	for _, tt := range tests {
		flags, pos := interleaved(fs, tt.args)
		if strings.Join(flags, " ") != strings.Join(tt.flags, " ") || strings.Join(pos, " ") != strings.Join(tt.positional, " ") {
			t.Errorf("interleaved(%q) = %q, %q; want %q, %q", tt.args, flags, pos, tt.flags, tt.positional)
		}
	}
}
