package dnscheck

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"github.com/picketnet/picket/checks"
	"github.com/picketnet/picket/checks/netdial"
	"github.com/picketnet/picket/checks/neterr"
	tlscheck "github.com/picketnet/picket/checks/tls"
	"github.com/picketnet/picket/results"
)

// Limits on what a record keeps of an answer; matching sees every answer.
const (
	maxRecordedAnswers = 32
	maxAnswerBytes     = 512
	// ednsBufferSize is advertised with the DO bit: the size DNS Flag Day
	// 2020 recommends, small enough to avoid IP fragmentation.
	ednsBufferSize = 1232
)

// Run sends the query once and checks the answer against the
// expectations. It returns when the answer is in, the timeout passes or
// ctx is done, and closes every socket it opened before returning.
func (c *Check) Run(ctx context.Context, env checks.Env) results.Result {
	r := checks.Begin(Name, c.target)
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	d := results.DNSDetails{Transport: c.transport}
	rerr := c.run(ctx, env, &r, &d)
	if err := r.SetDetails(d); err != nil && rerr == nil {
		rerr = results.Fail(results.LayerInternal, results.CodeBug, "%v", err)
	}
	r.Finish(time.Now(), rerr)
	return r
}

func (c *Check) run(ctx context.Context, env checks.Env, r *results.Result, d *results.DNSDetails) *results.Error {
	roots := c.roots
	if c.caFile != "" {
		var err error
		if roots, err = tlscheck.LoadRoots(c.caFile); err != nil {
			return results.Fail(results.LayerValidation, results.CodeBadSpec, "%s", err)
		}
	}
	resolver, policy := c.resolver, env.Policy
	if resolver == "" {
		var err error
		if resolver, err = c.systemResolver(); err != nil {
			return results.Fail(results.LayerDNS, results.CodeNetwork, "no resolver: %v", err)
		}
		// The system resolver is the operator's own configuration, which a
		// spec cannot point anywhere; the policy guards what specs choose.
		policy = nil
	}
	d.Resolver = resolver

	host, port, _ := net.SplitHostPort(resolver)
	// The resolver's own name is looked up like any target's, so that the
	// policy sees each of its addresses at connect time, in the order
	// every kind tries them.
	addrs, took, err := netdial.Dialer{}.Lookup(ctx, "ip", host)
	r.Phases.DNSMS = results.Millis(took)
	if err != nil {
		return classify(ctx, results.LayerDNS, fmt.Errorf("resolve resolver %s: %w", host, err))
	}

	q := c.query()
	x := exchanger{dialer: netdial.Dialer{Policy: policy}, addrs: addrs, port: port, serverName: c.tlsServerName(host), roots: roots, r: r}
	var resp *dns.Msg
	switch c.transport {
	case transportUDP:
		if resp, err = x.exchange(ctx, "udp", q); err != nil {
			return classify(ctx, x.phase, err)
		}
		if resp.Truncated {
			d.Truncated, d.Transport = true, transportTCP
			if resp, err = x.exchange(ctx, "tcp", q); err != nil {
				return classify(ctx, x.phase, err)
			}
		}
	default:
		if resp, err = x.exchange(ctx, c.transport, q); err != nil {
			return classify(ctx, x.phase, err)
		}
	}
	return c.evaluate(q, resp, d)
}

// systemResolver returns the first nameserver of the resolv.conf file.
func (c *Check) systemResolver() (string, error) {
	cfg, err := dns.ClientConfigFromFile(c.resolvConf)
	if err != nil {
		return "", err
	}
	if len(cfg.Servers) == 0 {
		return "", fmt.Errorf("%s lists no nameserver", c.resolvConf)
	}
	port := cfg.Port
	if c.transport == transportTLS {
		port = "853"
	}
	return net.JoinHostPort(cfg.Servers[0], port), nil
}

// tlsServerName is the name a DoT resolver's certificate must carry: the
// spec's server_name, else the resolver's host (a name or an IP address).
func (c *Check) tlsServerName(host string) string {
	if c.serverName != "" {
		return c.serverName
	}
	return host
}

