package httpcheck

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"

	"github.com/picketnet/picket/checks"
	"github.com/picketnet/picket/checks/targetpolicy"
	"github.com/picketnet/picket/internal/netlab"
	"github.com/picketnet/picket/results"
)

// runCase is one run of the check and what its record must say.
type runCase struct {
	name     string
	target   string
	spec     string
	timeout  time.Duration
	policy   *targetpolicy.Policy
	resolver *net.Resolver
	// layer and code of the failure; an empty layer means the run passes.
	layer results.Layer
	code  results.Code
	check func(t *testing.T, r results.Result, d results.HTTPDetails)
}

func runCases(t *testing.T, cases []runCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec, d := runOnce(t, tc)
			if tc.layer == "" {
				if !rec.OK || rec.Error != nil {
					t.Fatalf("run failed: %v (details %+v)", rec.Error, d)
				}
			} else {
				if rec.OK || rec.Error == nil {
					t.Fatalf("run passed, want %s/%s (details %+v)", tc.layer, tc.code, d)
				}
				if rec.Error.Layer != tc.layer || rec.Error.Code != tc.code {
					t.Fatalf("error %s/%s (%s), want %s/%s", rec.Error.Layer, rec.Error.Code, rec.Error.Message, tc.layer, tc.code)
				}
			}
			if tc.check != nil {
				tc.check(t, rec, d)
			}
		})
	}
}

func runOnce(t testing.TB, tc runCase) (results.Result, results.HTTPDetails) {
	t.Helper()
	spec := tc.spec
	if spec == "" {
		spec = "{}"
	}
	chk, err := Kind{}.Parse(tc.target, json.RawMessage(spec))
	if err != nil {
		t.Fatalf("Parse(%q, %s): %v", tc.target, spec, err)
	}
	if tc.resolver != nil {
		chk.(*Check).resolver = tc.resolver
	}
	timeout := tc.timeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	rec := chk.Run(ctx, checks.Env{Policy: tc.policy})
	if rec.Kind != Name || rec.Target != tc.target || rec.StartedAt.IsZero() || rec.DurationMS <= 0 {
		t.Errorf("run-level fields not filled: %+v", rec)
	}
	// Every record must be one the collector accepts.
	rec.ID, rec.Endpoint, rec.Check, rec.Vantage = "id", "e", "e/http", "v"
	if err := rec.Validate(); err != nil {
		t.Errorf("record does not validate: %v", err)
	}
	var d results.HTTPDetails
	if err := rec.DecodeDetails(&d); err != nil {
		t.Fatalf("details: %v", err)
	}
	return rec, d
}

func wantDetails(status int, version string, redirects int) func(*testing.T, results.Result, results.HTTPDetails) {
	return func(t *testing.T, _ results.Result, d results.HTTPDetails) {
		t.Helper()
		if d.Status != status || d.HTTPVersion != version || d.Redirects != redirects {
			t.Errorf("details status=%d version=%q redirects=%d, want %d %q %d", d.Status, d.HTTPVersion, d.Redirects, status, version, redirects)
		}
	}
}

func wantAddr(addr string) func(*testing.T, results.Result, results.HTTPDetails) {
	return func(t *testing.T, r results.Result, _ results.HTTPDetails) {
		t.Helper()
		if r.Addr != addr {
			t.Errorf("addr %q, want %q", r.Addr, addr)
		}
	}
}

// wantMessage wants the record's error message to contain text.
func wantMessage(text string) func(*testing.T, results.Result, results.HTTPDetails) {
	return func(t *testing.T, r results.Result, _ results.HTTPDetails) {
		t.Helper()
		if r.Error == nil || !strings.Contains(r.Error.Message, text) {
			t.Errorf("error %v, want a message containing %q", r.Error, text)
		}
	}
}

