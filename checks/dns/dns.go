package dnscheck

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/picketnet/picket/checks"
	tlscheck "github.com/picketnet/picket/checks/tls"
)

// Name is the kind's name in specs and records.
const Name = "dns"

// Limits on what a spec may ask for.
const (
	maxRegexBytes  = 1 << 10
	maxTextBytes   = 1 << 10
	maxCAPathBytes = 4096
	maxMinAnswers  = 1000
)

// DefaultResolvConf is where the system's resolver is read from when a
// spec names none.
const DefaultResolvConf = "/etc/resolv.conf"

// Kind is the dns check kind. The zero value is ready to use.
type Kind struct {
	// ResolvConf is the resolv.conf(5) file that names the system's
	// resolver; DefaultResolvConf when empty. It is read at every run, so a
	// changed file takes effect without restarting.
	ResolvConf string
}

// Name returns "dns".
func (Kind) Name() string { return Name }

// Transports.
const (
	transportUDP = "udp"
	transportTCP = "tcp"
	transportTLS = "tls"
)

// spec is the dns kind's options as they appear in a spec. Query and
// Expect stay raw so that their fields can be decoded strictly with paths
// relative to the spec ("query.type", "expect.min_answers").
type spec struct {
	Query            json.RawMessage `json:"query"`
	Resolver         string          `json:"resolver"`
	Transport        string          `json:"transport"`
	ServerName       string          `json:"server_name"`
	CAFile           string          `json:"ca_file"`
	CAPEM            string          `json:"ca_pem"`
	RecursionDesired *bool           `json:"recursion_desired"`
	DNSSEC           bool            `json:"dnssec"`
	Expect           json.RawMessage `json:"expect"`
}

type querySpec struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Class string `json:"class"`
}

type expectSpec struct {
	Rcode          string `json:"rcode"`
	AnswerContains string `json:"answer_contains"`
	AnswerRegex    string `json:"answer_regex"`
	MinAnswers     *int   `json:"min_answers"`
	Authoritative  bool   `json:"authoritative"`
}

// Check is a parsed, validated dns check.
type Check struct {
	target     string
	name       string // fully qualified
	qtype      uint16
	qclass     uint16
	resolver   string // host:port; empty for the system's resolver
	transport  string
	serverName string
	caFile     string         // read at every run, where the check runs
	roots      *x509.CertPool // from ca_pem; nil: caFile or the system roots
	recurse    bool
	dnssec     bool
	timeout    time.Duration
	resolvConf string
	lookup     *net.Resolver // looks up a resolver given by name; nil: the system's

	rcode         int
	contains      string
	regex         *regexp.Regexp
	minAnswers    int
	authoritative bool
}

