package tcpcheck

import (
	"context"
	"encoding/json"
	"flag"
	"net"
	"time"

	"github.com/picketnet/picket/checks"
	tlscheck "github.com/picketnet/picket/checks/tls"
	"github.com/picketnet/picket/results"
)

// Name is the kind's name in specs and records.
const Name = "tcp"

// Kind is the tcp check kind.
type Kind struct{}

// Name returns "tcp".
func (Kind) Name() string { return Name }

// Options are a tcp check's options: TLS turns on a handshake after the
// connect, configured by the embedded TLS options.
type Options struct {
	TLS bool `json:"tls,omitempty"`
	tlscheck.Options
}

// Parse validates the target ("host:port") and the options of spec.
func (Kind) Parse(target string, spec json.RawMessage) (checks.Check, error) {
	host, port, err := tlscheck.SplitTarget(target, "")
	if err != nil {
		return nil, err
	}
	var o Options
	if err := checks.DecodeOptions(spec, &o); err != nil {
		return nil, err
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	timeout, err := checks.SpecTimeout(spec)
	if err != nil {
		return nil, err
	}
	return &Check{target: target, host: host, port: port, opts: o, timeout: timeout}, nil
}

func (o Options) validate() error {
	if !o.TLS {
		// TLS options without TLS are a mistake the operator wants to hear
		// about, not silently ignore.
		switch {
		case o.ServerName != "":
			return checks.Errorf("server_name", "set without tls: true")
		case o.CAFile != "":
			return checks.Errorf("ca_file", "set without tls: true")
		case o.CAPEM != "":
			return checks.Errorf("ca_pem", "set without tls: true")
		case o.Expect != (tlscheck.Expect{}):
			return checks.Errorf("expect", "TLS expectations set without tls: true")
		}
	}
	return o.Options.Validate()
}

// Check is a parsed tcp check.
type Check struct {
	target, host, port string
	opts               Options
	timeout            time.Duration
}

// LocalFiles returns the files on the prober's disk the check reads.
func (c *Check) LocalFiles() []string { return c.opts.LocalFiles() }

// Addr is the host:port the check connects to.
func (c *Check) Addr() string { return net.JoinHostPort(c.host, c.port) }

// Run connects once, and handshakes when the spec asks for TLS.
func (c *Check) Run(ctx context.Context, env checks.Env) results.Result {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	r := checks.Begin(Name, c.target)
	conn, addr, fail := tlscheck.Connect(ctx, env.Policy, c.host, c.port, &r.Phases)
	r.Addr = addr
	if fail != nil {
		r.Finish(time.Now(), fail)
		return r
	}
	defer conn.Close()
	var d results.TCPDetails
	if c.opts.TLS {
		start := time.Now()
		td, tfail := tlscheck.Handshake(ctx, conn, c.host, c.opts.Options)
		r.Phases.TLSMS = results.Millis(time.Since(start))
		if td.Version != "" {
			d.TLS = &td
		}
		fail = tfail
	}
	if err := r.SetDetails(d); err != nil && fail == nil {
		fail = results.Fail(results.LayerInternal, results.CodeBug, "%s", err)
	}
	r.Finish(time.Now(), fail)
	return r
}

// BindFlags registers the flags of `picket check tcp`: --tls and the tls
// kind's flags.
func (Kind) BindFlags(fs *flag.FlagSet) func() (json.RawMessage, error) {
	var o Options
	fs.BoolVar(&o.TLS, "tls", false, "run a TLS handshake after the connect")
	tlsOpts := tlscheck.BindOptionFlags(fs)
	return func() (json.RawMessage, error) {
		o.Options = *tlsOpts
		if err := o.validate(); err != nil {
			return nil, err
		}
		return json.Marshal(o)
	}
}