// wantFinalURLBounded wants a final_url that starts with prefix and is no
// longer than a target may be, whatever the length the server sent.
func wantFinalURLBounded(prefix string) func(*testing.T, results.Result, results.HTTPDetails) {
	return func(t *testing.T, _ results.Result, d results.HTTPDetails) {
		t.Helper()
		if !strings.HasPrefix(d.FinalURL, prefix) || len(d.FinalURL) > results.MaxTargetBytes {
			t.Errorf("final_url %.60q... (%d bytes): want a prefix %q and at most %d bytes", d.FinalURL, len(d.FinalURL), prefix, results.MaxTargetBytes)
		}
	}
}

func all(fs ...func(*testing.T, results.Result, results.HTTPDetails)) func(*testing.T, results.Result, results.HTTPDetails) {
	return func(t *testing.T, r results.Result, d results.HTTPDetails) {
		t.Helper()
		for _, f := range fs {
			f(t, r, d)
		}
	}
}

// slow is the timeout of runs that must get through the earlier phases
// before they time out in a later one; it leaves room for a loaded machine
// and the race detector. Runs that time out in their first phase use a
// short one.
const slow = 1500 * time.Millisecond

var denyPrivate = &targetpolicy.Policy{DenyPrivate: true}

func TestRunHTTP1(t *testing.T) {
	base := startHTTP(t, false).URL
	host := strings.TrimPrefix(base, "http://")
	runCases(t, []runCase{
		{name: "ok", target: base + "/ok", check: all(wantDetails(200, "1.1", 0), wantAddr("127.0.0.1"),
			func(t *testing.T, r results.Result, d results.HTTPDetails) {
				if d.ResponseBytes != int64(len("hello picket")) || d.FinalURL != base+"/ok" || d.CertNotAfter != nil {
					t.Errorf("details %+v", d)
				}
				if r.Phases.ConnectMS <= 0 || r.Phases.TTFBMS <= 0 || r.Phases.DNSMS != 0 || r.Phases.TLSMS != 0 {
					t.Errorf("phases %+v: want connect and ttfb, no dns or tls", r.Phases)
				}
			})},
		{name: "default status range rejects 404", target: base + "/status/404", layer: results.LayerHTTP, code: results.CodeStatus,
			check: wantDetails(404, "1.1", 0)},
		{name: "status class", target: base + "/status/404", spec: `{"expect":{"status":["4xx"]}}`},
		{name: "status list and range", target: base + "/status/503", spec: `{"expect":{"status":[200,"500-504"]}}`},
		{name: "status not in list", target: base + "/status/200", spec: `{"expect":{"status":[201,"300-399"]}}`,
			layer: results.LayerHTTP, code: results.CodeStatus},
		{name: "body substring", target: base + "/ok", spec: `{"expect":{"body":"picket"}}`},
		{name: "body substring mismatch", target: base + "/ok", spec: `{"expect":{"body":"goodbye"}}`,
			layer: results.LayerHTTP, code: results.CodeBodyMismatch},
		{name: "body regex", target: base + "/ok", spec: `{"expect":{"body_regex":"^hello p[a-z]+$"}}`},
		{name: "body regex mismatch", target: base + "/ok", spec: `{"expect":{"body_regex":"^picket"}}`,
			layer: results.LayerHTTP, code: results.CodeBodyMismatch},
		{name: "header regex", target: base + "/ok", spec: `{"expect":{"headers":{"x-build":"^v1\\.2\\."}}}`},
		{name: "header regex mismatch", target: base + "/ok", spec: `{"expect":{"headers":{"X-Build":"^v2"}}}`,
			layer: results.LayerHTTP, code: results.CodeHeaderMismatch},
		{name: "header missing", target: base + "/ok", spec: `{"expect":{"headers":{"X-Missing":""}}}`,
			layer: results.LayerHTTP, code: results.CodeHeaderMismatch},
		{name: "body of exactly max_bytes", target: base + "/bytes/100", spec: `{"max_bytes":100}`,
			check: func(t *testing.T, _ results.Result, d results.HTTPDetails) {
				if d.ResponseBytes != 100 {
					t.Errorf("response_bytes %d, want 100", d.ResponseBytes)
				}
			}},
		{name: "body over max_bytes", target: base + "/bytes/101", spec: `{"max_bytes":100}`,
			layer: results.LayerHTTP, code: results.CodeTooLarge},
		// The status is known before the body: an outage's large error
		// page is the outage, not a body too large.
		{name: "error status with a body over max_bytes", target: base + "/bytes/101?status=503", spec: `{"max_bytes":100}`,
			layer: results.LayerHTTP, code: results.CodeStatus, check: wantDetails(503, "1.1", 0)},
		{name: "redirects counted", target: base + "/redirect/2", check: all(wantDetails(200, "1.1", 3),
			func(t *testing.T, _ results.Result, d results.HTTPDetails) {
				if d.FinalURL != base+"/ok" {
					t.Errorf("final_url %q", d.FinalURL)
				}
			})},
		{name: "response headers over the limit", target: base + "/bigheader", layer: results.LayerHTTP, code: results.CodeProtocol},
		{name: "final url bounded", target: base + "/longredirect", check: all(wantDetails(200, "1.1", 1), wantFinalURLBounded(base+"/ok?pad=ppp"))},
		{name: "redirects up to the limit", target: base + "/redirect/2", spec: `{"max_redirects":3}`, check: wantDetails(200, "1.1", 3)},
		{name: "redirects over the limit", target: base + "/redirect/2", spec: `{"max_redirects":2}`,
			layer: results.LayerHTTP, code: results.CodeTooManyRedirect},
		{name: "redirects not followed", target: base + "/redirect/0", spec: `{"max_redirects":0,"expect":{"status":[302]}}`,
			check: wantDetails(302, "1.1", 0)},
		{name: "post with headers and body", target: base + "/echo",
			spec: `{"method":"POST","headers":{"X-Test":"yes","Host":"api.example"},"body":"ping","expect":{"body":"method=POST test=yes host=api.example proto=HTTP/1.1 body=ping"}}`},
		{name: "head", target: base + "/ok", spec: `{"method":"HEAD"}`,
			check: func(t *testing.T, _ results.Result, d results.HTTPDetails) {
				if d.ResponseBytes != 0 || d.Status != 200 {
					t.Errorf("details %+v", d)
				}
			}},
		{name: "refused", target: "http://" + closedPort(t) + "/", layer: results.LayerConnect, code: results.CodeRefused, check: wantAddr("127.0.0.1")},
		{name: "reset", target: "http://" + startResetter(t) + "/", layer: results.LayerHTTP, code: results.CodeReset},
		{name: "first byte timeout", target: base + "/sleep", timeout: slow, layer: results.LayerHTTP, code: results.CodeTimeout},
		{name: "body timeout", target: base + "/slowbody", timeout: slow, layer: results.LayerHTTP, code: results.CodeTimeout,
			check: func(t *testing.T, r results.Result, d results.HTTPDetails) {
				if d.Status != 200 || d.ResponseBytes != int64(len("partial")) {
					t.Errorf("details %+v: want the status and the partial body", d)
				}
			}},
		{name: "policy denies loopback", target: base + "/ok", policy: denyPrivate, layer: results.LayerConnect, code: results.CodeDenied, check: wantAddr("127.0.0.1")},
		{name: "policy allows an exception", target: base + "/ok",
			policy: &targetpolicy.Policy{DenyPrivate: true, Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}},
		{name: "policy sees through an IPv4-mapped literal", target: "http://[::ffff:127.0.0.1]:" + strings.Split(host, ":")[1] + "/ok",
			policy: denyPrivate, layer: results.LayerConnect, code: results.CodeDenied, check: wantAddr("127.0.0.1")},
		{name: "policy applies to a redirect's host", target: base + "/to?url=http://127.0.0.2:" + strings.Split(host, ":")[1] + "/ok",
			policy: &targetpolicy.Policy{DenyPrivate: true, Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}},
			layer:  results.LayerConnect, code: results.CodeDenied, check: wantDetails(0, "", 1)},
	})
}

