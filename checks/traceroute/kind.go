package traceroute

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/picketnet/picket/checks"
	"github.com/picketnet/picket/checks/netdial"
	"github.com/picketnet/picket/checks/neterr"
	"github.com/picketnet/picket/checks/targetpolicy"
	"github.com/picketnet/picket/netpath"
	"github.com/picketnet/picket/results"
)

// ASResolver finds the origin AS of an address; *netpath.Resolver is one.
type ASResolver interface {
	LookupAS(ctx context.Context, addr netip.Addr) (info netpath.ASInfo, found bool, err error)
}

// Kind is the traceroute check kind. All checks parsed by one Kind share
// its Tracer, and so its raw sockets.
type Kind struct {
	tracer   *Tracer
	resolver ASResolver
}

// New returns the traceroute kind. resolver names the AS of each hop; nil
// leaves hops without ASNs and the AS path made of wildcards only.
func New(resolver ASResolver) *Kind {
	return &Kind{tracer: NewTracer(), resolver: resolver}
}

// Name implements checks.Kind.
func (*Kind) Name() string { return "traceroute" }

// Options are the traceroute spec's own fields. The numbers are pointers
// so that a field left out takes its default while a field given as 0 is
// refused: a zero is never a silent way to ask for the default.
type Options struct {
	// Mode is icmp (echo requests, the default), udp or tcp (SYNs).
	Mode string `json:"mode,omitempty"`
	// MaxHops is the highest TTL probed (1..64, default 30).
	MaxHops *int `json:"max_hops,omitempty"`
	// Probes is the number of probes per TTL (1..10, default 3).
	Probes *int `json:"probes,omitempty"`
	// Port is the destination port (default 33434 for udp; for tcp the
	// target's port, else 443).
	Port *int `json:"port,omitempty"`
	// Gap is the number of silent hops in a row that ends the path
	// (default 5).
	Gap *int `json:"gap,omitempty"`
	// Wait is how long to wait for answers after the last probe (default 2s).
	Wait *checks.Duration `json:"wait,omitempty"`
	// Family restricts name resolution to "4" or "6"; default either.
	Family string `json:"family,omitempty"`
}

// Parse implements checks.Kind. target is a host name, an address, or a
// URL whose host is traced.
func (k *Kind) Parse(target string, spec json.RawMessage) (checks.Check, error) {
	host, port, err := targetHost(target)
	if err != nil {
		return nil, &checks.FieldError{Field: "target", Reason: err.Error()}
	}
	var opts Options
	if len(spec) > 0 {
		if err := checks.DecodeOptions(spec, &opts); err != nil {
			return nil, err
		}
	}
	if opts.Mode == string(ModeTCP) && opts.Port == nil && port != 0 {
		// SYNs go where the service listens, as tcptraceroute HOST PORT
		// does: to the port of host:port or of the URL (80 for http://),
		// so that a trace of http://host:8080/ is not judged by port 443,
		// which a firewall may drop.
		opts.Port = &port
	}
	cfg, err := opts.config()
	if err != nil {
		return nil, err
	}
	timeout := checks.DefaultTimeout
	if len(spec) > 0 {
		var common checks.Spec
		if err := json.Unmarshal(spec, &common); err == nil && common.Timeout > 0 {
			timeout = common.Timeout.Std()
		}
	}
	return &check{kind: k, target: target, host: host, family: opts.Family, cfg: cfg, timeout: timeout}, nil
}

