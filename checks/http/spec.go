package httpcheck

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/picketnet/picket/checks"
	tlscheck "github.com/picketnet/picket/checks/tls"
	"github.com/picketnet/picket/results"
)

// Options are the http kind's spec fields, beside kind, interval and
// timeout.
type Options struct {
	// Method is GET (the default), HEAD, POST, PUT, PATCH, DELETE or OPTIONS.
	Method string `json:"method,omitempty"`
	// Headers are sent with every request, redirects included. A "Host"
	// header replaces the host sent in the request.
	Headers map[string]string `json:"headers,omitempty"`
	// Body is the request body; not allowed with GET or HEAD.
	Body string `json:"body,omitempty"`
	// HTTPVersion is "auto" (the default: HTTP/2 when the server offers it
	// over TLS, HTTP/1.1 otherwise), "1.1", "2" or "3".
	HTTPVersion string `json:"http_version,omitempty"`
	// PreferIP is "4" or "6": try that family's addresses first and fall
	// back to the other. Empty keeps the resolver's order.
	PreferIP string `json:"prefer_ip,omitempty"`
	Expect   Expect `json:"expect,omitzero"`
	// MaxBytes is the most response body bytes read (after decoding);
	// a longer body fails with http/too_large. Default 1 MiB; 0 is
	// refused rather than read as the default.
	MaxBytes *int64 `json:"max_bytes,omitempty"`
	// MaxRedirects is how many redirects are followed; 0 follows none.
	// Default 10.
	MaxRedirects *int `json:"max_redirects,omitempty"`
	// CAFile is a PEM file of the roots that server certificates must chain
	// to, instead of the system roots. It is read on the machine that runs
	// the check, at every run: a collector refuses it in registered
	// endpoints unless its operator allows it (targets.allow_ca_files).
	CAFile string `json:"ca_file,omitempty"`
	// CAPEM is the same bundle inline, in the spec itself.
	CAPEM string `json:"ca_pem,omitempty"`
	// InsecureSkipVerify accepts any server certificate. Explicit only.
	InsecureSkipVerify bool `json:"insecure_skip_verify,omitempty"`
}

// Expect is what a response must satisfy for the run to pass.
type Expect struct {
	// Status lists the accepted statuses: numbers (200), ranges
	// ("200-299") or classes ("2xx"). Default ["200-299"].
	Status []json.RawMessage `json:"status,omitempty"`
	// Body must occur in the response body.
	Body string `json:"body,omitempty"`
	// BodyRegex must match the response body (RE2 syntax).
	BodyRegex string `json:"body_regex,omitempty"`
	// Headers maps a header name to a regex that one of its values must
	// match; a missing header fails.
	Headers map[string]string `json:"headers,omitempty"`
}

// Defaults and bounds of the options.
const (
	DefaultMaxBytes     = 1 << 20
	MaxMaxBytes         = 256 << 20
	DefaultMaxRedirects = 10
	MaxMaxRedirects     = 30
	maxHeaders          = 64
	maxHeaderBytes      = 8 << 10
	maxBodyBytes        = checks.MaxSpecBytes
	maxRegexBytes       = 1024
	maxStatuses         = 32
	maxPathBytes        = 4096
)

// Versions accepted by http_version.
const (
	VersionAuto = "auto"
	Version11   = "1.1"
	Version2    = "2"
	Version3    = "3"
)

// methods are the request methods a spec may use.
func methods() []string {
	return []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions}
}

// statusRange is an inclusive range of accepted statuses.
type statusRange struct{ lo, hi int }

func (r statusRange) String() string {
	if r.lo == r.hi {
		return strconv.Itoa(r.lo)
	}
	return fmt.Sprintf("%d-%d", r.lo, r.hi)
}

type headerExpect struct {
	name string // canonical
	re   *regexp.Regexp
}

// config is a validated spec, ready to run.
type config struct {
	url          *url.URL
	method       string
	header       http.Header
	host         string // Host header override
	body         []byte
	version      string
	preferIP     int // 0, 4 or 6
	statuses     []statusRange
	bodySub      []byte
	bodyRe       *regexp.Regexp
	headers      []headerExpect
	maxBytes     int64
	maxRedirects int
	caFile       string
	roots        *x509.CertPool // from ca_pem; nil: caFile or the system roots
	insecure     bool
}

