package tlscheck_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/picketnet/picket/checks"
	"github.com/picketnet/picket/checks/checktest"
	"github.com/picketnet/picket/checks/targetpolicy"
	tlscheck "github.com/picketnet/picket/checks/tls"
	"github.com/picketnet/picket/checks/tls/tlstest"
	"github.com/picketnet/picket/results"
)

// run parses spec for target and runs the check once with a 5s deadline.
func run(t *testing.T, target, spec string, env checks.Env) results.Result {
	t.Helper()
	c, err := tlscheck.Kind{}.Parse(target, json.RawMessage(spec))
	if err != nil {
		t.Fatalf("Parse(%q, %s): %v", target, spec, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.Run(ctx, env)
}

func details(t *testing.T, r results.Result) results.TLSDetails {
	t.Helper()
	var d results.TLSDetails
	if err := r.DecodeDetails(&d); err != nil {
		t.Fatalf("details of %+v: %v", r, err)
	}
	return d
}

func wantFailure(t *testing.T, r results.Result, layer results.Layer, code results.Code) {
	t.Helper()
	if r.OK || r.Error == nil || r.Error.Layer != layer || r.Error.Code != code {
		t.Fatalf("got ok=%v error=%v, want %s/%s", r.OK, r.Error, layer, code)
	}
	if !r.Error.Code.ValidFor(r.Error.Layer) {
		t.Fatalf("code %s is not valid for layer %s", r.Error.Code, r.Error.Layer)
	}
}

func tlsServer(t *testing.T, cert tls.Certificate, maxVersion uint16) *tlstest.Server {
	// MinVersion lets a test serve versions older than Go's default floor.
	return tlstest.Serve(t, tlstest.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS10, MaxVersion: maxVersion}))
}