func TestRunTLS(t *testing.T) {
	ca := newCA(t)
	valid := startTLS(t, ca.validLeaf(t), false).URL
	h2 := startTLS(t, ca.validLeaf(t), true).URL
	expired := startTLS(t, ca.leaf(t, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour), "127.0.0.1"), false).URL
	wrongHost := startTLS(t, ca.leaf(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), "other.example"), false).URL
	caFile := `"ca_file":"` + ca.pemFile + `"`
	pem, err := os.ReadFile(ca.pemFile)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, _ := json.Marshal(map[string]string{"ca_pem": string(pem)})
	runCases(t, []runCase{
		{name: "valid", target: valid + "/ok", spec: `{` + caFile + `}`, check: all(wantDetails(200, "1.1", 0),
			func(t *testing.T, r results.Result, d results.HTTPDetails) {
				if d.CertNotAfter == nil || d.CertNotAfter.Before(time.Now()) {
					t.Errorf("cert_not_after %v", d.CertNotAfter)
				}
				if r.Phases.TLSMS <= 0 || r.Phases.ConnectMS <= 0 {
					t.Errorf("phases %+v: want connect and tls", r.Phases)
				}
			})},
		{name: "valid with ca_pem", target: valid + "/ok", spec: string(caPEM), check: wantDetails(200, "1.1", 0)},
		{name: "untrusted", target: valid + "/ok", layer: results.LayerTLS, code: results.CodeCertUntrusted},
		{name: "insecure accepts untrusted", target: valid + "/ok", spec: `{"insecure_skip_verify":true}`},
		{name: "expired", target: expired + "/ok", spec: `{` + caFile + `}`, layer: results.LayerTLS, code: results.CodeCertExpired},
		{name: "wrong host", target: wrongHost + "/ok", spec: `{` + caFile + `}`, layer: results.LayerTLS, code: results.CodeHostnameMismatch},
		{name: "missing ca file", target: valid + "/ok", spec: `{"ca_file":"/nonexistent/ca.pem"}`, layer: results.LayerValidation, code: results.CodeBadSpec},
		{name: "http2 negotiated", target: h2 + "/echo", spec: `{` + caFile + `,"expect":{"body":"proto=HTTP/2.0"}}`, check: wantDetails(200, "2", 0)},
		{name: "http2 required", target: h2 + "/ok", spec: `{` + caFile + `,"http_version":"2"}`, check: wantDetails(200, "2", 0)},
		{name: "http1.1 forced", target: h2 + "/ok", spec: `{` + caFile + `,"http_version":"1.1"}`, check: wantDetails(200, "1.1", 0)},
		// The server answers the ALPN offer of h2 alone with a
		// no_application_protocol alert.
		{name: "http2 required but not offered", target: valid + "/ok", spec: `{` + caFile + `,"http_version":"2"}`,
			layer: results.LayerTLS, code: results.CodeHandshake},
		{name: "http2 first byte timeout", target: h2 + "/sleep", spec: `{` + caFile + `}`, timeout: slow,
			layer: results.LayerHTTP, code: results.CodeTimeout},
		{name: "http2 body timeout", target: h2 + "/slowbody", spec: `{` + caFile + `}`, timeout: slow,
			layer: results.LayerHTTP, code: results.CodeTimeout},
		{name: "handshake timeout", target: "https://" + startSilent(t) + "/", timeout: slow,
			layer: results.LayerTLS, code: results.CodeTimeout},
		{name: "reset during handshake", target: "https://" + startResetter(t) + "/", layer: results.LayerTLS, code: results.CodeReset},
	})
}

