package httpcheck

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go/http3"

	"github.com/picketnet/picket/checks"
	"github.com/picketnet/picket/checks/netdial"
	"github.com/picketnet/picket/checks/neterr"
	"github.com/picketnet/picket/checks/targetpolicy"
	tlscheck "github.com/picketnet/picket/checks/tls"
	"github.com/picketnet/picket/results"
)

// Name is the kind's name in specs and records.
const Name = "http"

// maxResponseHeaderBytes bounds the response headers over every HTTP
// version; quic-go's own default is 10 MiB.
const maxResponseHeaderBytes = 64 << 10

// Kind is the http check kind.
type Kind struct{}

// Name returns "http".
func (Kind) Name() string { return Name }

// Parse validates an http:// or https:// target and the options of spec.
func (Kind) Parse(target string, spec json.RawMessage) (checks.Check, error) {
	c, err := parse(target, spec)
	if err != nil {
		return nil, err
	}
	timeout, err := checks.SpecTimeout(spec)
	if err != nil {
		return nil, err
	}
	return &Check{target: target, cfg: c, resolver: net.DefaultResolver, timeout: timeout}, nil
}

// Check is a parsed http check.
type Check struct {
	target   string
	cfg      *config
	resolver *net.Resolver
	timeout  time.Duration
}

var (
	errTooManyRedirects = errors.New("too many redirects")
	errNotHTTPS         = errors.New("HTTP/3 needs an https:// URL")
)

// LocalFiles returns the files on the prober's disk the check reads.
func (c *Check) LocalFiles() []string {
	if c.cfg.caFile == "" {
		return nil
	}
	return []string{c.cfg.caFile}
}

// Run makes the request once on fresh connections and checks the response.
func (c *Check) Run(ctx context.Context, env checks.Env) results.Result {
	// The spec's timeout holds whatever the caller's context says, as in
	// every kind; a shorter deadline of the caller's still wins.
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	rec := checks.Begin(Name, c.target)
	r := &run{cfg: c.cfg, tr: &tracker{phase: results.LayerConnect}}
	r.d = &dialer{netDialer: netdial.Dialer{Policy: env.Policy, Resolver: c.resolver, PreferIP: c.cfg.preferIP}, tr: r.tr, runCtx: ctx}
	fail := r.do(ctx)
	end := time.Now()
	// Cancel first so that no dial or handshake still in flight can start
	// anything new, then close every socket the run opened.
	cancel()
	r.d.closeAll()

	rec.Phases = r.tr.phases(r.bodyDone)
	// Under the tracker's lock: net/http may still be finishing a dial
	// it started for a request that has already failed.
	rec.Addr = r.tr.address()
	if err := rec.SetDetails(r.details); err != nil && fail == nil {
		fail = results.Fail(results.LayerInternal, results.CodeBug, "%s", err)
	}
	rec.Finish(end, fail)
	return rec
}

// run is the state of one run.
type run struct {
	cfg      *config
	tr       *tracker
	d        *dialer
	details  results.HTTPDetails
	bodyDone time.Time
	// h2c is the last clear connection opened for HTTP/2 with prior
	// knowledge; the transport dials on goroutines of its own.
	h2c atomic.Pointer[headConn]
}

// headConn keeps the first bytes read from a connection.
type headConn struct {
	net.Conn
	mu   sync.Mutex
	head []byte
}

func (c *headConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	if k := min(n, 8-len(c.head)); k > 0 {
		c.head = append(c.head, p[:k]...)
	}
	c.mu.Unlock()
	return n, err
}

// answeredHTTP1 reports whether the server's first bytes are an HTTP/1
// status line.
func (c *headConn) answeredHTTP1() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.HasPrefix(c.head, []byte("HTTP/1."))
}