func TestHandshakeOutcomes(t *testing.T) {
	ca := tlstest.NewCA(t, "Picket Test Root")
	other := tlstest.NewCA(t, "Someone Else's Root")
	now := time.Now()
	local := tlstest.Leaf{CommonName: "localhost", DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(90 * 24 * time.Hour)}
	with := func(f func(*tlstest.Leaf)) tlstest.Leaf { l := local; f(&l); return l }
	intermediate := ca.Intermediate(t, "Picket Test Intermediate", now.Add(-time.Hour), now.Add(365*24*time.Hour))
	expiredIntermediate := ca.Intermediate(t, "Picket Expired Intermediate", now.Add(-2*365*24*time.Hour), now.Add(-time.Hour))

	tests := []struct {
		name       string
		leaf       tlstest.Leaf
		signer     *tlstest.CA
		maxVersion uint16
		spec       string // without ca_file, which is the test CA's unless noCA
		noCA       bool
		wantLayer  results.Layer
		wantCode   results.Code // empty: the check passes
		verified   bool
		version    string
		message    string // in the error's message
		leafOnly   bool   // the server sends its certificate without the chain
	}{
		{name: "valid", leaf: local, spec: `{"expect":{"min_days_left":14,"min_version":"1.3"}}`, verified: true, version: "TLS 1.3"},
		{name: "valid by server_name", leaf: local, spec: `{"server_name":"localhost"}`, verified: true, version: "TLS 1.3"},
		{name: "expired", leaf: with(func(l *tlstest.Leaf) { l.NotBefore, l.NotAfter = now.Add(-48*time.Hour), now.Add(-time.Hour) }),
			wantLayer: results.LayerTLS, wantCode: results.CodeCertExpired, version: "TLS 1.3"},
		{name: "not yet valid", leaf: with(func(l *tlstest.Leaf) { l.NotBefore, l.NotAfter = now.Add(24*time.Hour), now.Add(48*time.Hour) }),
			wantLayer: results.LayerTLS, wantCode: results.CodeCertNotYetValid, version: "TLS 1.3"},
		{name: "wrong host", leaf: with(func(l *tlstest.Leaf) { l.DNSNames, l.IPs = []string{"other.example"}, nil }), spec: `{"server_name":"localhost"}`,
			wantLayer: results.LayerTLS, wantCode: results.CodeHostnameMismatch, version: "TLS 1.3"},
		{name: "valid through an intermediate", leaf: local, signer: intermediate, verified: true, version: "TLS 1.3"},
		// The leaf is good for 90 days, but the chain expired with its
		// intermediate: as expired as an expired leaf to every client.
		{name: "expired intermediate", leaf: local, signer: expiredIntermediate, message: "Picket Expired Intermediate",
			wantLayer: results.LayerTLS, wantCode: results.CodeCertExpired, version: "TLS 1.3"},
		// The most common chain fault: the server sends its certificate
		// without the intermediate that signed it. Clients that do not
		// fetch it themselves cannot verify, and the message says why.
		{name: "intermediate not sent", leaf: local, signer: intermediate, leafOnly: true, message: `the server sent only its own certificate, issued by "CN=Picket Test Intermediate`,
			wantLayer: results.LayerTLS, wantCode: results.CodeCertUntrusted, version: "TLS 1.3"},
		{name: "untrusted: other CA", leaf: local, signer: other,
			wantLayer: results.LayerTLS, wantCode: results.CodeCertUntrusted, version: "TLS 1.3"},
		{name: "untrusted: system roots", leaf: local, noCA: true,
			wantLayer: results.LayerTLS, wantCode: results.CodeCertUntrusted, version: "TLS 1.3"},
		{name: "TLS 1.2 only, 1.3 expected", leaf: local, maxVersion: tls.VersionTLS12, spec: `{"expect":{"min_version":"1.3"}}`,
			wantLayer: results.LayerTLS, wantCode: results.CodeVersionTooLow, verified: true, version: "TLS 1.2"},
		{name: "TLS 1.1 only, 1.2 expected", leaf: local, maxVersion: tls.VersionTLS11, spec: `{"expect":{"min_version":"1.2"}}`,
			wantLayer: results.LayerTLS, wantCode: results.CodeVersionTooLow, verified: true, version: "TLS 1.1"},
		{name: "TLS 1.2 only, 1.2 expected", leaf: local, maxVersion: tls.VersionTLS12, spec: `{"expect":{"min_version":"1.2"}}`,
			verified: true, version: "TLS 1.2"},
		{name: "expiring in 3 days, 14 expected", leaf: with(func(l *tlstest.Leaf) { l.NotAfter = now.Add(3 * 24 * time.Hour) }), spec: `{"expect":{"min_days_left":14}}`,
			wantLayer: results.LayerTLS, wantCode: results.CodeCertExpiring, verified: true, version: "TLS 1.3"},
		{name: "expiring in 3 days, 2 expected", leaf: with(func(l *tlstest.Leaf) { l.NotAfter = now.Add(3 * 24 * time.Hour) }), spec: `{"expect":{"min_days_left":2}}`,
			verified: true, version: "TLS 1.3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			signer := ca
			if tt.signer != nil {
				signer = tt.signer
			}
			cert := signer.Issue(t, tt.leaf)
			if tt.leafOnly {
				cert.Certificate = cert.Certificate[:1]
			}
			srv := tlsServer(t, cert, tt.maxVersion)
			spec := map[string]any{}
			if tt.spec != "" {
				if err := json.Unmarshal([]byte(tt.spec), &spec); err != nil {
					t.Fatal(err)
				}
			}
			if !tt.noCA {
				spec["ca_file"] = ca.File
			}
			raw, _ := json.Marshal(spec)
			r := run(t, srv.Addr, string(raw), checks.Env{})

			if tt.wantCode == "" {
				if !r.OK || r.Error != nil {
					t.Fatalf("want ok, got error %v", r.Error)
				}
			} else {
				wantFailure(t, r, tt.wantLayer, tt.wantCode)
				if !strings.Contains(r.Error.Message, tt.message) {
					t.Errorf("message %q does not name %q", r.Error.Message, tt.message)
				}
			}
			// The certificate is described whether or not it passed.
			d := details(t, r)
			if d.ChainVerified != tt.verified {
				t.Errorf("chain_verified = %v, want %v", d.ChainVerified, tt.verified)
			}
			if d.Version != tt.version {
				t.Errorf("version = %q, want %q", d.Version, tt.version)
			}
			if d.Cipher == "" || strings.HasPrefix(d.Cipher, "0x") {
				t.Errorf("cipher = %q, want a suite name", d.Cipher)
			}
			if !strings.Contains(d.Issuer, signer.Name()) {
				t.Errorf("issuer = %q, want it to name %q", d.Issuer, signer.Name())
			}
			if d.Subject != "CN="+tt.leaf.CommonName {
				t.Errorf("subject = %q, want CN=%s", d.Subject, tt.leaf.CommonName)
			}
			if want := len(tt.leaf.DNSNames) + len(tt.leaf.IPs); len(d.SANs) != want {
				t.Errorf("sans = %v, want %d entries", d.SANs, want)
			}
			if !d.NotAfter.Equal(tt.leaf.NotAfter.UTC().Truncate(time.Second)) {
				t.Errorf("not_after = %v, want %v", d.NotAfter, tt.leaf.NotAfter.UTC().Truncate(time.Second))
			}
			wantDays := time.Until(tt.leaf.NotAfter).Hours() / 24
			if d.DaysLeft > wantDays+0.01 || d.DaysLeft < wantDays-0.1 {
				t.Errorf("days_left = %v, want about %v", d.DaysLeft, wantDays)
			}
			if r.Addr != "127.0.0.1" || r.Kind != "tls" || r.Target != srv.Addr {
				t.Errorf("addr, kind, target = %q, %q, %q", r.Addr, r.Kind, r.Target)
			}
			if r.Phases.ConnectMS <= 0 || r.Phases.TLSMS <= 0 || r.Phases.DNSMS != 0 {
				t.Errorf("phases = %+v, want connect and tls, no dns for an IP literal", r.Phases)
			}
		})
	}
}