// Parse validates a dns spec. The name to query is query.name when set,
// and otherwise target: a domain name, or a URL whose host is queried.
func (k Kind) Parse(target string, raw json.RawMessage) (checks.Check, error) {
	var s spec
	if err := checks.DecodeOptions(raw, &s); err != nil {
		return nil, err
	}
	// The common fields, which Registry.Parse validates; read here for the
	// timeout, and checked again so that Kind.Parse alone is safe too.
	var common struct {
		Interval, Timeout checks.Duration
	}
	var fields map[string]json.RawMessage
	_ = json.Unmarshal(raw, &fields) // DecodeOptions accepted raw as an object
	for _, f := range []struct {
		name string
		dst  *checks.Duration
	}{{"interval", &common.Interval}, {"timeout", &common.Timeout}} {
		if v, ok := fields[f.name]; ok {
			if err := json.Unmarshal(v, f.dst); err != nil {
				return nil, checks.Within(f.name, err)
			}
		}
	}
	var q querySpec
	if len(s.Query) > 0 {
		if err := checks.DecodeOptions(s.Query, &q); err != nil {
			return nil, checks.Within("query", err)
		}
	}
	var e expectSpec
	if len(s.Expect) > 0 {
		if err := checks.DecodeOptions(s.Expect, &e); err != nil {
			return nil, checks.Within("expect", err)
		}
	}

	c := &Check{
		target:     target,
		recurse:    s.RecursionDesired == nil || *s.RecursionDesired,
		dnssec:     s.DNSSEC,
		timeout:    common.Timeout.Std(),
		resolvConf: k.ResolvConf,
	}
	if c.timeout <= 0 {
		// The registry's default, so that a Check parsed on its own runs
		// as the scheduler would run it.
		c.timeout = checks.DefaultTimeout
		if common.Interval > 0 {
			c.timeout = min(c.timeout, common.Interval.Std())
		}
	}
	if c.resolvConf == "" {
		c.resolvConf = DefaultResolvConf
	}

	var err error
	if c.name, err = queryName(target, q.Name); err != nil {
		return nil, err
	}
	if c.qtype, err = parseType(q.Type); err != nil {
		return nil, checks.Within("query.type", err)
	}
	if c.qclass, err = parseClass(q.Class); err != nil {
		return nil, checks.Within("query.class", err)
	}

	switch t := strings.ToLower(s.Transport); t {
	case "", transportUDP:
		c.transport = transportUDP
	case transportTCP, transportTLS:
		c.transport = t
	default:
		return nil, checks.Errorf("transport", "%q is not one of udp, tcp, tls", s.Transport)
	}
	if s.Resolver != "" {
		if c.resolver, err = parseResolver(s.Resolver, c.transport); err != nil {
			return nil, checks.Within("resolver", err)
		}
	}
	if c.transport != transportTLS {
		if s.ServerName != "" {
			return nil, checks.Errorf("server_name", "only applies to transport tls")
		}
		if s.CAFile != "" {
			return nil, checks.Errorf("ca_file", "only applies to transport tls")
		}
		if s.CAPEM != "" {
			return nil, checks.Errorf("ca_pem", "only applies to transport tls")
		}
	}
	c.serverName = s.ServerName
	switch {
	case len(s.CAFile) > maxCAPathBytes || strings.ContainsRune(s.CAFile, 0):
		return nil, checks.Errorf("ca_file", "not a usable path")
	case s.CAFile != "" && s.CAPEM != "":
		return nil, checks.Errorf("ca_pem", "cannot be combined with ca_file")
	case s.CAPEM != "":
		if c.roots, err = tlscheck.RootsFromPEM(s.CAPEM); err != nil {
			return nil, err
		}
	}
	c.caFile = s.CAFile

	if err := c.parseExpect(e); err != nil {
		return nil, checks.Within("expect", err)
	}
	return c, nil
}

func (c *Check) parseExpect(e expectSpec) error {
	c.rcode = dns.RcodeSuccess
	if e.Rcode != "" {
		rc, ok := dns.StringToRcode[strings.ToUpper(e.Rcode)]
		if !ok {
			return checks.Errorf("rcode", "%q is not an rcode (NOERROR, NXDOMAIN, SERVFAIL, REFUSED, ...)", e.Rcode)
		}
		c.rcode = rc
	}
	if len(e.AnswerContains) > maxTextBytes {
		return checks.Errorf("answer_contains", "longer than %d bytes", maxTextBytes)
	}
	c.contains = e.AnswerContains
	if e.AnswerRegex != "" {
		if len(e.AnswerRegex) > maxRegexBytes {
			return checks.Errorf("answer_regex", "longer than %d bytes", maxRegexBytes)
		}
		re, err := regexp.Compile(e.AnswerRegex)
		if err != nil {
			return checks.Errorf("answer_regex", "%v", err)
		}
		c.regex = re
	}
	// An answer is what a NOERROR check is for, so one is expected unless
	// the spec says otherwise (min_answers: 0 accepts NODATA).
	if c.rcode == dns.RcodeSuccess {
		c.minAnswers = 1
	}
	if e.MinAnswers != nil {
		if *e.MinAnswers < 0 || *e.MinAnswers > maxMinAnswers {
			return checks.Errorf("min_answers", "%d is outside 0..%d", *e.MinAnswers, maxMinAnswers)
		}
		c.minAnswers = *e.MinAnswers
	}
	c.authoritative = e.Authoritative
	return nil
}

