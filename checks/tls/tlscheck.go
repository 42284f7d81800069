package tlscheck

import (
	"context"
	"encoding/json"
	"flag"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/picketnet/picket/checks"
	"github.com/picketnet/picket/results"
)

// Name is the kind's name in specs and records.
const Name = "tls"

// DefaultPort is the port of a target without one.
const DefaultPort = "443"

// Kind is the tls check kind.
type Kind struct{}

// Name returns "tls".
func (Kind) Name() string { return Name }

// Parse validates the target ("host", "host:port" or "https://host[:port]")
// and the options of spec.
func (Kind) Parse(target string, spec json.RawMessage) (checks.Check, error) {
	if strings.HasPrefix(target, "http://") {
		return nil, checks.Errorf("target", "%q is plain HTTP: a tls check needs https:// or host:port", target)
	}
	host, port, err := SplitTarget(target, DefaultPort)
	if err != nil {
		return nil, err
	}
	var o Options
	if err := checks.DecodeOptions(spec, &o); err != nil {
		return nil, err
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	timeout, err := checks.SpecTimeout(spec)
	if err != nil {
		return nil, err
	}
	return &Check{target: target, host: host, port: port, opts: o, timeout: timeout}, nil
}

// Check is a parsed tls check.
type Check struct {
	target, host, port string
	opts               Options
	timeout            time.Duration
}

// LocalFiles returns the files on the prober's disk the check reads.
func (c *Check) LocalFiles() []string { return c.opts.LocalFiles() }

// Run connects, handshakes and inspects the certificate once.
func (c *Check) Run(ctx context.Context, env checks.Env) results.Result {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	r := checks.Begin(Name, c.target)
	conn, addr, fail := Connect(ctx, env.Policy, c.host, c.port, &r.Phases)
	r.Addr = addr
	if fail != nil {
		r.Finish(time.Now(), fail)
		return r
	}
	defer conn.Close()
	start := time.Now()
	d, fail := Handshake(ctx, conn, c.host, c.opts)
	r.Phases.TLSMS = results.Millis(time.Since(start))
	if d.Version != "" {
		if err := r.SetDetails(d); err != nil && fail == nil {
			fail = results.Fail(results.LayerInternal, results.CodeBug, "%s", err)
		}
	}
	r.Finish(time.Now(), fail)
	return r
}

// SplitTarget splits a target into host and port. It accepts "host:port",
// "[v6]:port", "https://host[:port]" (path ignored) and, when defaultPort
// is not empty, a bare host or IP literal. Errors name the target field.
func SplitTarget(target, defaultPort string) (host, port string, err error) {
	bad := func(format string, args ...any) (string, string, error) {
		return "", "", checks.Errorf("target", format, args...)
	}
	if target == "" {
		return bad("missing")
	}
	if len(target) > results.MaxTargetBytes {
		return bad("longer than %d bytes", results.MaxTargetBytes)
	}
	hostport := target
	if strings.Contains(target, "://") {
		u, err := url.Parse(target)
		if err != nil {
			return bad("%q is not a URL", target)
		}
		schemePort, known := map[string]string{"https": "443", "http": "80", "tls": "", "tcp": ""}[u.Scheme]
		if !known {
			return bad("scheme %q: expected https:// or host:port", u.Scheme)
		}
		// An endpoint's URL target names its port by scheme, so the tcp
		// and tls checks of an https endpoint need no target of their own.
		if defaultPort == "" {
			defaultPort = schemePort
		}
		if u.User != nil {
			return bad("%q carries credentials", target)
		}
		hostport = u.Host
	}
	host, port, err = net.SplitHostPort(hostport)
	if err != nil {
		if defaultPort == "" {
			return bad("%q: expected host:port", target)
		}
		host, port = strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]"), defaultPort
	}
	if host == "" {
		return bad("%q has no host", target)
	}
	if strings.ContainsAny(host, " /\t\r\n@?#[]") || (strings.Contains(host, ":") && !isIP(host)) {
		return bad("%q is not a host name or IP address", host)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return bad("port %q is not in 1..65535", port)
	}
	return host, port, nil
}

func isIP(s string) bool { return net.ParseIP(s) != nil }

// BindFlags registers the tls flags of `picket check tls`.
func (Kind) BindFlags(fs *flag.FlagSet) func() (json.RawMessage, error) {
	o := BindOptionFlags(fs)
	return func() (json.RawMessage, error) {
		if err := o.Validate(); err != nil {
			return nil, err
		}
		return json.Marshal(o)
	}
}

// BindOptionFlags registers --server-name, --ca-file, --min-days-left and
// --min-version on fs, writing into the returned Options.
func BindOptionFlags(fs *flag.FlagSet) *Options {
	var o Options
	fs.StringVar(&o.ServerName, "server-name", "", "`name` to send as SNI and verify (default: the target's host)")
	fs.StringVar(&o.CAFile, "ca-file", "", "PEM `file` of roots to verify against instead of the system roots")
	fs.Float64Var(&o.Expect.MinDaysLeft, "min-days-left", 0, "fail when the certificate expires in fewer `days`")
	fs.StringVar(&o.Expect.MinVersion, "min-version", "", "fail when the negotiated TLS `version` is older (1.0, 1.1, 1.2, 1.3)")
	return &o
}