// A registered endpoint carries its private roots inline, in ca_pem: the
// check must verify against them exactly as against a ca_file.
func TestInlineRoots(t *testing.T) {
	ca := tlstest.NewCA(t, "Picket Inline Root")
	srv := tlsServer(t, ca.Issue(t, tlstest.Leaf{CommonName: "127.0.0.1", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}), 0)
	pem, err := os.ReadFile(ca.File)
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := json.Marshal(map[string]string{"ca_pem": string(pem)})
	c, err := tlscheck.Kind{}.Parse(srv.Addr, spec)
	if err != nil {
		t.Fatal(err)
	}
	r := c.Run(t.Context(), checks.Env{})
	if !r.OK || !details(t, r).ChainVerified {
		t.Fatalf("with ca_pem: ok=%v error=%v, want a verified chain", r.OK, r.Error)
	}
	if files := c.(interface{ LocalFiles() []string }).LocalFiles(); len(files) != 0 {
		t.Errorf("LocalFiles = %q with ca_pem only, want none", files)
	}
	other := tlstest.NewCA(t, "Some Other Root")
	otherPEM, err := os.ReadFile(other.File)
	if err != nil {
		t.Fatal(err)
	}
	spec, _ = json.Marshal(map[string]string{"ca_pem": string(otherPEM)})
	r = run(t, srv.Addr, string(spec), checks.Env{})
	wantFailure(t, r, results.LayerTLS, results.CodeCertUntrusted)
}

// TestTargetForms resolves a name and reads the https:// form.
func TestTargetForms(t *testing.T) {
	ca := tlstest.NewCA(t, "Picket Test Root")
	srv := tlsServer(t, ca.Issue(t, tlstest.Leaf{CommonName: "localhost", DNSNames: []string{"localhost"}}), 0)
	spec := fmt.Sprintf(`{"ca_file":%q}`, ca.File)
	for _, target := range []string{"localhost:" + srv.Port(), "https://localhost:" + srv.Port() + "/health"} {
		t.Run(target, func(t *testing.T) {
			r := run(t, target, spec, checks.Env{})
			if !r.OK {
				t.Fatalf("want ok, got %v", r.Error)
			}
			if !details(t, r).ChainVerified {
				t.Error("chain not verified")
			}
			if r.Phases.DNSMS <= 0 {
				t.Errorf("dns_ms = %v, want the lookup of localhost timed", r.Phases.DNSMS)
			}
		})
	}
}