func (r *run) do(ctx context.Context) *results.Error {
	tlsConf, fail := r.tlsConfig()
	if fail != nil {
		return fail
	}
	client := &http.Client{
		Transport: r.transport(tlsConf),
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > r.cfg.maxRedirects {
				return errTooManyRedirects
			}
			r.details.Redirects = len(via)
			// net/http carries the spec's headers to every hop (dropping
			// credentials when the host changes, as a browser does); the
			// Host override only holds while the redirect stays on the
			// target's host.
			if r.cfg.host != "" && req.URL.Host == via[0].URL.Host {
				req.Host = r.cfg.host
			}
			return nil
		},
	}
	if r.cfg.maxRedirects == 0 {
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}

	var body io.Reader
	if r.cfg.body != nil {
		body = bytes.NewReader(r.cfg.body)
	}
	trace := &httptrace.ClientTrace{
		TLSHandshakeStart:    r.tr.tlsStarted,
		TLSHandshakeDone:     func(_ tls.ConnectionState, err error) { r.tr.tlsDone(err) },
		GotConn:              func(info httptrace.GotConnInfo) { r.tr.gotConn(info.Conn.RemoteAddr()) },
		GotFirstResponseByte: r.tr.gotFirstByte,
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), r.cfg.method, r.cfg.url.String(), body)
	if err != nil {
		return results.Fail(results.LayerValidation, results.CodeBadTarget, "%s", err)
	}
	req.Header = r.cfg.header.Clone()
	if r.cfg.host != "" {
		req.Host = r.cfg.host
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "picket-http-check")
	}

	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, errTooManyRedirects) {
			r.details.Redirects = r.cfg.maxRedirects
			return results.Fail(results.LayerHTTP, results.CodeTooManyRedirect, "stopped after %d redirects", r.cfg.maxRedirects)
		}
		return r.classify(ctx, err)
	}
	defer resp.Body.Close()
	r.details.Status = resp.StatusCode
	r.details.HTTPVersion = protoVersion(resp)
	// The server chooses the final URL: bound it, so that a long Location
	// cannot push the record past what ingest accepts.
	r.details.FinalURL = truncate(resp.Request.URL.Redacted(), results.MaxTargetBytes)
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		na := resp.TLS.PeerCertificates[0].NotAfter.UTC()
		r.details.CertNotAfter = &na
	}

	// Read one byte more than allowed, to tell "exactly max" from "more";
	// keep the body only when an expectation looks at it.
	r.tr.enter(results.LayerHTTP)
	limited := io.LimitReader(resp.Body, r.cfg.maxBytes+1)
	var data []byte
	var n int64
	if r.cfg.bodySub != nil || r.cfg.bodyRe != nil {
		data, err = io.ReadAll(limited)
		n = int64(len(data))
	} else {
		n, err = io.Copy(io.Discard, limited)
	}
	r.bodyDone = time.Now()
	r.details.ResponseBytes = n
	if err != nil {
		return r.classify(ctx, err)
	}
	if n > r.cfg.maxBytes {
		r.details.ResponseBytes = r.cfg.maxBytes
		// The status came first, and an unexpected one (a large error
		// page) says more about the endpoint than the body's size.
		if fail := r.expectStatus(resp); fail != nil {
			return fail
		}
		return results.Fail(results.LayerHTTP, results.CodeTooLarge, "response body larger than %d bytes", r.cfg.maxBytes)
	}
	if want := r.cfg.version; want == Version2 && resp.ProtoMajor != 2 || want == Version3 && resp.ProtoMajor != 3 {
		return results.Fail(results.LayerHTTP, results.CodeProtocol, "asked for HTTP/%s, got %s", want, resp.Proto)
	}
	return r.expect(resp, data)
}

// expect checks the response against the spec's expectations.
func (r *run) expect(resp *http.Response, body []byte) *results.Error {
	if fail := r.expectStatus(resp); fail != nil {
		return fail
	}
	for _, h := range r.cfg.headers {
		values := resp.Header.Values(h.name)
		matched := false
		for _, v := range values {
			if h.re.MatchString(v) {
				matched = true
				break
			}
		}
		if !matched {
			if len(values) == 0 {
				return results.Fail(results.LayerHTTP, results.CodeHeaderMismatch, "no %s header", h.name)
			}
			return results.Fail(results.LayerHTTP, results.CodeHeaderMismatch, "%s %q does not match %q", h.name, values[0], h.re)
		}
	}
	if r.cfg.bodySub != nil && !bytes.Contains(body, r.cfg.bodySub) {
		return results.Fail(results.LayerHTTP, results.CodeBodyMismatch, "body does not contain %q", r.cfg.bodySub)
	}
	if r.cfg.bodyRe != nil && !r.cfg.bodyRe.Match(body) {
		return results.Fail(results.LayerHTTP, results.CodeBodyMismatch, "body does not match %q", r.cfg.bodyRe)
	}
	return nil
}

// classify turns a request or body error into the record's error, at the
// layer the run was in when it failed.
func (r *run) classify(ctx context.Context, err error) *results.Error {
	phase := r.tr.current()
	if errors.Is(err, errNotHTTPS) {
		return results.Fail(results.LayerHTTP, results.CodeProtocol, "%s", err)
	}
	e := neterr.Classify(phase, err)
	if hc := r.h2c.Load(); hc != nil && hc.answeredHTTP1() {
		// The HTTP/2 client reads an HTTP/1 answer to its preface as a
		// frame header ("HTT" is a length of 4.7 MB), or gives up on the
		// connection: either way its error does not say what happened.
		e.Message = "the server answered in HTTP/1, not HTTP/2 with prior knowledge (h2c): " + e.Message
	}
	// The deadline may surface as whatever the cancelled stream reports
	// (HTTP/2 and HTTP/3 stream resets), and the transport cancels its own
	// dial when the request's deadline passes, so a lookup still waiting
	// reports "operation was canceled". Both are timeouts of the phase; a
	// DNS answer that did arrive (NXDOMAIN, SERVFAIL) is not.
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && e.Code != results.CodeTimeout &&
		!errors.Is(err, targetpolicy.ErrDenied) {
		if e.Layer == results.LayerDNS && errors.Is(err, context.Canceled) {
			return results.Fail(results.LayerDNS, results.CodeTimeout, "%s", err)
		}
		if e.Layer != results.LayerDNS && results.CodeTimeout.ValidFor(phase) {
			return results.Fail(phase, results.CodeTimeout, "%s", err)
		}
	}
	return e
}