func (c *Check) query() *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(c.name, c.qtype)
	m.Question[0].Qclass = c.qclass
	m.RecursionDesired = c.recurse
	if c.dnssec {
		m.SetEdns0(ednsBufferSize, true)
	}
	return m
}

// exchanger sends one query over a fresh connection per call and records
// the phases in r. phase is the layer the last call was working at when
// it returned.
type exchanger struct {
	dialer netdial.Dialer
	// addrs are the resolver's addresses, in the order to try them; after
	// the first connection, only the address it reached, so that a retry
	// over TCP asks the server that said its answer was truncated.
	addrs      []netip.Addr
	port       string
	serverName string
	roots      *x509.CertPool // nil: the system roots
	r          *results.Result
	phase      results.Layer
}

func (x *exchanger) exchange(ctx context.Context, transport string, q *dns.Msg) (*dns.Msg, error) {
	network := "udp"
	if transport != transportUDP {
		network = "tcp"
	}
	x.phase = results.LayerConnect
	start := time.Now()
	conn, addr, err := x.dialer.Connect(ctx, network, x.addrs, x.port)
	if addr.IsValid() {
		x.r.Addr = addr.String()
	}
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	x.addrs = []netip.Addr{addr}
	if uc, ok := conn.(*net.UDPConn); ok {
		// A query is never larger than the IPv6 minimum MTU, so no packet
		// too big can come back to read past.
		netdial.ReportICMPErrors(uc)
	}
	if network == "tcp" {
		x.r.Phases.ConnectMS += results.Millis(time.Since(start))
	}
	// Reads and writes follow socket deadlines, not contexts: a cancelled
	// ctx moves the deadline to now so that the run ends at once.
	raw := conn
	stop := afterFunc(ctx, func() { _ = raw.SetDeadline(time.Now()) })
	defer stop()

	if transport == transportTLS {
		x.phase = results.LayerTLS
		start := time.Now()
		tc := tls.Client(conn, x.tlsConfig())
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, err
		}
		x.r.Phases.TLSMS += results.Millis(time.Since(start))
		conn = tc
	}

	x.phase = results.LayerDNS
	client := dns.Client{}
	if deadline, ok := ctx.Deadline(); ok {
		client.Timeout = time.Until(deadline)
	}
	start = time.Now()
	resp, _, err := client.ExchangeWithConnContext(ctx, q, &dns.Conn{Conn: conn})
	x.r.Phases.TTFBMS += results.Millis(time.Since(start))
	return resp, err
}

func (x *exchanger) tlsConfig() *tls.Config {
	return &tls.Config{ServerName: x.serverName, RootCAs: x.roots, MinVersion: tls.VersionTLS12}
}

// afterFunc is context.AfterFunc whose stop also waits for f to finish,
// so that no goroutine outlives the run.
func afterFunc(ctx context.Context, f func()) (stop func()) {
	done := make(chan struct{})
	stopf := context.AfterFunc(ctx, func() {
		defer close(done)
		f()
	})
	return func() {
		if !stopf() {
			<-done
		}
	}
}

// classify maps an error met at phase to the record's layer and code.
func classify(ctx context.Context, phase results.Layer, err error) *results.Error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return results.Fail(results.LayerTimeout, results.CodeDeadline, "cancelled before the %s phase ended: %v", phase, err)
	}
	// A closed port answers UDP with ICMP port unreachable, which reads as
	// a refused connection: the resolver is not there, whatever the
	// transport, and that is not the REFUSED rcode.
	if errors.Is(err, syscall.ECONNREFUSED) {
		return results.Fail(results.LayerConnect, results.CodeRefused, "%v", err)
	}
	// Likewise a router's or firewall's host, network or prohibited
	// unreachable: over UDP it comes back on the read of the answer, over
	// TCP on the connect, and it is the resolver that cannot be reached
	// either way, not a DNS failure. (Looking up the resolver's own name
	// is DNS, and stays so.)
	var lookupErr *net.DNSError
	if !errors.As(err, &lookupErr) && (errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH)) {
		return results.Fail(results.LayerConnect, results.CodeUnreachable, "%v", err)
	}
	var dnsErr *dns.Error
	if phase == results.LayerDNS && errors.As(err, &dnsErr) {
		return results.Fail(results.LayerDNS, results.CodeBadResponse, "%v", err)
	}
	return neterr.Classify(phase, err)
}