func TestRunH2C(t *testing.T) {
	base := startHTTP(t, true).URL
	runCases(t, []runCase{
		{name: "prior knowledge", target: base + "/echo", spec: `{"http_version":"2","expect":{"body":"proto=HTTP/2.0"}}`, check: wantDetails(200, "2", 0)},
		{name: "auto stays on 1.1 in clear", target: base + "/ok", check: wantDetails(200, "1.1", 0)},
		// A server without h2c answers the preface in HTTP/1.1, which the
		// HTTP/2 client reads as a frame header: say so, not only "frame
		// too large".
		{name: "server without h2c", target: startHTTP(t, false).URL + "/ok", spec: `{"http_version":"2"}`,
			layer: results.LayerHTTP, code: results.CodeProtocol, check: wantMessage("the server answered in HTTP/1, not HTTP/2")},
	})
}

func TestRunHTTP3(t *testing.T) {
	ca := newCA(t)
	base := startH3(t, ca.validLeaf(t))
	expired := startH3(t, ca.leaf(t, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour), "127.0.0.1"))
	h3 := `"http_version":"3","ca_file":"` + ca.pemFile + `"`
	runCases(t, []runCase{
		{name: "ok", target: base + "/ok", spec: `{` + h3 + `,"expect":{"body":"hello"}}`, check: all(wantDetails(200, "3", 0), wantAddr("127.0.0.1"),
			func(t *testing.T, r results.Result, d results.HTTPDetails) {
				if r.Phases.ConnectMS <= 0 || r.Phases.TLSMS <= 0 || r.Phases.TTFBMS <= 0 {
					t.Errorf("phases %+v: want connect, tls and ttfb", r.Phases)
				}
				if d.CertNotAfter == nil {
					t.Errorf("no cert_not_after")
				}
			})},
		{name: "post", target: base + "/echo", spec: `{` + h3 + `,"method":"POST","headers":{"X-Test":"3"},"body":"q","expect":{"body":"method=POST test=3"}}`},
		{name: "redirects", target: base + "/redirect/1", spec: `{` + h3 + `}`, check: wantDetails(200, "3", 2)},
		{name: "status", target: base + "/status/500", spec: `{` + h3 + `}`, layer: results.LayerHTTP, code: results.CodeStatus},
		{name: "too large", target: base + "/bytes/5000", spec: `{` + h3 + `,"max_bytes":4096}`, layer: results.LayerHTTP, code: results.CodeTooLarge},
		{name: "response headers over the limit", target: base + "/bigheader", spec: `{` + h3 + `}`, layer: results.LayerHTTP, code: results.CodeProtocol},
		{name: "final url bounded", target: base + "/longredirect", spec: `{` + h3 + `}`, check: all(wantDetails(200, "3", 1), wantFinalURLBounded(base+"/ok?pad=ppp"))},
		{name: "untrusted", target: base + "/ok", spec: `{"http_version":"3"}`, layer: results.LayerTLS, code: results.CodeCertUntrusted},
		{name: "expired", target: expired + "/ok", spec: `{` + h3 + `}`, layer: results.LayerTLS, code: results.CodeCertExpired},
		{name: "policy", target: base + "/ok", spec: `{` + h3 + `}`, policy: denyPrivate, layer: results.LayerConnect, code: results.CodeDenied},
		{name: "policy applies to a redirect's host", target: base + "/to?url=" + strings.Replace(base, "127.0.0.1", "127.0.0.2", 1) + "/ok", spec: `{` + h3 + `}`,
			policy: &targetpolicy.Policy{DenyPrivate: true, Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}},
			layer:  results.LayerConnect, code: results.CodeDenied, check: wantDetails(0, "", 1)},
		{name: "first byte timeout", target: base + "/sleep", spec: `{` + h3 + `}`, timeout: slow,
			layer: results.LayerHTTP, code: results.CodeTimeout},
		{name: "body timeout", target: base + "/slowbody", spec: `{` + h3 + `}`, timeout: slow,
			layer: results.LayerHTTP, code: results.CodeTimeout},
		// A server with HTTPS over TCP alone: the message says why there
		// is no HTTP/3, not only what the socket said.
		{name: "refused", target: "https://" + closedUDPPort(t) + "/", spec: `{` + h3 + `}`, layer: results.LayerConnect, code: results.CodeRefused,
			check: wantMessage("no HTTP/3: nothing listens on UDP")},
		{name: "no answer", target: "https://" + startSilentUDP(t) + "/", spec: `{` + h3 + `}`, timeout: 300 * time.Millisecond,
			layer: results.LayerConnect, code: results.CodeTimeout, check: wantMessage("no HTTP/3: no answer to QUIC Initial packets")},
		// Datagrams come back, but not in QUIC: still no QUIC server, and
		// its first datagram does not end the connect phase.
		{name: "a UDP service that is not QUIC", target: "https://" + startNotQUICUDP(t) + "/", spec: `{` + h3 + `}`, timeout: 300 * time.Millisecond,
			layer: results.LayerConnect, code: results.CodeTimeout, check: wantMessage("datagrams that are not QUIC")},
	})
}