// expectStatus checks the response's status against expect.status.
func (r *run) expectStatus(resp *http.Response) *results.Error {
	for _, s := range r.cfg.statuses {
		if resp.StatusCode >= s.lo && resp.StatusCode <= s.hi {
			return nil
		}
	}
	want := make([]string, len(r.cfg.statuses))
	for i, s := range r.cfg.statuses {
		want[i] = s.String()
	}
	return results.Fail(results.LayerHTTP, results.CodeStatus, "status %d, expected %s", resp.StatusCode, strings.Join(want, ", "))
}

// tlsConfig builds the run's TLS client config, reading the CA file.
func (r *run) tlsConfig() (*tls.Config, *results.Error) {
	conf := &tls.Config{InsecureSkipVerify: r.cfg.insecure, RootCAs: r.cfg.roots} //nolint:gosec // only when the spec says so explicitly
	if r.cfg.caFile == "" {
		return conf, nil
	}
	pool, err := tlscheck.LoadRoots(r.cfg.caFile)
	if err != nil {
		return nil, results.Fail(results.LayerValidation, results.CodeBadSpec, "%s", err)
	}
	conf.RootCAs = pool
	return conf, nil
}

// transport returns the run's round tripper for the spec's HTTP version.
func (r *run) transport(tlsConf *tls.Config) http.RoundTripper {
	if r.cfg.version == Version3 {
		conf := tlsConf.Clone()
		conf.NextProtos = []string{http3.NextProtoH3}
		return &h3RoundTripper{d: r.d, tr: r.tr, tlsConf: conf, h3: http3.Transport{MaxResponseHeaderBytes: maxResponseHeaderBytes}}
	}
	dial := r.d.DialContext
	if r.cfg.version == Version2 {
		// Prior knowledge (h2c) over clear TCP: keep the first bytes the
		// server sends, to tell an HTTP/1-only server from other failures.
		dial = func(ctx context.Context, network, address string) (net.Conn, error) {
			c, err := r.d.DialContext(ctx, network, address)
			if err != nil {
				return nil, err
			}
			hc := &headConn{Conn: c}
			r.h2c.Store(hc)
			return hc, nil
		}
	}
	t := &http.Transport{
		DialContext:       dial,
		TLSClientConfig:   tlsConf,
		DisableKeepAlives: true,
		// A prober measures the path to the target itself: no proxy.
		Proxy:                  nil,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
		Protocols:              new(http.Protocols),
	}
	switch r.cfg.version {
	case Version11:
		t.Protocols.SetHTTP1(true)
	case Version2:
		// Over TLS, HTTP/2 by ALPN; over plain TCP, HTTP/2 with prior
		// knowledge (h2c).
		t.Protocols.SetHTTP2(true)
		t.Protocols.SetUnencryptedHTTP2(true)
	default:
		t.Protocols.SetHTTP1(true)
		t.Protocols.SetHTTP2(true)
	}
	return t
}

// h3RoundTripper makes each request on a new QUIC connection opened by the
// run's dialer, which also closes it at the end of the run.
type h3RoundTripper struct {
	d       *dialer
	tr      *tracker
	tlsConf *tls.Config
	h3      http3.Transport
}

func (t *h3RoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("%w: %s", errNotHTTPS, req.URL.Redacted())
	}
	host, port := hostPort(req.URL)
	conf := t.tlsConf.Clone()
	conf.ServerName = host
	conn, err := t.d.dialQUIC(req.Context(), host, port, conf)
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	t.tr.gotConn(conn.RemoteAddr())
	return t.h3.NewClientConn(conn).RoundTrip(req)
}

// protoVersion names the response's HTTP version as the record does.
func protoVersion(resp *http.Response) string {
	switch resp.ProtoMajor {
	case 1:
		return fmt.Sprintf("1.%d", resp.ProtoMinor)
	case 2, 3:
		return fmt.Sprint(resp.ProtoMajor)
	}
	return resp.Proto
}

// truncate cuts s to at most n bytes, on a UTF-8 boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