func (o Options) config() (Config, error) {
	cfg := Config{Mode: Mode(o.Mode)}
	if o.Mode != "" && o.Mode != string(ModeICMP) && o.Mode != string(ModeUDP) && o.Mode != string(ModeTCP) {
		return cfg, checks.Errorf("mode", "%q is not one of icmp, udp, tcp", o.Mode)
	}
	for _, f := range []struct {
		name     string
		v        *int
		min, max int
		dst      *int
	}{
		{"max_hops", o.MaxHops, 1, MaxMaxHops, &cfg.MaxHops},
		{"probes", o.Probes, 1, MaxProbes, &cfg.Probes},
		{"port", o.Port, 1, 65535, &cfg.Port},
		{"gap", o.Gap, 1, MaxMaxHops, &cfg.Gap},
	} {
		if f.v == nil {
			continue
		}
		if *f.v < f.min || *f.v > f.max {
			return cfg, checks.Errorf(f.name, "%d is outside %d..%d", *f.v, f.min, f.max)
		}
		*f.dst = *f.v
	}
	if o.Wait != nil {
		if w := o.Wait.Std(); w < time.Millisecond || w > time.Minute {
			return cfg, checks.Errorf("wait", "%s is outside 1ms..1m", o.Wait)
		}
		cfg.Wait = o.Wait.Std()
	}
	if o.Family != "" && o.Family != "4" && o.Family != "6" {
		return cfg, checks.Errorf("family", "%q is not 4 or 6", o.Family)
	}
	return cfg.withDefaults(), nil
}

