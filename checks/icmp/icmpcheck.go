package icmpcheck

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	probing "github.com/prometheus-community/pro-bing"
	"golang.org/x/net/icmp"

	"github.com/picketnet/picket/checks"
	"github.com/picketnet/picket/checks/netdial"
	"github.com/picketnet/picket/checks/neterr"
	"github.com/picketnet/picket/results"
)

// Name is the kind's name in specs and records.
const Name = "icmp"

// Defaults and bounds of the options.
const (
	DefaultCount    = 3
	DefaultInterval = time.Second
	DefaultSize     = 56 // ping's default payload
	DefaultWait     = time.Second
	DefaultMaxLoss  = 0.5

	maxCount    = 100
	minInterval = 10 * time.Millisecond
	maxInterval = 10 * time.Second
	minSize     = 24 // pro-bing's timestamp and tracker
	maxSize     = 9000
	maxWait     = time.Minute
)

// Socket modes.
const (
	ModeAuto         = "auto"
	ModePrivileged   = "privileged"
	ModeUnprivileged = "unprivileged"
)

// Kind is the icmp check kind.
type Kind struct{}

// Name returns "icmp".
func (Kind) Name() string { return Name }

// Options are an icmp check's options. The JSON names avoid "interval" and
// "timeout", which are the schedule's. The numbers are pointers so that a
// field left out takes its default while one given as 0 is refused, never
// silently read as the default.
type Options struct {
	// Count is the number of echo requests.
	Count *int `json:"count,omitempty"`
	// PacketInterval is the time between two requests.
	PacketInterval *checks.Duration `json:"packet_interval,omitempty"`
	// Size is the ICMP payload size in bytes.
	Size *int `json:"size,omitempty"`
	// Wait is how long to wait for replies after the last request.
	Wait *checks.Duration `json:"wait,omitempty"`
	// MaxLoss is the largest loss (a fraction, 0..1) that still passes;
	// nil means DefaultMaxLoss.
	MaxLoss *float64 `json:"max_loss,omitempty"`
	// Mode is auto, privileged (raw socket) or unprivileged (datagram).
	Mode string `json:"mode,omitempty"`
	// IPVersion restricts the target's address family: 4, 6, or 0 for
	// the first address the resolver returns.
	IPVersion int `json:"ip_version,omitempty"`
}

// withDefaults fills the unset options.
func (o Options) withDefaults() Options {
	if o.Count == nil {
		o.Count = new(DefaultCount)
	}
	if o.PacketInterval == nil {
		o.PacketInterval = new(checks.Duration(DefaultInterval))
	}
	if o.Size == nil {
		o.Size = new(DefaultSize)
	}
	if o.Wait == nil {
		o.Wait = new(checks.Duration(DefaultWait))
	}
	if o.MaxLoss == nil {
		o.MaxLoss = new(DefaultMaxLoss)
	}
	if o.Mode == "" {
		o.Mode = ModeAuto
	}
	return o
}

// validate checks options that withDefaults filled.
func (o Options) validate() error {
	switch {
	case *o.Count < 1 || *o.Count > maxCount:
		return checks.Errorf("count", "%d is outside 1..%d", *o.Count, maxCount)
	case o.PacketInterval.Std() < minInterval || o.PacketInterval.Std() > maxInterval:
		return checks.Errorf("packet_interval", "%s is outside %s..%s", *o.PacketInterval, minInterval, maxInterval)
	case *o.Size < minSize || *o.Size > maxSize:
		return checks.Errorf("size", "%d is outside %d..%d bytes", *o.Size, minSize, maxSize)
	case o.Wait.Std() < time.Millisecond || o.Wait.Std() > maxWait:
		return checks.Errorf("wait", "%s is outside 1ms..%s", *o.Wait, maxWait)
	case *o.MaxLoss < 0 || *o.MaxLoss > 1:
		return checks.Errorf("max_loss", "%v is outside 0..1 (a fraction: 0.2 is 20%%)", *o.MaxLoss)
	case o.Mode != ModeAuto && o.Mode != ModePrivileged && o.Mode != ModeUnprivileged:
		return checks.Errorf("mode", "%q is not one of auto, privileged, unprivileged", o.Mode)
	case o.IPVersion != 0 && o.IPVersion != 4 && o.IPVersion != 6:
		return checks.Errorf("ip_version", "%d is not 4 or 6", o.IPVersion)
	}
	return nil
}