func TestConnectionFailures(t *testing.T) {
	refused := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return addr
	}()
	deny := &targetpolicy.Policy{DenyPrivate: true}
	tests := []struct {
		name   string
		target string
		spec   string
		env    checks.Env
		ctx    time.Duration
		layer  results.Layer
		code   results.Code
	}{
		{name: "refused", target: refused, layer: results.LayerConnect, code: results.CodeRefused},
		{name: "reset during handshake", target: tlstest.Serve(t, tlstest.Reset).Addr, layer: results.LayerTLS, code: results.CodeReset},
		{name: "server never answers", target: tlstest.Serve(t, tlstest.Silent).Addr, ctx: 300 * time.Millisecond, layer: results.LayerTLS, code: results.CodeTimeout},
		{name: "not TLS", target: tlstest.Serve(t, tlstest.Plaintext).Addr, layer: results.LayerTLS, code: results.CodeProtocol},
		{name: "denied by policy", target: tlstest.Serve(t, tlstest.Silent).Addr, env: checks.Env{Policy: deny}, layer: results.LayerConnect, code: results.CodeDenied},
		{name: "unreadable ca_file", target: tlstest.Serve(t, tlstest.TLS(&tls.Config{Certificates: []tls.Certificate{tlstest.NewCA(t, "x").Issue(t, tlstest.Leaf{CommonName: "x"})}})).Addr,
			spec: `{"ca_file":"/nonexistent/ca.pem"}`, layer: results.LayerValidation, code: results.CodeBadSpec},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := tt.spec
			if spec == "" {
				spec = "{}"
			}
			c, err := tlscheck.Kind{}.Parse(tt.target, json.RawMessage(spec))
			if err != nil {
				t.Fatal(err)
			}
			d := tt.ctx
			if d == 0 {
				d = 5 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), d)
			defer cancel()
			r := c.Run(ctx, tt.env)
			wantFailure(t, r, tt.layer, tt.code)
			if r.Addr != "127.0.0.1" {
				t.Errorf("addr = %q, want the address tried", r.Addr)
			}
		})
	}
}

// TestPolicyAllowException lets an operator's exception through a
// deny-private policy.
func TestPolicyAllowException(t *testing.T) {
	ca := tlstest.NewCA(t, "Picket Test Root")
	srv := tlsServer(t, ca.Issue(t, tlstest.Leaf{CommonName: "localhost", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}), 0)
	policy := &targetpolicy.Policy{DenyPrivate: true, Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	r := run(t, srv.Addr, fmt.Sprintf(`{"ca_file":%q}`, ca.File), checks.Env{Policy: policy})
	if !r.OK {
		t.Fatalf("want ok through the allow exception, got %v", r.Error)
	}
}

// TestContextCancelled stops a run at once when its caller gives up.
func TestContextCancelled(t *testing.T) {
	srv := tlstest.Serve(t, tlstest.Silent)
	c, err := tlscheck.Kind{}.Parse(srv.Addr, json.RawMessage(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	r := c.Run(ctx, checks.Env{})
	wantFailure(t, r, results.LayerTLS, results.CodeTimeout)
}

// TestSpecTimeout ends a run at the spec's timeout even when the caller's
// context has no deadline.
func TestSpecTimeout(t *testing.T) {
	srv := tlstest.Serve(t, tlstest.Silent)
	c, err := tlscheck.Kind{}.Parse(srv.Addr, json.RawMessage(`{"kind":"tls","timeout":"200ms"}`))
	if err != nil {
		t.Fatal(err)
	}
	r := c.Run(context.Background(), checks.Env{})
	wantFailure(t, r, results.LayerTLS, results.CodeTimeout)
}

func TestNoLeaks(t *testing.T) {
	ca := tlstest.NewCA(t, "Picket Test Root")
	good := tlsServer(t, ca.Issue(t, tlstest.Leaf{CommonName: "localhost", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}), 0)
	silent := tlstest.Serve(t, tlstest.Silent)
	reset := tlstest.Serve(t, tlstest.Reset)
	tlstest.NoLeaks(t, func() {
		for range 20 {
			for _, tt := range []struct {
				addr string
				ctx  time.Duration
			}{{good.Addr, 5 * time.Second}, {silent.Addr, 20 * time.Millisecond}, {reset.Addr, 5 * time.Second}} {
				c, err := tlscheck.Kind{}.Parse(tt.addr, json.RawMessage(fmt.Sprintf(`{"ca_file":%q}`, ca.File)))
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), tt.ctx)
				c.Run(ctx, checks.Env{})
				cancel()
			}
		}
	})
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		target, spec, field string
	}{
		{"", `{}`, "target"},
		{"example.com:0", `{}`, "target"},
		{"example.com:99999", `{}`, "target"},
		{"example.com:https", `{}`, "target"},
		{"http://example.com", `{}`, "target"},
		{"https://user:pw@example.com", `{}`, "target"},
		{"exa mple.com", `{}`, "target"},
		{"a:b:c", `{}`, "target"},
		{"example.com", `{"expect":{"min_version":"1.4"}}`, "expect.min_version"},
		{"example.com", `{"expect":{"min_days_left":-1}}`, "expect.min_days_left"},
		{"example.com", `{"expect":{"min_days_left":"14"}}`, "expect.min_days_left"},
		{"example.com", `{"expect":{"max_days":1}}`, "expect.max_days"},
		{"example.com", `{"server_name":"a/b"}`, "server_name"},
		{"example.com", `{"sni":"x"}`, "sni"},
		{"example.com", `{"timeout":"10"}`, "timeout"},
		{"example.com", `{"timeout":"-1s"}`, "timeout"},
		{"example.com", `{"timeout":"1h"}`, "timeout"},
		{"example.com", `{"ca_pem":"not a certificate"}`, "ca_pem"},
		{"example.com", `{"ca_pem":"` + strings.Repeat("A", tlscheck.MaxCAPEMBytes+1) + `"}`, "ca_pem"},
		{"example.com", `{"ca_file":"/a.pem","ca_pem":"x"}`, "ca_pem"},
	}
	for _, tt := range tests {
		t.Run(tt.target+" "+tt.spec[:min(len(tt.spec), 60)], func(t *testing.T) {
			_, err := tlscheck.Kind{}.Parse(tt.target, json.RawMessage(tt.spec))
			if fe := checktest.WantFieldError(t, err); fe.Field != tt.field {
				t.Fatalf("field = %q (%v), want %q", fe.Field, err, tt.field)
			}
		})
	}
	for _, target := range []string{"example.com", "example.com:8443", "https://example.com", "https://[::1]:8443/x", "[2001:db8::1]:443", "2001:db8::1", "192.0.2.1"} {
		if _, err := (tlscheck.Kind{}).Parse(target, json.RawMessage(`{"kind":"tls","interval":"5m","timeout":"10s","expect":{"min_days_left":14}}`)); err != nil {
			t.Errorf("Parse(%q): %v", target, err)
		}
	}
}

