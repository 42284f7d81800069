package tcpcheck_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/picketnet/picket/checks"
	"github.com/picketnet/picket/checks/checktest"
	"github.com/picketnet/picket/checks/targetpolicy"
	tcpcheck "github.com/picketnet/picket/checks/tcp"
	"github.com/picketnet/picket/checks/tls/tlstest"
	"github.com/picketnet/picket/internal/netlab"
	"github.com/picketnet/picket/results"
)

func run(t *testing.T, target, spec string, env checks.Env, timeout time.Duration) results.Result {
	t.Helper()
	c, err := tcpcheck.Kind{}.Parse(target, json.RawMessage(spec))
	if err != nil {
		t.Fatalf("Parse(%q, %s): %v", target, spec, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return c.Run(ctx, env)
}

// refusedAddr is a loopback address where nothing listens.
func refusedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// fullBacklogAddr is a loopback listener that never accepts and whose
// accept queue is full, so that the kernel drops further SYNs: a connect
// to it hangs until the caller's deadline, like a blackholed host.
func fullBacklogAddr(t *testing.T) string {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	// Fill the queue: connects succeed until it is full, then time out.
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			break
		}
		t.Cleanup(func() { c.Close() })
		if i > 8 {
			t.Fatal("the accept queue never filled")
		}
	}
	return addr
}

func wantFailure(t *testing.T, r results.Result, layer results.Layer, code results.Code) {
	t.Helper()
	if r.OK || r.Error == nil || r.Error.Layer != layer || r.Error.Code != code {
		t.Fatalf("got ok=%v error=%v, want %s/%s", r.OK, r.Error, layer, code)
	}
}

func TestConnect(t *testing.T) {
	ca := tlstest.NewCA(t, "Picket Test Root")
	cert := ca.Issue(t, tlstest.Leaf{CommonName: "localhost", DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	tlsSrv := tlstest.Serve(t, tlstest.TLS(&tls.Config{Certificates: []tls.Certificate{cert}}))
	expired := tlstest.Serve(t, tlstest.TLS(&tls.Config{Certificates: []tls.Certificate{ca.Issue(t, tlstest.Leaf{
		CommonName: "localhost", IPs: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})}}))
	accept := tlstest.Serve(t, tlstest.Silent)
	reset := tlstest.Serve(t, tlstest.Reset)
	withCA := fmt.Sprintf(`{"tls":true,"ca_file":%q}`, ca.File)

	tests := []struct {
		name    string
		target  string
		spec    string
		env     checks.Env
		timeout time.Duration
		layer   results.Layer
		code    results.Code // empty: passes
		tls     bool         // details carry a TLS description
	}{
		{name: "accepts", target: accept.Addr, spec: `{}`},
		{name: "accepts, by name", target: "localhost:" + accept.Port(), spec: `{}`},
		{name: "refused", target: refusedAddr(t), spec: `{}`, layer: results.LayerConnect, code: results.CodeRefused},
		{name: "connect never answered", target: fullBacklogAddr(t), spec: `{}`, timeout: 300 * time.Millisecond,
			layer: results.LayerConnect, code: results.CodeTimeout},
		{name: "denied by policy", target: accept.Addr, spec: `{}`, env: checks.Env{Policy: &targetpolicy.Policy{DenyPrivate: true}},
			layer: results.LayerConnect, code: results.CodeDenied},
		{name: "tls ok", target: tlsSrv.Addr, spec: withCA, tls: true},
		{name: "tls expired", target: expired.Addr, spec: withCA, tls: true, layer: results.LayerTLS, code: results.CodeCertExpired},
		{name: "tls reset", target: reset.Addr, spec: withCA, layer: results.LayerTLS, code: results.CodeReset},
		{name: "tls handshake never answered", target: accept.Addr, spec: withCA, timeout: 300 * time.Millisecond,
			layer: results.LayerTLS, code: results.CodeTimeout},
		{name: "tls expectation", target: tlsSrv.Addr, spec: fmt.Sprintf(`{"tls":true,"ca_file":%q,"expect":{"min_days_left":365}}`, ca.File),
			tls: true, layer: results.LayerTLS, code: results.CodeCertExpiring},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 5 * time.Second
			}
			r := run(t, tt.target, tt.spec, tt.env, timeout)
			if tt.code == "" {
				if !r.OK {
					t.Fatalf("want ok, got %v", r.Error)
				}
			} else {
				wantFailure(t, r, tt.layer, tt.code)
			}
			if r.Kind != "tcp" || r.Addr != "127.0.0.1" {
				t.Errorf("kind, addr = %q, %q", r.Kind, r.Addr)
			}
			if r.OK && r.Phases.ConnectMS <= 0 {
				t.Errorf("connect_ms = %v, want the connect timed", r.Phases.ConnectMS)
			}
			if strings.HasPrefix(tt.target, "localhost:") && r.Phases.DNSMS <= 0 {
				t.Errorf("dns_ms = %v, want the lookup timed", r.Phases.DNSMS)
			}
			if r.Error != nil && r.Error.Layer == results.LayerConnect {
				return // no details: nothing was connected
			}
			var d results.TCPDetails
			if err := r.DecodeDetails(&d); err != nil {
				t.Fatal(err)
			}
			if (d.TLS != nil) != tt.tls {
				t.Fatalf("details.tls = %+v, want present=%v", d.TLS, tt.tls)
			}
			if d.TLS != nil {
				if d.TLS.Version != "TLS 1.3" || d.TLS.Subject != "CN=localhost" || d.TLS.DaysLeft == 0 {
					t.Errorf("tls details = %+v", d.TLS)
				}
				if r.Phases.TLSMS <= 0 {
					t.Errorf("tls_ms = %v", r.Phases.TLSMS)
				}
			}
		})
	}
}