// targetHost extracts the host to trace from a target: a name, an address,
// host:port, or a URL. port is the target's port: the one given, the
// URL scheme's (80 for http, 443 for https), or 0.
func targetHost(target string) (host string, port int, err error) {
	t := strings.TrimSpace(target)
	if t == "" {
		return "", 0, errors.New("empty")
	}
	if len(t) > 2048 {
		return "", 0, errors.New("longer than 2048 bytes")
	}
	host = t
	portStr := ""
	if strings.Contains(t, "://") {
		u, err := url.Parse(t)
		if err != nil {
			return "", 0, fmt.Errorf("not a valid URL: %v", err)
		}
		host, portStr = u.Hostname(), u.Port()
		if portStr == "" {
			switch strings.ToLower(u.Scheme) {
			case "http":
				portStr = "80"
			case "https":
				portStr = "443"
			}
		}
	} else if h, p, err := net.SplitHostPort(t); err == nil {
		host, portStr = h, p
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if host == "" {
		return "", 0, fmt.Errorf("%q has no host", target)
	}
	if portStr != "" {
		port, err = strconv.Atoi(portStr)
		if err != nil || port < 1 || port > 65535 {
			return "", 0, fmt.Errorf("port %q is not in 1..65535", portStr)
		}
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return host, port, nil
	}
	if len(host) > 253 || strings.ContainsAny(host, " /\\@?#") {
		return "", 0, fmt.Errorf("%q is not a host name or address", host)
	}
	return host, port, nil
}

type check struct {
	kind    *Kind
	target  string
	host    string
	family  string
	cfg     Config
	timeout time.Duration
}

// Run implements checks.Check.
func (c *check) Run(ctx context.Context, env checks.Env) (rec results.Result) {
	rec = checks.Begin("traceroute", c.target)
	start := time.Now()
	defer func() { rec.DurationMS = ms(time.Since(start)) }()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	// The policy is enforced here, before any probe leaves: raw sockets
	// have no connect for targetpolicy.Policy.Control to guard.
	dst, rerr := c.resolve(ctx, &rec, env.Policy)
	if dst.IsValid() {
		rec.Addr = dst.String()
	}
	if rerr != nil {
		rec.Error = rerr
		return rec
	}
	// The hops' ASes are looked up after the trace, within the same
	// timeout: keep them a share of it, so that a trace that runs out of
	// time still says in which AS it stopped.
	traceCtx, cancelTrace := context.WithTimeout(ctx, c.timeout-c.lookupReserve())
	defer cancelTrace()
	tr, err := c.kind.tracer.Trace(traceCtx, dst, c.cfg)
	switch {
	case errors.Is(err, ErrPermission):
		rec.Error = results.Fail(results.LayerPath, results.CodePermission, "%v", err)
		return rec
	case tr == nil:
		rec.Error = results.Fail(results.LayerPath, results.CodeNetwork, "%v", err)
		return rec
	}
	details := c.details(ctx, tr)
	rec.OK = tr.Reached
	switch {
	case tr.Reached:
	case err != nil && traceCtx.Err() != nil:
		rec.Error = results.Fail(results.LayerPath, results.CodeTimeout, "no answer from %s before the %s timeout", dst, c.timeout)
	case err != nil:
		rec.Error = results.Fail(results.LayerPath, results.CodeNetwork, "%v", err)
	default:
		rec.Error = results.Fail(results.LayerPath, results.CodeNotReached, "%s", notReached(dst, tr))
	}
	if err := rec.SetDetails(details); err != nil {
		rec.OK, rec.Error = false, results.Fail(results.LayerInternal, results.CodeBug, "encode details: %v", err)
	}
	return rec
}

// lookupReserve is the part of the timeout kept for the AS lookups: a
// fifth, at most 2s (a Team Cymru lookup is two round trips to a
// resolver), nothing when there is no resolver to ask.
func (c *check) lookupReserve() time.Duration {
	if c.kind.resolver == nil {
		return 0
	}
	return min(c.timeout/5, 2*time.Second)
}

func notReached(dst netip.Addr, tr *Trace) string {
	for _, h := range slices.Backward(tr.Hops) {
		if h.Unreachable {
			text, mark := neterr.Unreachable(dst.Is6(), h.Code)
			return fmt.Sprintf("%s answered %s (%s, code %d) at hop %d", h.Addr, text, unreachableMark(mark, h.Code), h.Code, h.TTL)
		}
		if h.Addr.IsValid() {
			return fmt.Sprintf("no answer from %s; the last hop that answered was %s at TTL %d", dst, h.Addr, h.TTL)
		}
	}
	return fmt.Sprintf("no hop answered on the way to %s", dst)
}

// unreachableMark is the mark a hop that answered unreachable shows; a
// router's port unreachable, which has none in traceroute, shows its code.
func unreachableMark(mark string, code uint8) string {
	if mark == "" {
		return "!<" + strconv.Itoa(int(code)) + ">"
	}
	return mark
}

// resolve returns the address to trace, recording dns_ms for a name: the
// first address, in the order netdial tries them, that the policy allows,
// so that a trace goes where a connect to the same name would. When none
// is allowed it returns the first address and the policy's refusal.
func (c *check) resolve(ctx context.Context, rec *results.Result, policy *targetpolicy.Policy) (netip.Addr, *results.Error) {
	network := "ip"
	if c.family != "" {
		network += c.family
	}
	addrs, took, err := netdial.Dialer{}.Lookup(ctx, network, c.host)
	rec.Phases.DNSMS = ms(took)
	switch {
	case err != nil && ctx.Err() != nil:
		return netip.Addr{}, results.Fail(results.LayerDNS, results.CodeTimeout, "%v", err)
	case err != nil:
		return netip.Addr{}, neterr.Classify(results.LayerDNS, err)
	}
	// A literal is not looked up, so its family is checked here.
	if a := addrs[0]; (c.family == "4" && !a.Is4()) || (c.family == "6" && !a.Is6()) {
		return a, results.Fail(results.LayerValidation, results.CodeBadTarget, "%s is not an IPv%s address", a, c.family)
	}
	return firstAllowed(addrs, policy)
}

// firstAllowed returns the first of addrs that policy allows, or the first
// address and the policy's refusal of it.
func firstAllowed(addrs []netip.Addr, policy *targetpolicy.Policy) (netip.Addr, *results.Error) {
	var denied error
	for _, a := range addrs {
		err := policy.Check(a)
		if err == nil {
			return a, nil
		}
		if denied == nil {
			denied = err
		}
	}
	return addrs[0], results.Fail(results.LayerPath, results.CodeDenied, "%v", denied)
}

// details builds the record's details, naming each hop's AS.
func (c *check) details(ctx context.Context, tr *Trace) results.TracerouteDetails {
	d := results.TracerouteDetails{Mode: string(tr.Mode), FlowID: tr.FlowID, Reached: tr.Reached, Hops: make([]results.Hop, 0, len(tr.Hops))}
	if tr.Mode != ModeICMP {
		d.Port = c.cfg.Port
	}
	infos := c.lookupASes(ctx, tr)
	path := make([]netpath.PathHop, 0, len(tr.Hops))
	for _, h := range tr.Hops {
		hop := results.Hop{TTL: h.TTL, Sent: h.Sent, RTTMS: make([]float64, 0, len(h.RTTs))}
		for _, rtt := range h.RTTs {
			hop.RTTMS = append(hop.RTTMS, ms(rtt))
		}
		if h.Addr.IsValid() {
			hop.Addr = h.Addr.String()
			info := infos[h.Addr]
			hop.ASN, hop.ASName = info.ASN, info.Name
		}
		if h.Unreachable {
			_, mark := neterr.Unreachable(tr.Dst.Is6(), h.Code)
			hop.Unreachable = unreachableMark(mark, h.Code)
		}
		for _, o := range h.Other {
			info := infos[o.Addr]
			hop.Others = append(hop.Others, results.HopResponder{Addr: o.Addr.String(), Answered: o.Answered, ASN: info.ASN, ASName: info.Name})
		}
		d.Hops = append(d.Hops, hop)
		path = append(path, netpath.PathHop{Silent: !h.Addr.IsValid(), ASN: hop.ASN})
	}
	d.ASPath = netpath.CollapseASPath(path)
	if tr.Reached && len(tr.Hops) > 0 {
		d.RTTMS = ms(median(tr.Hops[len(tr.Hops)-1].RTTs))
	}
	return d
}

// lookupASes names the AS of every answering hop, a few lookups at a time
// (a DNS lookup may take a round trip each). A failed lookup leaves the hop
// without an ASN.
func (c *check) lookupASes(ctx context.Context, tr *Trace) map[netip.Addr]netpath.ASInfo {
	out := make(map[netip.Addr]netpath.ASInfo)
	if c.kind.resolver == nil {
		return out
	}
	var addrs []netip.Addr
	for _, h := range tr.Hops {
		if h.Addr.IsValid() && !slices.Contains(addrs, h.Addr) {
			addrs = append(addrs, h.Addr)
		}
		for _, o := range h.Other {
			if !slices.Contains(addrs, o.Addr) {
				addrs = append(addrs, o.Addr)
			}
		}
	}
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		sem = make(chan struct{}, 8)
	)
	for _, a := range addrs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			info, found, err := c.kind.resolver.LookupAS(ctx, a)
			if err != nil || !found {
				return
			}
			mu.Lock()
			out[a] = info
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// ms converts to milliseconds, rounded to the microsecond.
func ms(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Microsecond)) / 1000
}