func TestRunDNS(t *testing.T) {
	v4 := startHTTP(t, false)
	port := strings.Split(v4.URL, ":")[2]
	v6, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Fatalf("IPv6 loopback: %v", err)
	}
	v6.Close()
	resolver := dnsServer(t, map[string][]net.IP{
		"dual.test.":    {net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
		"v6first.test.": {net.ParseIP("::1"), net.ParseIP("127.0.0.1")},
	})
	silent := resolverAt(startSilentUDP(t))
	// A second server whose port on [::1] swallows SYNs: IPv4 starts after
	// the fallback delay and wins, and the hanging IPv6 attempt is
	// cancelled. On the first server's port [::1] refuses instead.
	var hangs6 runCase
	port2 := strings.Split(startHTTP(t, false).URL, ":")[2]
	n, _ := strconv.Atoi(port2)
	if _, ok := fullBacklog(t, syscall.AF_INET6, n); ok {
		hangs6 = runCase{name: "prefer 6 races 4 when 6 hangs", target: "http://dual.test:" + port2 + "/ok", spec: `{"prefer_ip":"6"}`,
			resolver: resolver, check: wantAddr("127.0.0.1")}
	}
	cases := []runCase{
		{name: "resolves", target: "http://dual.test:" + port + "/ok", spec: `{"prefer_ip":"4"}`, resolver: resolver,
			check: all(wantAddr("127.0.0.1"), func(t *testing.T, r results.Result, _ results.HTTPDetails) {
				if r.Phases.DNSMS <= 0 {
					t.Errorf("phases %+v: want dns", r.Phases)
				}
			})},
		// Nothing listens on [::1]:port: the preferred family is refused and
		// the run falls back to IPv4.
		{name: "prefer 6 falls back to 4", target: "http://dual.test:" + port + "/ok", spec: `{"prefer_ip":"6"}`, resolver: resolver, check: wantAddr("127.0.0.1")},
		{name: "resolver order falls back", target: "http://v6first.test:" + port + "/ok", resolver: resolver, check: wantAddr("127.0.0.1")},
		{name: "nxdomain", target: "http://missing.test:" + port + "/ok", resolver: resolver, layer: results.LayerDNS, code: results.CodeNXDomain},
		{name: "timeout", target: "http://dual.test:" + port + "/ok", resolver: silent, timeout: 300 * time.Millisecond,
			layer: results.LayerDNS, code: results.CodeTimeout},
		{name: "policy after resolution", target: "http://dual.test:" + port + "/ok", resolver: resolver, policy: denyPrivate,
			layer: results.LayerConnect, code: results.CodeDenied},
	}
	if hangs6.name == "" {
		t.Log("this network stack completes connects beyond a full backlog: the fallback-after-delay case is not run")
	} else {
		cases = append(cases, hangs6)
	}
	runCases(t, cases)
}