// parseTarget validates an http(s) URL target.
func parseTarget(target string) (*url.URL, error) {
	bad := func(format string, args ...any) (*url.URL, error) {
		return nil, checks.Errorf("target", format, args...)
	}
	switch {
	case target == "":
		return bad("missing")
	case len(target) > results.MaxTargetBytes:
		return bad("longer than %d bytes", results.MaxTargetBytes)
	}
	u, err := url.Parse(target)
	if err != nil {
		return bad("%q is not a URL", target)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if u.Scheme != "http" && u.Scheme != "https" {
		return bad("%q: expected an http:// or https:// URL", target)
	}
	if u.User != nil {
		return bad("%q carries credentials; send them in a header instead", target)
	}
	host := u.Hostname()
	if host == "" {
		return bad("%q has no host", target)
	}
	if strings.Contains(u.Host, "[") != strings.Contains(host, ":") {
		return bad("%q: an IPv6 address must be in brackets", target)
	}
	if strings.ContainsAny(host, " \t\r\n%") {
		return bad("%q is not a host name or IP address", host)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return bad("port %q is not in 1..65535", p)
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return bad("%q has an empty port", target)
	}
	u.Fragment, u.RawFragment = "", ""
	return u, nil
}

// parse validates target and spec into a config.
func parse(target string, spec json.RawMessage) (*config, error) {
	u, err := parseTarget(target)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(spec)) == 0 {
		spec = json.RawMessage("{}")
	}
	var o Options
	if err := checks.DecodeOptions(spec, &o); err != nil {
		return nil, err
	}
	return o.compile(u)
}

func (o *Options) compile(u *url.URL) (*config, error) {
	c := &config{url: u, header: make(http.Header)}

	c.method = o.Method
	if c.method == "" {
		c.method = http.MethodGet
	}
	if !slices.Contains(methods(), c.method) {
		return nil, checks.Errorf("method", "%q is not one of %s", o.Method, strings.Join(methods(), ", "))
	}

	if len(o.Headers) > maxHeaders {
		return nil, checks.Errorf("headers", "more than %d headers", maxHeaders)
	}
	size := 0
	for _, name := range sortedKeys(o.Headers) {
		value := o.Headers[name]
		field := "headers." + name
		if !httpguts.ValidHeaderFieldName(name) {
			return nil, checks.Errorf(field, "%q is not a valid header name", name)
		}
		if !httpguts.ValidHeaderFieldValue(value) {
			return nil, checks.Errorf(field, "the value holds a control character")
		}
		size += len(name) + len(value)
		if size > maxHeaderBytes {
			return nil, checks.Errorf(field, "headers larger than %d bytes in all", maxHeaderBytes)
		}
		if strings.EqualFold(name, "Host") {
			if value == "" || strings.ContainsAny(value, " /\\@?#") {
				return nil, checks.Errorf(field, "%q is not a host", value)
			}
			c.host = value
			continue
		}
		c.header.Set(name, value)
	}

	if o.Body != "" {
		if c.method == http.MethodGet || c.method == http.MethodHead {
			return nil, checks.Errorf("body", "not allowed with method %s", c.method)
		}
		if len(o.Body) > maxBodyBytes {
			return nil, checks.Errorf("body", "longer than %d bytes", maxBodyBytes)
		}
		c.body = []byte(o.Body)
	}

	switch o.HTTPVersion {
	case "", VersionAuto:
		c.version = VersionAuto
	case Version11, Version2, Version3:
		c.version = o.HTTPVersion
	default:
		return nil, checks.Errorf("http_version", "%q is not one of auto, 1.1, 2, 3", o.HTTPVersion)
	}
	if c.version == Version3 && u.Scheme != "https" {
		return nil, checks.Errorf("http_version", "HTTP/3 needs an https:// target")
	}

	switch o.PreferIP {
	case "":
	case "4":
		c.preferIP = 4
	case "6":
		c.preferIP = 6
	default:
		return nil, checks.Errorf("prefer_ip", "%q is not 4 or 6", o.PreferIP)
	}

	if err := o.Expect.compile(c); err != nil {
		return nil, checks.Within("expect", err)
	}

	switch {
	case o.MaxBytes == nil:
		c.maxBytes = DefaultMaxBytes
	case *o.MaxBytes < 1 || *o.MaxBytes > MaxMaxBytes:
		return nil, checks.Errorf("max_bytes", "%d is outside 1..%d", *o.MaxBytes, MaxMaxBytes)
	default:
		c.maxBytes = *o.MaxBytes
	}

	c.maxRedirects = DefaultMaxRedirects
	if o.MaxRedirects != nil {
		if *o.MaxRedirects < 0 || *o.MaxRedirects > MaxMaxRedirects {
			return nil, checks.Errorf("max_redirects", "%d is outside 0..%d", *o.MaxRedirects, MaxMaxRedirects)
		}
		c.maxRedirects = *o.MaxRedirects
	}

	if o.CAFile != "" {
		if len(o.CAFile) > maxPathBytes || strings.ContainsRune(o.CAFile, 0) {
			return nil, checks.Errorf("ca_file", "not a usable path")
		}
		if o.InsecureSkipVerify {
			return nil, checks.Errorf("insecure_skip_verify", "cannot be combined with ca_file")
		}
		c.caFile = o.CAFile
	}
	if o.CAPEM != "" {
		switch {
		case o.CAFile != "":
			return nil, checks.Errorf("ca_pem", "cannot be combined with ca_file")
		case o.InsecureSkipVerify:
			return nil, checks.Errorf("insecure_skip_verify", "cannot be combined with ca_pem")
		}
		var err error
		if c.roots, err = tlscheck.RootsFromPEM(o.CAPEM); err != nil {
			return nil, err
		}
	}
	c.insecure = o.InsecureSkipVerify
	return c, nil
}

