package dnscheck

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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
	// maxUDPAnswer is the largest UDP answer read; one as large is
	// refused, since the kernel may have cut it.
	maxUDPAnswer = 4096
)

// Run sends the query (over UDP again when no answer comes, see
// exchangeUDP) and checks the answer against the expectations. It returns
// when the answer is in, the timeout passes or ctx is done, and closes
// every socket it opened before returning.
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
	addrs, took, err := netdial.Dialer{Resolver: c.lookup}.Lookup(ctx, "ip", host)
	r.Phases.DNSMS = results.Millis(took)
	if err != nil {
		return classify(ctx, results.LayerDNS, fmt.Errorf("resolve resolver %s: %w", host, err))
	}

	q := c.query()
	x := exchanger{dialer: netdial.Dialer{Policy: policy}, addrs: addrs, port: port, serverName: c.tlsServerName(host), roots: roots, r: r}
	var resp *dns.Msg
	switch c.transport {
	case transportUDP:
		if resp, err = x.exchangeUDP(ctx, q, d); err != nil {
			return classify(ctx, x.phase, err)
		}
		if resp.Truncated {
			d.Truncated, d.Transport = true, transportTCP
			if resp, err = x.exchange(ctx, "tcp", q); err != nil {
				// The resolver answered over UDP: say why TCP was needed.
				return classify(ctx, x.phase, fmt.Errorf("the UDP answer was truncated, and over TCP: %w", err))
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
	// an answer (or a TCP connection), only the address it came from, so
	// that a retry over TCP asks the server that said its answer was
	// truncated.
	addrs      []netip.Addr
	port       string
	serverName string
	roots      *x509.CertPool // nil: the system roots
	r          *results.Result
	phase      results.Layer
}

// exchange sends q over a stream transport, tcp or tls, and reads the
// answer.
func (x *exchanger) exchange(ctx context.Context, transport string, q *dns.Msg) (*dns.Msg, error) {
	x.phase = results.LayerConnect
	start := time.Now()
	conn, addr, err := x.dialer.Connect(ctx, "tcp", x.addrs, x.port)
	if addr.IsValid() {
		x.r.Addr = addr.String()
	}
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	x.addrs = []netip.Addr{addr}
	x.r.Phases.ConnectMS += results.Millis(time.Since(start))
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
	if answered(err) {
		x.r.Phases.TTFBMS += results.Millis(time.Since(start))
	}
	return resp, err
}

// udpTries is how many queries a UDP exchange sends at most, as dig's
// +tries=3: the check's timeout is shared among them like dig's +time.
const udpTries = 3

// errMalformed marks an answer that carries a query's id but does not
// parse.
var errMalformed = errors.New("malformed answer")

// udpReply is what one query's socket received: an answer carrying the
// query's id, or the error that ended its reading.
type udpReply struct {
	msg  *dns.Msg
	try  int        // 1-based
	addr netip.Addr // where the query went
	err  error
}

// exchangeUDP asks over UDP the way a stub resolver does: when no answer
// has come a third of the time left after the first query, it asks again,
// and once more after another third. Each query leaves from a fresh
// socket, a new flow an ECMP path or a NAT binding that lost the first
// one may carry, with a fresh id; every socket is read until the end, so
// a slow answer to an earlier query counts as well as the answer to the
// last. A resolver with several addresses (a name) is asked at the next
// one at each retry, as dig moves on to a server's next address, and at
// once when an address answers with an ICMP error. A
// datagram whose id is not its socket's query's is ignored, as a
// resolver ignores forged answers (RFC 5452), and counted in d. An ICMP
// error (port, host or network unreachable) from the last address to try
// ends the exchange at once: the resolver cannot answer any query.
func (x *exchanger) exchangeUDP(ctx context.Context, q *dns.Msg, d *results.DNSDetails) (*dns.Msg, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(checks.DefaultTimeout)
	}
	interval := time.Until(deadline) / udpTries
	all := x.addrs
	replies := make(chan udpReply, udpTries)
	var (
		wg      sync.WaitGroup
		conns   []net.Conn
		wrongID atomic.Int32
	)
	defer func() {
		// Closing the sockets ends the reads, so no reader outlives the run.
		for _, c := range conns {
			c.Close()
		}
		wg.Wait()
		d.UDPWrongID = int(wrongID.Load())
	}()
	send := func() error {
		x.phase = results.LayerConnect
		// The next address first; Connect falls back to the others (the
		// other family) as it does for the first query.
		k := d.UDPQueries % len(all)
		order := append(slices.Clone(all[k:]), all[:k]...)
		conn, addr, err := x.dialer.Connect(ctx, "udp", order, x.port)
		if addr.IsValid() {
			x.r.Addr = addr.String()
		}
		if err != nil {
			return err
		}
		conns = append(conns, conn)
		if uc, ok := conn.(*net.UDPConn); ok {
			// A query is never larger than the IPv6 minimum MTU, so no
			// packet too big can come back to read past.
			netdial.ReportICMPErrors(uc)
		}
		m := q.Copy()
		if d.UDPQueries > 0 {
			m.Id = dns.Id()
		}
		wire, err := m.Pack()
		if err != nil {
			return err
		}
		x.phase = results.LayerDNS
		if _, err := conn.Write(wire); err != nil {
			return err
		}
		d.UDPQueries++
		try := d.UDPQueries
		wg.Go(func() {
			rep := readUDP(conn, m.Id, &wrongID)
			rep.try, rep.addr = try, addr
			replies <- rep
		})
		return nil
	}

	start := time.Now()
	if err := send(); err != nil {
		return nil, err
	}
	resend := time.NewTimer(interval)
	defer resend.Stop()
	for {
		select {
		case rep := <-replies:
			if rep.err != nil && !answered(rep.err) && d.UDPQueries < min(len(all), udpTries) {
				// That address cannot answer (a closed port, an unreachable
				// route): ask the next one now rather than fail.
				if err := send(); err != nil {
					return nil, err
				}
				if d.UDPQueries < udpTries {
					resend.Reset(interval)
				}
				continue
			}
			if answered(rep.err) {
				x.r.Phases.TTFBMS += results.Millis(time.Since(start))
			}
			// The record names the address that answered (or failed), and a
			// truncated answer is asked again there, over TCP.
			x.r.Addr, x.addrs = rep.addr.String(), []netip.Addr{rep.addr}
			if rep.err != nil {
				return nil, rep.err
			}
			d.UDPAnswerTo = rep.try
			return rep.msg, nil
		case <-resend.C:
			if err := send(); err != nil {
				return nil, err
			}
			if d.UDPQueries < udpTries {
				resend.Reset(interval)
			}
		case <-ctx.Done():
			what := "query"
			if d.UDPQueries > 1 {
				what = "queries"
			}
			ignored := ""
			switch n := wrongID.Load(); n {
			case 0:
			case 1:
				ignored = "; 1 answer with a wrong id ignored"
			default:
				ignored = fmt.Sprintf("; %d answers with a wrong id ignored", n)
			}
			return nil, fmt.Errorf("no answer to %d %s over UDP in %s%s: %w",
				d.UDPQueries, what, time.Since(start).Round(time.Millisecond), ignored, ctx.Err())
		}
	}
}

// answered reports whether an exchange that returned err got an answer
// from the resolver, even one that did not parse: only then is there a
// first byte to time. A timeout, a refused port or an unreachable route
// has none, and a ttfb_ms would be a lie.
func answered(err error) bool {
	var dnsErr *dns.Error
	return err == nil || errors.Is(err, errMalformed) || errors.As(err, &dnsErr)
}

// readUDP reads conn until a datagram carries id, and returns it parsed.
// Datagrams with another id are counted in wrongID and skipped. It returns
// the read's error when conn fails or is closed.
func readUDP(conn net.Conn, id uint16, wrongID *atomic.Int32) udpReply {
	// The query allows 512 bytes, or ednsBufferSize; a server may send
	// more, and the buffer leaves room for that (the common EDNS0 limit)
	// without costing every run 64 KiB.
	buf := make([]byte, maxUDPAnswer)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return udpReply{err: err}
		}
		if n < 2 || binary.BigEndian.Uint16(buf) != id {
			wrongID.Add(1)
			continue
		}
		if n == len(buf) {
			return udpReply{err: fmt.Errorf("%w: a UDP answer of %d bytes or more, beyond what the query allowed", errMalformed, n)}
		}
		m := new(dns.Msg)
		if err := m.Unpack(buf[:n]); err != nil {
			return udpReply{err: fmt.Errorf("%w: %w", errMalformed, err)}
		}
		return udpReply{msg: m}
	}
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
	// unreachable (EACCES is an ICMPv6 prohibited, EPERM this host's own
	// firewall): over UDP it comes back on the read of the answer, over
	// TCP on the connect, and it is the resolver that cannot be reached
	// either way, not a DNS failure. (Looking up the resolver's own name
	// is DNS, and stays so.)
	var lookupErr *net.DNSError
	if !errors.As(err, &lookupErr) && (errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) ||
		errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM)) {
		return neterr.Classify(results.LayerConnect, err)
	}
	var dnsErr *dns.Error
	if phase == results.LayerDNS && (errors.As(err, &dnsErr) || errors.Is(err, errMalformed)) {
		return results.Fail(results.LayerDNS, results.CodeBadResponse, "%v", err)
	}
	return neterr.Classify(phase, err)
}

// evaluate records the answer in d and checks it against the
// expectations, in the order an operator reads them: rcode, authority,
// number of answers, content.
func (c *Check) evaluate(q, resp *dns.Msg, d *results.DNSDetails) *results.Error {
	what := strings.TrimSuffix(c.name, ".") + " " + typeName(c.qtype)
	if !resp.Response {
		// The query itself, sent back by an echo service or a loop: no
		// answer, so nothing of it is recorded as one.
		return results.Fail(results.LayerDNS, results.CodeBadResponse, "%s: the reply is not a response (QR bit clear): the query came back unanswered", what)
	}
	d.Rcode = rcodeName(resp.Rcode)
	d.Authoritative = new(resp.Authoritative)
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