func TestRunConnectTimeout(t *testing.T) {
	addr, ok := startFullBacklog(t)
	if !ok {
		t.Skip("this network stack completes connects beyond a full backlog; no loopback address to time out on")
	}
	runCases(t, []runCase{
		{name: "connect timeout", target: "http://" + addr + "/", timeout: 300 * time.Millisecond, layer: results.LayerConnect, code: results.CodeTimeout},
	})
}

// HTTP/3 to an address that a router says cannot be reached (no route, an
// unreachable or prohibit route) fails connect/unreachable at once, as
// HTTP/1.1 and 2 do when the TCP connect meets the same answer, not
// connect/timeout when the run's time is up. (Only HTTP/3 runs here: the
// QUIC socket is opened on the calling goroutine, in the lab's namespace,
// while net/http dials TCP from goroutines of its own.)
func TestHTTP3RouterUnreachable(t *testing.T) {
	for _, dst := range []string{netlab.HostUnreachable, netlab.Prohibited, netlab.NetUnreachable, netlab.Prohibited6, netlab.NetUnreachable6} {
		t.Run(dst, func(t *testing.T) {
			h1 := netlab.RejectingRouter(t)
			var rec results.Result
			if err := h1.Do(func() error {
				rec, _ = runOnce(t, runCase{target: "https://" + net.JoinHostPort(dst, "443") + "/", spec: `{"http_version":"3"}`, timeout: 3 * time.Second})
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if rec.OK || rec.Error.Layer != results.LayerConnect || rec.Error.Code != results.CodeUnreachable {
				t.Fatalf("got %v, want connect/unreachable", rec.Error)
			}
		})
	}
}

// HTTP/3 crosses a path whose MTU is IPv6's minimum, 1280 bytes: the
// handshake's datagrams fit it (quic-go's default first size does not, and
// the run timed out), and the packet too big answers to quic-go's path MTU
// probes, read as EMSGSIZE on a socket that reports ICMP errors (see
// TestHTTP3RouterUnreachable), are news about the path: the download
// carries on.
func TestHTTP3PacketTooBig(t *testing.T) {
	lab := netlab.New(t)
	h1, r1, h2 := lab.Node("h1"), lab.Node("r1"), lab.Node("h2")
	lab.Link(h1, []string{"2001:db8:1::1/64"}, r1, []string{"2001:db8:1::2/64"})
	r1If, h2If := lab.Link(r1, []string{"2001:db8:2::1/64"}, h2, []string{"2001:db8:2::2/64"})
	r1.IP("link", "set", r1If, "mtu", "1280")
	h2.IP("link", "set", h2If, "mtu", "1280")
	r1.Forward()
	h1.Route("default", "2001:db8:1::2")
	h2.Route("default", "2001:db8:2::1")
	ca := newCA(t)
	cert := ca.leaf(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), "2001:db8:2::2")
	var conn *net.UDPConn
	if err := h2.Do(func() (err error) {
		conn, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("2001:db8:2::2"), Port: 443})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	srv := &http3.Server{Handler: testHandler(), TLSConfig: http3.ConfigureTLSConfig(&tls.Config{Certificates: []tls.Certificate{cert}})}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(conn) }()
	t.Cleanup(func() { srv.Close(); conn.Close(); <-done })

	for range 3 {
		var rec results.Result
		var d results.HTTPDetails
		if err := h1.Do(func() error {
			rec, d = runOnce(t, runCase{target: "https://[2001:db8:2::2]/bytes/2000000", spec: `{"http_version":"3","max_bytes":4194304,"ca_file":"` + ca.pemFile + `"}`, timeout: 10 * time.Second})
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if !rec.OK || d.ResponseBytes != 2000000 {
			t.Fatalf("got %v, %d bytes; want the whole body", rec.Error, d.ResponseBytes)
		}
	}
}

// A dual-stack name whose preferred address swallows QUIC (broken IPv6,
// a firewall dropping UDP) while the other answers: HTTP/3 moves on to the
// next address, as a browser does, instead of spending the whole timeout
// on the first and failing a site its users reach.
func TestHTTP3FallsBackPastASilentAddress(t *testing.T) {
	ca := newCA(t)
	base := startH3(t, ca.leaf(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), "dual.test"))
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(base, "https://"))
	p, _ := strconv.Atoi(port)
	silent, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback, Port: p})
	if err != nil {
		t.Skipf("[::1]:%d is taken: %v", p, err)
	}
	t.Cleanup(func() { silent.Close() })
	resolver := dnsServer(t, map[string][]net.IP{"dual.test.": {net.IPv6loopback, net.ParseIP("127.0.0.1")}})
	runCases(t, []runCase{
		{name: "silent IPv6, working IPv4", target: "https://dual.test:" + port + "/ok", resolver: resolver, timeout: 5 * time.Second,
			spec:  `{"http_version":"3","prefer_ip":"6","ca_file":"` + ca.pemFile + `"}`,
			check: all(wantDetails(200, "3", 0), wantAddr("127.0.0.1"))},
	})
}