func TestBindFlags(t *testing.T) {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	opts := tlscheck.Kind{}.BindFlags(fs)
	if err := fs.Parse([]string{"--server-name", "api.example.com", "--ca-file", "/etc/ca.pem", "--min-days-left", "14", "--min-version", "1.3"}); err != nil {
		t.Fatal(err)
	}
	raw, err := opts()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"server_name":"api.example.com","ca_file":"/etc/ca.pem","expect":{"min_days_left":14,"min_version":"1.3"}}`
	if string(raw) != want {
		t.Fatalf("options = %s, want %s", raw, want)
	}
	// What the flags yield is a spec the kind accepts.
	if _, err := (tlscheck.Kind{}).Parse("api.example.com", raw); err != nil {
		t.Fatalf("Parse of the flags' options: %v", err)
	}

	fs = flag.NewFlagSet("check", flag.ContinueOnError)
	opts = tlscheck.Kind{}.BindFlags(fs)
	if err := fs.Parse([]string{"--min-version", "2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := opts(); err == nil || !strings.Contains(err.Error(), "min_version") {
		t.Fatalf("bad --min-version: err = %v, want it to name min_version", err)
	}
}

// TestCAFileLimits refuses a CA file that is not PEM.
func TestCAFileLimits(t *testing.T) {
	srv := tlstest.Serve(t, tlstest.TLS(&tls.Config{Certificates: []tls.Certificate{tlstest.NewCA(t, "x").Issue(t, tlstest.Leaf{CommonName: "x"})}}))
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := run(t, srv.Addr, fmt.Sprintf(`{"ca_file":%q}`, file), checks.Env{})
	wantFailure(t, r, results.LayerValidation, results.CodeBadSpec)
	if !strings.Contains(r.Error.Message, "no PEM certificate") {
		t.Errorf("message = %q", r.Error.Message)
	}
}

func FuzzParse(f *testing.F) {
	for _, seed := range []struct{ target, spec string }{
		{"example.com:443", `{}`},
		{"https://example.com", `{"server_name":"x","ca_file":"/a","expect":{"min_days_left":14,"min_version":"1.2"}}`},
		{"[::1]:443", `{"expect":{"min_days_left":1e308}}`},
		{"", `{"expect":null}`},
		{"a:1", `[]`},
		{"a:1", `{"expect":{"min_version":7}}`},
	} {
		f.Add(seed.target, seed.spec)
	}
	f.Fuzz(func(t *testing.T, target, spec string) {
		c, err := tlscheck.Kind{}.Parse(target, json.RawMessage(spec))
		if err != nil {
			checktest.WantFieldError(t, err)
			return
		}
		if c == nil {
			t.Fatal("nil check without an error")
		}
	})
}