func TestNoLeaks(t *testing.T) {
	ca := tlstest.NewCA(t, "Picket Test Root")
	tlsSrv := tlstest.Serve(t, tlstest.TLS(&tls.Config{Certificates: []tls.Certificate{
		ca.Issue(t, tlstest.Leaf{CommonName: "localhost", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})}}))
	accept := tlstest.Serve(t, tlstest.Silent)
	refused := refusedAddr(t)
	blackhole := fullBacklogAddr(t)
	tlstest.NoLeaks(t, func() {
		for range 20 {
			for _, tt := range []struct {
				target, spec string
				timeout      time.Duration
			}{
				{accept.Addr, `{}`, 5 * time.Second},
				{refused, `{}`, 5 * time.Second},
				{blackhole, `{}`, 20 * time.Millisecond},
				{tlsSrv.Addr, fmt.Sprintf(`{"tls":true,"ca_file":%q}`, ca.File), 5 * time.Second},
				{accept.Addr, `{"tls":true}`, 20 * time.Millisecond},
			} {
				run(t, tt.target, tt.spec, checks.Env{}, tt.timeout)
			}
		}
	})
}

// An endpoint's URL target gives the tcp check its host and, by scheme,
// its port.
func TestParseURLTarget(t *testing.T) {
	for target, want := range map[string]string{
		"https://api.example.com/health": "api.example.com:443",
		"http://api.example.com/":        "api.example.com:80",
		"https://api.example.com:8443/x": "api.example.com:8443",
		"tcp://db.example.com:5432":      "db.example.com:5432",
	} {
		c, err := tcpcheck.Kind{}.Parse(target, json.RawMessage(`{}`))
		if err != nil {
			t.Errorf("%s: %v", target, err)
			continue
		}
		if got := c.(*tcpcheck.Check).Addr(); got != want {
			t.Errorf("%s dials %s, want %s", target, got, want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ target, spec, field string }{
		{"example.com", `{}`, "target"}, // the port is required
		{"example.com:0", `{}`, "target"},
		{"", `{}`, "target"},
		{"example.com:80", `{"tls":"yes"}`, "tls"},
		{"example.com:80", `{"server_name":"x"}`, "server_name"},
		{"example.com:80", `{"ca_file":"/x"}`, "ca_file"},
		{"example.com:80", `{"expect":{"min_days_left":3}}`, "expect"},
		{"example.com:443", `{"tls":true,"expect":{"min_version":"1.9"}}`, "expect.min_version"},
		{"example.com:443", `{"port":443}`, "port"},
	}
	for _, tt := range tests {
		t.Run(tt.target+" "+tt.spec, func(t *testing.T) {
			_, err := tcpcheck.Kind{}.Parse(tt.target, json.RawMessage(tt.spec))
			if fe := checktest.WantFieldError(t, err); fe.Field != tt.field {
				t.Fatalf("err = %v, want a FieldError on %q", err, tt.field)
			}
		})
	}
}

func TestBindFlags(t *testing.T) {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	opts := tcpcheck.Kind{}.BindFlags(fs)
	if err := fs.Parse([]string{"--tls", "--server-name", "db.example.com", "--min-days-left", "7"}); err != nil {
		t.Fatal(err)
	}
	raw, err := opts()
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"tls":true,"server_name":"db.example.com","expect":{"min_days_left":7}}`; string(raw) != want {
		t.Fatalf("options = %s, want %s", raw, want)
	}
	if _, err := (tcpcheck.Kind{}).Parse("db.example.com:5432", raw); err != nil {
		t.Fatal(err)
	}
	fs = flag.NewFlagSet("check", flag.ContinueOnError)
	opts = tcpcheck.Kind{}.BindFlags(fs)
	if err := fs.Parse([]string{"--server-name", "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := opts(); err == nil || !strings.Contains(err.Error(), "without tls") {
		t.Fatalf("--server-name without --tls: err = %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("example.com:443", `{"tls":true,"server_name":"x","expect":{"min_days_left":3,"min_version":"1.3"}}`)
	f.Add("[::1]:22", `{}`)
	f.Add("tcp://a:1", `{"tls":false,"expect":{}}`)
	f.Add("a", `null`)
	f.Fuzz(func(t *testing.T, target, spec string) {
		c, err := tcpcheck.Kind{}.Parse(target, json.RawMessage(spec))
		if err != nil {
			checktest.WantFieldError(t, err)
			return
		}
		if c == nil {
			t.Fatal("nil check without an error")
		}
	})
}

// A router's answer to the SYN (no route, an unreachable or prohibit
// route: a firewall's REJECT) ends the connect at once as
// connect/unreachable; a blackhole, which says nothing, is
// connect/timeout when the run's time is up. Neither is the
// connect/refused of a host whose port is closed.
func TestRouterAnswers(t *testing.T) {
	for _, tt := range []struct {
		dst     string
		timeout time.Duration
		code    results.Code
	}{
		{netlab.NetUnreachable, 5 * time.Second, results.CodeUnreachable},
		{netlab.HostUnreachable, 5 * time.Second, results.CodeUnreachable},
		{netlab.Prohibited, 5 * time.Second, results.CodeUnreachable},
		{netlab.Prohibited6, 5 * time.Second, results.CodeUnreachable},
		{netlab.Blackholed, 300 * time.Millisecond, results.CodeTimeout},
	} {
		t.Run(tt.dst, func(t *testing.T) {
			h1 := netlab.RejectingRouter(t)
			var r results.Result
			if err := h1.Do(func() error {
				r = run(t, net.JoinHostPort(tt.dst, "443"), `{}`, checks.Env{}, tt.timeout)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			wantFailure(t, r, results.LayerConnect, tt.code)
			if r.Addr != tt.dst {
				t.Errorf("addr %q, want %s", r.Addr, tt.dst)
			}
		})
	}
}