// evaluate records the answer in d and checks it against the
// expectations, in the order an operator reads them: rcode, authority,
// number of answers, content.
func (c *Check) evaluate(q, resp *dns.Msg, d *results.DNSDetails) *results.Error {
	d.Rcode = rcodeName(resp.Rcode)
	d.Authoritative = resp.Authoritative
	answers := make([]string, len(resp.Answer))
	matching := 0
	for i, rr := range resp.Answer {
		answers[i] = strings.ReplaceAll(rr.String(), "\t", " ")
		if h := rr.Header(); c.qtype == dns.TypeANY || h.Rrtype == c.qtype {
			matching++
		}
	}
	for _, a := range answers[:min(len(answers), maxRecordedAnswers)] {
		if len(a) > maxAnswerBytes {
			a = strings.ToValidUTF8(a[:maxAnswerBytes], "")
		}
		d.Answers = append(d.Answers, a)
	}

	what := strings.TrimSuffix(c.name, ".") + " " + typeName(c.qtype)
	if len(resp.Question) > 0 {
		got := resp.Question[0]
		if !strings.EqualFold(got.Name, q.Question[0].Name) || got.Qtype != c.qtype || got.Qclass != c.qclass {
			return results.Fail(results.LayerDNS, results.CodeBadResponse, "%s: the answer is for another question: %s", what, strings.TrimPrefix(got.String(), ";"))
		}
	}
	if resp.Rcode != c.rcode {
		return results.Fail(results.LayerDNS, rcodeCode(resp.Rcode), "%s: rcode %s, expected %s", what, d.Rcode, rcodeName(c.rcode))
	}
	if c.authoritative && !resp.Authoritative {
		return results.Fail(results.LayerDNS, results.CodeNotAuthorative, "%s: the answer is not authoritative (AA not set)", what)
	}
	if matching < c.minAnswers {
		if matching == 0 {
			return results.Fail(results.LayerDNS, results.CodeNoAnswer, "%s: no %s record in the answer", what, typeName(c.qtype))
		}
		return results.Fail(results.LayerDNS, results.CodeTooFewAnswers, "%s: %d answers, expected at least %d", what, matching, c.minAnswers)
	}
	if c.contains != "" && !anyMatch(answers, func(a string) bool { return strings.Contains(a, c.contains) }) {
		return results.Fail(results.LayerDNS, results.CodeAnswerMismatch, "%s: no answer contains %q", what, c.contains)
	}
	if c.regex != nil && !anyMatch(answers, c.regex.MatchString) {
		return results.Fail(results.LayerDNS, results.CodeAnswerMismatch, "%s: no answer matches /%s/", what, c.regex)
	}
	return nil
}

func anyMatch(answers []string, match func(string) bool) bool {
	for _, a := range answers {
		if match(a) {
			return true
		}
	}
	return false
}

func typeName(t uint16) string {
	if s, ok := dns.TypeToString[t]; ok {
		return s
	}
	return fmt.Sprintf("TYPE%d", t)
}

func rcodeName(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return fmt.Sprintf("RCODE%d", rc)
}

// rcodeCode is the record code for an unexpected rcode got.
func rcodeCode(got int) results.Code {
	switch got {
	case dns.RcodeNameError:
		return results.CodeNXDomain
	case dns.RcodeServerFailure:
		return results.CodeServFail
	case dns.RcodeRefused:
		return results.CodeRefused
	case dns.RcodeFormatError:
		return results.CodeFormErr
	case dns.RcodeNotImplemented:
		return results.CodeNotImp
	}
	return results.CodeRcode
}