// Parse validates the target (a host name or IP address) and the options.
func (Kind) Parse(target string, spec json.RawMessage) (checks.Check, error) {
	host, err := parseTarget(target)
	if err != nil {
		return nil, err
	}
	var o Options
	if err := checks.DecodeOptions(spec, &o); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	timeout, err := checks.SpecTimeout(spec)
	if err != nil {
		return nil, err
	}
	if need := time.Duration(*o.Count-1) * o.PacketInterval.Std(); need >= timeout {
		return nil, checks.Errorf("count", "%d requests %s apart take %s, not less than the timeout %s", *o.Count, *o.PacketInterval, need, timeout)
	}
	return &Check{target: target, host: host, opts: o, timeout: timeout}, nil
}

func parseTarget(target string) (string, error) {
	switch {
	case target == "":
		return "", checks.Errorf("target", "missing")
	case len(target) > 253+2:
		return "", checks.Errorf("target", "longer than 255 bytes")
	}
	host := target
	// An endpoint's URL target: ping its host, as the other checks of the
	// endpoint reach it.
	if u, err := url.Parse(target); err == nil && u.Scheme != "" && u.Host != "" {
		host = u.Hostname()
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if _, err := netip.ParseAddr(host); err == nil {
		return host, nil
	}
	if strings.ContainsAny(host, " /\t\r\n@?#[]:%") {
		return "", checks.Errorf("target", "%q is not a host name or IP address (no port or URL)", target)
	}
	return host, nil
}

// Check is a parsed icmp check.
type Check struct {
	target, host string
	opts         Options
	timeout      time.Duration
}

// Host is the name or address the check pings.
func (c *Check) Host() string { return c.host }

// Run sends the echo requests and waits for the replies once.
func (c *Check) Run(ctx context.Context, env checks.Env) results.Result {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	r := checks.Begin(Name, c.target)
	d, addr, fail := c.run(ctx, env, &r.Phases)
	r.Addr = addr
	if d != nil {
		if err := r.SetDetails(d); err != nil && fail == nil {
			fail = results.Fail(results.LayerInternal, results.CodeBug, "%s", err)
		}
	}
	r.Finish(time.Now(), fail)
	return r
}

func (c *Check) run(ctx context.Context, env checks.Env, ph *results.Phases) (*results.ICMPDetails, string, *results.Error) {
	addr, fail := c.resolve(ctx, ph)
	if fail != nil {
		return nil, "", fail
	}
	if err := env.Policy.Check(addr); err != nil {
		return nil, addr.String(), neterr.Classify(results.LayerICMP, err)
	}
	privileged, err := socketMode(c.opts.Mode, addr.Is4())
	if err != nil {
		return nil, addr.String(), results.Fail(results.LayerICMP, results.CodePermission, "%s", err)
	}
	if err := sendable(addr); err != nil {
		return &results.ICMPDetails{Privileged: privileged}, addr.String(), err
	}

	p := probing.New(addr.String())
	p.SetIPAddr(&net.IPAddr{IP: addr.AsSlice(), Zone: addr.Zone()})
	p.SetPrivileged(privileged)
	p.SetLogger(probing.NoopLogger{})
	p.Count = *c.opts.Count
	p.Interval = c.opts.PacketInterval.Std()
	p.Size = *c.opts.Size
	p.RecordTTLs = false
	// End on our own a little before the deadline, so that a run cut short
	// reports the loss it saw instead of a bare timeout.
	deadline, _ := ctx.Deadline()
	budget := time.Until(deadline) - 5*time.Millisecond
	p.Timeout = min(time.Duration(*c.opts.Count-1)*p.Interval+c.opts.Wait.Std(), max(budget, time.Millisecond))
	var (
		mu      sync.Mutex
		sendErr error
	)
	p.OnSendError = func(_ *probing.Packet, err error) {
		mu.Lock()
		sendErr = err
		mu.Unlock()
	}
	var watch *unreachWatch
	if privileged {
		// Without it a router's "no route" is plain loss. A watch that
		// cannot open only loses that distinction.
		watch, _ = watchUnreachable(addr, p.ID())
	}
	runErr := p.RunWithContext(ctx)
	st := p.Statistics()
	var (
		unreached     int
		unreachedFrom netip.Addr
		unreachedText string
	)
	if watch != nil {
		unreached, unreachedFrom, unreachedText = watch.stop()
	}
	d := &results.ICMPDetails{
		Sent:       st.PacketsSent,
		Received:   st.PacketsRecv,
		Privileged: privileged,
	}
	if st.PacketsRecv > 0 {
		// pro-bing reports zeros when nothing came back: no round trip
		// was measured, and the record must not say it took 0 ms.
		d.RTTMinMS = new(results.Millis(st.MinRtt))
		d.RTTAvgMS = new(results.Millis(st.AvgRtt))
		d.RTTMaxMS = new(results.Millis(st.MaxRtt))
		d.RTTStdDev = new(results.Millis(st.StdDevRtt))
	}
	if st.PacketsSent > 0 {
		d.Loss = float64(st.PacketsSent-st.PacketsRecv) / float64(st.PacketsSent)
	}
	mu.Lock()
	if runErr == nil && st.PacketsRecv == 0 {
		// pro-bing only logs failed sends after the first: surface the
		// reason (unreachable, ...) when nothing came back.
		runErr = sendErr
	}
	refused := sendErr != nil && errors.Is(runErr, sendErr) &&
		(errors.Is(sendErr, syscall.EPERM) || errors.Is(sendErr, syscall.EACCES))
	mu.Unlock()
	switch {
	case refused && d.Received == 0:
		// The socket is open, so this is no missing privilege: a firewall
		// rule of this host dropped the echo request on its way out.
		return d, addr.String(), results.Fail(results.LayerICMP, results.CodeUnreachable,
			"this host will not send to %s: %s (its firewall refused the packet)", addr, sendErr)
	case runErr != nil && ctx.Err() != nil:
		return d, addr.String(), results.Fail(results.LayerICMP, results.CodeTimeout, "%s", runErr)
	case runErr != nil:
		return d, addr.String(), neterr.Classify(results.LayerICMP, runErr)
	case d.Sent == 0:
		return d, addr.String(), results.Fail(results.LayerICMP, results.CodeTimeout, "no echo request sent before the deadline")
	case d.Loss > *c.opts.MaxLoss && unreached > 0:
		return d, addr.String(), results.Fail(results.LayerICMP, results.CodeUnreachable,
			"%s answered %s to %d of %d echo requests; %d of %d lost (%.0f%%), more than max_loss %.0f%%",
			unreachedFrom, unreachedText, min(unreached, d.Sent), d.Sent,
			d.Sent-d.Received, d.Sent, d.Loss*100, *c.opts.MaxLoss*100)
	case d.Loss > *c.opts.MaxLoss:
		return d, addr.String(), results.Fail(results.LayerICMP, results.CodeLoss,
			"%d of %d echo requests lost (%.0f%%), more than max_loss %.0f%%",
			d.Sent-d.Received, d.Sent, d.Loss*100, *c.opts.MaxLoss*100)
	}
	return d, addr.String(), nil
}

// sendable asks this host's routing table, without sending a packet,
// whether it will send to addr: a connected UDP socket looks the route up.
// A missing route or an unreachable one is icmp/unreachable at once, and so
// is a prohibit route, which must be caught here: pro-bing answers the
// EACCES of its send by setting SO_BROADCAST and trying again, forever,
// deaf to the context, so the run would never end.
func sendable(addr netip.Addr) *results.Error {
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, 9)))
	if err == nil {
		conn.Close()
		return nil
	}
	switch {
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return results.Fail(results.LayerICMP, results.CodeUnreachable, "this host will not send to %s: %v (a prohibit route, or a broadcast address)", addr, err)
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return results.Fail(results.LayerICMP, results.CodeUnreachable, "this host has no usable route to %s: %v", addr, err)
	}
	// Anything else (no socket left, ...) is for the echo requests to
	// meet and report.
	return nil
}