func (e *Expect) compile(c *config) error {
	if len(e.Status) > maxStatuses {
		return checks.Errorf("status", "more than %d entries", maxStatuses)
	}
	for i, raw := range e.Status {
		r, err := parseStatus(raw)
		if err != nil {
			return checks.Errorf(fmt.Sprintf("status[%d]", i), "%v", err)
		}
		c.statuses = append(c.statuses, r)
	}
	if len(c.statuses) == 0 {
		c.statuses = []statusRange{{200, 299}}
	}
	if e.Body != "" {
		if len(e.Body) > maxBodyBytes {
			return checks.Errorf("body", "longer than %d bytes", maxBodyBytes)
		}
		c.bodySub = []byte(e.Body)
	}
	if e.BodyRegex != "" {
		re, err := compileRegex(e.BodyRegex)
		if err != nil {
			return checks.Errorf("body_regex", "%v", err)
		}
		c.bodyRe = re
	}
	if len(e.Headers) > maxHeaders {
		return checks.Errorf("headers", "more than %d headers", maxHeaders)
	}
	for _, name := range sortedKeys(e.Headers) {
		field := "headers." + name
		if !httpguts.ValidHeaderFieldName(name) {
			return checks.Errorf(field, "%q is not a valid header name", name)
		}
		re, err := compileRegex(e.Headers[name])
		if err != nil {
			return checks.Errorf(field, "%v", err)
		}
		c.headers = append(c.headers, headerExpect{name: http.CanonicalHeaderKey(name), re: re})
	}
	return nil
}

func compileRegex(s string) (*regexp.Regexp, error) {
	if len(s) > maxRegexBytes {
		return nil, fmt.Errorf("regex longer than %d bytes", maxRegexBytes)
	}
	re, err := regexp.Compile(s)
	if err != nil {
		return nil, fmt.Errorf("bad regex: %s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
	}
	return re, nil
}

// parseStatus reads one entry of expect.status: 200, "200", "200-299" or
// "2xx".
func parseStatus(raw json.RawMessage) (statusRange, error) {
	var s string
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) > 0 && raw[0] == '"':
		if err := json.Unmarshal(raw, &s); err != nil {
			return statusRange{}, fmt.Errorf("not a string: %s", raw)
		}
	default:
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return statusRange{}, fmt.Errorf("expected a status (200), a range (\"200-299\") or a class (\"2xx\"), got %.40s", raw)
		}
		s = n.String()
	}
	return parseStatusString(s)
}

func parseStatusString(s string) (statusRange, error) {
	s = strings.TrimSpace(s)
	code := func(t string) (int, error) {
		n, err := strconv.Atoi(strings.TrimSpace(t))
		if err != nil || n < 100 || n > 599 {
			return 0, fmt.Errorf("%q is not a status in 100..599", t)
		}
		return n, nil
	}
	if len(s) == 3 && strings.EqualFold(s[1:], "xx") && s[0] >= '1' && s[0] <= '5' {
		lo := int(s[0]-'0') * 100
		return statusRange{lo, lo + 99}, nil
	}
	if a, b, ok := strings.Cut(s, "-"); ok {
		lo, err := code(a)
		if err != nil {
			return statusRange{}, err
		}
		hi, err := code(b)
		if err != nil {
			return statusRange{}, err
		}
		if lo > hi {
			return statusRange{}, fmt.Errorf("range %q runs backwards", s)
		}
		return statusRange{lo, hi}, nil
	}
	n, err := code(s)
	if err != nil {
		return statusRange{}, err
	}
	return statusRange{n, n}, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// hostPort returns u's host and port, the port defaulting by scheme.
func hostPort(u *url.URL) (string, string) {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return u.Hostname(), port
}