// queryName picks and validates the name to query.
func queryName(target, name string) (string, error) {
	field := "query.name"
	if name == "" {
		field, name = "target", target
		if u, err := url.Parse(target); err == nil && u.Scheme != "" && u.Host != "" {
			name = u.Hostname()
		}
	}
	if name == "" {
		return "", checks.Errorf("target", "missing: the name to query (or set query.name)")
	}
	if strings.ContainsAny(name, " \t\r\n") {
		return "", checks.Errorf(field, "%q is not a domain name", name)
	}
	fqdn := dns.Fqdn(name)
	if _, ok := dns.IsDomainName(fqdn); !ok || len(fqdn) > 254 {
		return "", checks.Errorf(field, "%q is not a domain name", name)
	}
	return fqdn, nil
}

// parseType reads a query type by mnemonic ("A", "caa") or as TYPEnnn.
func parseType(s string) (uint16, error) {
	if s == "" {
		return dns.TypeA, nil
	}
	up := strings.ToUpper(s)
	if t, ok := dns.StringToType[up]; ok && t != dns.TypeNone && t != dns.TypeOPT {
		return t, nil
	}
	if n, ok := strings.CutPrefix(up, "TYPE"); ok {
		if v, err := strconv.ParseUint(n, 10, 16); err == nil && v != 0 {
			return uint16(v), nil
		}
	}
	return 0, &checks.FieldError{Reason: fmt.Sprintf("%q is not a DNS type (A, AAAA, MX, TXT, CAA, SRV, ... or TYPEnnn)", s)}
}

func parseClass(s string) (uint16, error) {
	if s == "" {
		return dns.ClassINET, nil
	}
	up := strings.ToUpper(s)
	if c, ok := dns.StringToClass[up]; ok {
		return c, nil
	}
	if n, ok := strings.CutPrefix(up, "CLASS"); ok {
		if v, err := strconv.ParseUint(n, 10, 16); err == nil {
			return uint16(v), nil
		}
	}
	return 0, &checks.FieldError{Reason: fmt.Sprintf("%q is not a DNS class (IN, CH, HS or CLASSnnn)", s)}
}

// parseResolver accepts "host", "host:port", "[v6]:port" or a bare IPv6
// address; the port defaults to 53, or 853 for DNS-over-TLS.
func parseResolver(s, transport string) (string, error) {
	port := "53"
	if transport == transportTLS {
		port = "853"
	}
	if strings.Contains(s, "/") {
		return "", &checks.FieldError{Reason: fmt.Sprintf("%q: expected host:port, not a URL", s)}
	}
	host, p := s, port
	if a, err := netip.ParseAddr(s); err == nil {
		host = a.String()
	} else if h, pp, err := net.SplitHostPort(s); err == nil {
		host, p = h, pp
	}
	if host == "" {
		return "", &checks.FieldError{Reason: fmt.Sprintf("%q has no host", s)}
	}
	if _, err := netip.ParseAddr(host); err != nil {
		if _, ok := dns.IsDomainName(host); !ok || strings.ContainsAny(host, ":[] \t") {
			return "", &checks.FieldError{Reason: fmt.Sprintf("%q: expected host:port", s)}
		}
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil || n == 0 {
		return "", &checks.FieldError{Reason: fmt.Sprintf("%q: port must be 1..65535", s)}
	}
	return net.JoinHostPort(host, p), nil
}

// PolicyHosts returns the resolver the spec chose, by its field, for the
// collector to hold against the target policy at registration, as the
// prober does at every connect. The system's resolver is the operator's
// choice, not the spec's: it is not named.
func (c *Check) PolicyHosts() map[string]string {
	if c.resolver == "" {
		return nil
	}
	host, _, _ := net.SplitHostPort(c.resolver)
	return map[string]string{"resolver": host}
}

// LocalFiles returns the files on the prober's disk the check reads.
func (c *Check) LocalFiles() []string {
	if c.caFile == "" {
		return nil
	}
	return []string{c.caFile}
}