// BindFlags implements checks.FlagBinder for `picket check traceroute`
// and `picket trace`. Only flags given on the command line become options,
// so that they override a spec's fields without resetting the others.
func (k *Kind) BindFlags(fs *flag.FlagSet) func() (json.RawMessage, error) {
	fs.String("mode", string(ModeICMP), "probe `mode`: icmp, udp or tcp")
	fs.Int("max-hops", DefaultMaxHops, "highest TTL to probe")
	fs.Int("probes", DefaultProbes, "probes per hop")
	fs.Int("port", 0, "destination port (default 33434 for udp; for tcp the target's port, else 443)")
	fs.Int("gap", DefaultGap, "stop after this many silent hops in a row")
	fs.Duration("wait", DefaultWait, "how long to wait for answers after the last probe")
	fs.String("family", "", "resolve the target to IPv`N` only (4 or 6)")
	return func() (json.RawMessage, error) {
		opts := map[string]any{}
		fs.Visit(func(f *flag.Flag) {
			g, ok := f.Value.(flag.Getter)
			if !ok {
				return
			}
			switch f.Name {
			case "mode", "family":
				opts[f.Name] = g.Get()
			case "max-hops", "probes", "port", "gap":
				opts[strings.ReplaceAll(f.Name, "-", "_")] = g.Get()
			case "wait":
				opts["wait"] = g.Get().(time.Duration).String()
			}
		})
		raw, err := json.Marshal(opts)
		if err != nil {
			return nil, err
		}
		var o Options
		if err := checks.DecodeOptions(raw, &o); err != nil {
			return nil, err
		}
		if _, err := o.config(); err != nil {
			return nil, err
		}
		return raw, nil
	}
}