// resolve returns the address to ping, recording dns_ms for a name.
func (c *Check) resolve(ctx context.Context, ph *results.Phases) (netip.Addr, *results.Error) {
	network := "ip"
	if c.opts.IPVersion != 0 {
		network = fmt.Sprintf("ip%d", c.opts.IPVersion)
	}
	addrs, took, err := netdial.Dialer{}.Lookup(ctx, network, c.host)
	ph.DNSMS = results.Millis(took)
	switch {
	case err != nil && ctx.Err() != nil:
		return netip.Addr{}, results.Fail(results.LayerDNS, results.CodeTimeout, "lookup %s: %s", c.host, err)
	case err != nil:
		return netip.Addr{}, neterr.Classify(results.LayerDNS, err)
	}
	// A literal is not looked up, so its family is checked here.
	if a := addrs[0]; (c.opts.IPVersion == 4 && !a.Is4()) || (c.opts.IPVersion == 6 && a.Is4()) {
		return netip.Addr{}, results.Fail(results.LayerValidation, results.CodeBadTarget, "%s is not an IPv%d address", a, c.opts.IPVersion)
	}
	return addrs[0], nil
}

// socketMode decides between a raw socket (true) and an unprivileged
// datagram socket (false) by opening them, which sends nothing.
func socketMode(mode string, v4 bool) (bool, error) {
	raw, dgram := "ip6:ipv6-icmp", "udp6"
	if v4 {
		raw, dgram = "ip4:icmp", "udp4"
	}
	try := func(network string) error {
		c, err := icmp.ListenPacket(network, "")
		if err != nil {
			return err
		}
		return c.Close()
	}
	switch mode {
	case ModePrivileged:
		return true, nil
	case ModeUnprivileged:
		return false, nil
	}
	rawErr := try(raw)
	if rawErr == nil {
		return true, nil
	}
	dgramErr := try(dgram)
	if dgramErr == nil {
		return false, nil
	}
	return false, fmt.Errorf("cannot open a raw ICMP socket (%w: needs root or CAP_NET_RAW) nor a datagram one (%w: gid %d is outside net.ipv4.ping_group_range %s)",
		rawErr, dgramErr, os.Getegid(), pingGroupRange())
}

// pingGroupRange reads the sysctl for the error message.
func pingGroupRange() string {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ping_group_range")
	if err != nil {
		return "(unreadable)"
	}
	return strings.Join(strings.Fields(string(b)), "..")
}

// BindFlags registers the flags of `picket check icmp`.
func (Kind) BindFlags(fs *flag.FlagSet) func() (json.RawMessage, error) {
	var (
		count, size, ipVersion int
		interval, wait         time.Duration
		maxLoss                float64
		mode                   string
	)
	fs.IntVar(&count, "count", DefaultCount, "number of echo requests")
	fs.DurationVar(&interval, "interval", DefaultInterval, "time between echo requests")
	fs.IntVar(&size, "size", DefaultSize, "ICMP payload `bytes`")
	fs.DurationVar(&wait, "wait", DefaultWait, "how long to wait for replies after the last request")
	fs.Float64Var(&maxLoss, "max-loss", DefaultMaxLoss, "largest loss that passes, a `fraction` (0.2 = 20%)")
	fs.StringVar(&mode, "mode", ModeAuto, "socket: auto, privileged (raw) or unprivileged (datagram)")
	fs.IntVar(&ipVersion, "ip-version", 0, "address family of the target: 4 or 6 (default: the first address)")
	return func() (json.RawMessage, error) {
		// Only the flags given become options, so that they override a
		// --spec's fields without resetting the others to the defaults.
		var o Options
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "count":
				o.Count = &count
			case "interval":
				o.PacketInterval = new(checks.Duration(interval))
			case "size":
				o.Size = &size
			case "wait":
				o.Wait = new(checks.Duration(wait))
			case "max-loss":
				o.MaxLoss = &maxLoss
			case "mode":
				o.Mode = mode
			case "ip-version":
				o.IPVersion = ipVersion
			}
		})
		if err := o.withDefaults().validate(); err != nil {
			return nil, err
		}
		return json.Marshal(o)
	}
}
