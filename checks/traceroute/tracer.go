package traceroute

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"time"
)

// Mode is how probes are sent.
type Mode string

// The probe modes.
const (
	ModeICMP Mode = "icmp" // ICMP echo requests
	ModeUDP  Mode = "udp"  // UDP datagrams to a high port
	ModeTCP  Mode = "tcp"  // TCP SYNs to a service port
)

// Config is one trace's parameters. Zero fields take the defaults.
type Config struct {
	Mode    Mode
	MaxHops int           // highest TTL probed; default 30
	Probes  int           // probes per TTL; default 3
	Port    int           // destination port; default 33434 for UDP, 443 for TCP
	Gap     int           // consecutive silent hops after which the path is cut; default 5
	Wait    time.Duration // how long to wait for the last reply; default 2s
	// Pace is the pause between the probes of successive TTLs. Probes of
	// all TTLs are in flight at once; the pause spreads them so that the
	// destination's first answer can stop probes to higher TTLs. Default 5ms.
	Pace time.Duration
}

// Defaults and limits of Config.
const (
	DefaultMaxHops = 30
	DefaultProbes  = 3
	DefaultPort    = 33434
	DefaultTCPPort = 443
	DefaultGap     = 5
	DefaultWait    = 2 * time.Second
	DefaultPace    = 5 * time.Millisecond
	MaxMaxHops     = 64
	MaxProbes      = 10
)

func (c Config) withDefaults() Config {
	if c.Mode == "" {
		c.Mode = ModeICMP
	}
	if c.MaxHops <= 0 {
		c.MaxHops = DefaultMaxHops
	}
	c.MaxHops = min(c.MaxHops, MaxMaxHops)
	if c.Probes <= 0 {
		c.Probes = DefaultProbes
	}
	c.Probes = min(c.Probes, MaxProbes)
	if c.Port <= 0 {
		c.Port = DefaultPort
		if c.Mode == ModeTCP {
			c.Port = DefaultTCPPort
		}
	}
	if c.Gap <= 0 {
		c.Gap = DefaultGap
	}
	if c.Wait <= 0 {
		c.Wait = DefaultWait
	}
	if c.Pace <= 0 {
		c.Pace = DefaultPace
	}
	return c
}

// Trace is what one run saw.
type Trace struct {
	Dst  netip.Addr
	Mode Mode
	// FlowID identifies the run's flow: the echo id, or the UDP or TCP
	// source port.
	FlowID  uint32
	Hops    []HopResult // TTL 1 upwards, cut after the destination or the silent gap
	Reached bool
}

// HopResult is one TTL of a trace.
type HopResult struct {
	TTL  int
	Addr netip.Addr // invalid when no probe was answered
	RTTs []time.Duration
	Sent int
	// Other holds addresses other than Addr that answered at this TTL, in
	// address order: a path that changed during the run, or a per-packet
	// load balancer.
	Other []Responder
	// Unreachable is set when the hop answered destination unreachable
	// (the ICMP code is kept): the path ends there.
	Unreachable bool
	Code        uint8
}

// Responder is an address that answered some of a hop's probes.
type Responder struct {
	Addr     netip.Addr
	Answered int
}

// ErrPermission is wrapped when the raw socket cannot be opened (not root,
// no CAP_NET_RAW).
var ErrPermission = errors.New("raw sockets need root or CAP_NET_RAW")

// Tracer runs traces. It owns one shared raw ICMP socket per address
// family, open only while traces run; many traces may run at once. Its
// sockets are opened in the network namespace of the goroutine that starts
// the first of a batch of overlapping traces. The zero value is not
// usable: use NewTracer.
type Tracer struct {
	v4, v6     *listener // ICMP
	tcp4, tcp6 *listener // TCP, for the destination's answers to SYNs
}

// NewTracer returns a Tracer.
func NewTracer() *Tracer {
	return &Tracer{v4: &listener{}, v6: &listener{v6: true}, tcp4: &listener{tcp: true}, tcp6: &listener{v6: true, tcp: true}}
}

// probe is one probe of a run and what became of it.
type probe struct {
	ttl      int
	sentAt   time.Time
	sent     bool
	answered bool
	from     netip.Addr
	rtt      time.Duration
	kind     replyKind
	code     uint8
}

// Trace traces the path to dst. It returns what it saw when ctx ends
// early, with ctx's error.
func (t *Tracer) Trace(ctx context.Context, dst netip.Addr, cfg Config) (*Trace, error) {
	cfg = cfg.withDefaults()
	dst = dst.Unmap()
	if !dst.IsValid() {
		return nil, fmt.Errorf("invalid destination address")
	}
	// Ask the routing table first, in every mode: a destination this host
	// has no route to, or a prohibit route for, takes probes that never
	// leave (raw sends do not all report it), and the trace would read as
	// a path where no hop answers.
	if _, err := sourceAddr(dst, cfg.Port); err != nil {
		return nil, err
	}
	v6 := dst.Is6()
	l := t.v4
	if v6 {
		l = t.v6
	}
	conn, err := l.acquire()
	if err != nil {
		return nil, err
	}
	defer l.release()

	n := cfg.MaxHops * cfg.Probes
	ch := make(chan arrival, 2*n)
	var (
		sess *session
		send func(p int, ttl int) error
		base uint32 // TCP: the sequence number of probe 0
	)
	switch cfg.Mode {
	case ModeICMP:
		proto := uint8(protoICMP)
		if v6 {
			proto = protoICMPv6
		}
		sess, err = l.register(proto, dst, 0, ch)
		if err != nil {
			return nil, err
		}
		id := sess.key.flow
		to := &net.IPAddr{IP: dst.AsSlice()}
		send = func(p, ttl int) error {
			_, _, err := conn.WriteMsgIP(echoRequest(v6, id, uint16(p)), ttlOOB(v6, ttl), to)
			return err
		}
	case ModeUDP:
		network := "udp4"
		if v6 {
			network = "udp6"
		}
		uc, err := net.ListenUDP(network, nil)
		if err != nil {
			return nil, fmt.Errorf("open UDP socket: %w", err)
		}
		defer uc.Close()
		sport := uint16(uc.LocalAddr().(*net.UDPAddr).Port)
		sess, err = l.register(protoUDP, dst, sport, ch)
		if err != nil {
			return nil, err
		}
		to := &net.UDPAddr{IP: dst.AsSlice(), Port: cfg.Port}
		payload := make([]byte, udpPayloadBase+n)
		send = func(p, ttl int) error {
			_, _, err := uc.WriteMsgUDP(payload[:udpPayloadBase+p], ttlOOB(v6, ttl), to)
			return err
		}
	case ModeTCP:
		src, err := sourceAddr(dst, cfg.Port)
		if err != nil {
			return nil, err
		}
		sport, release, err := reservePort(src)
		if err != nil {
			return nil, err
		}
		defer release()
		tl := t.tcp4
		if v6 {
			tl = t.tcp6
		}
		tconn, err := tl.acquire()
		if err != nil {
			return nil, err
		}
		defer tl.release()
		sess, err = l.register(protoTCP, dst, sport, ch)
		if err != nil {
			return nil, err
		}
		synAcks, err := tl.register(protoTCP, dst, sport, ch)
		if err != nil {
			l.unregister(sess)
			return nil, err
		}
		defer tl.unregister(synAcks)
		base = rand.Uint32()
		to := &net.IPAddr{IP: dst.AsSlice()}
		send = func(p, ttl int) error {
			_, _, err := tconn.WriteMsgIP(tcpSYN(src, dst, sport, uint16(cfg.Port), base+uint32(p)), ttlOOB(v6, ttl), to)
			return err
		}
	default:
		return nil, fmt.Errorf("unknown mode %q", cfg.Mode)
	}
	defer l.unregister(sess)

	r := &run{cfg: cfg, dst: dst, replies: ch, tcpBase: base, probes: make([]probe, n), destTTL: cfg.MaxHops + 1}
	err = r.run(ctx, send)
	tr := r.result()
	tr.FlowID = uint32(sess.key.flow)
	return tr, err
}

type run struct {
	cfg     Config
	dst     netip.Addr
	replies <-chan arrival
	tcpBase uint32
	probes  []probe // index (ttl-1)*Probes + i
	destTTL int     // lowest TTL that reached the destination or an unreachable; MaxHops+1 until known
}

// run sends probes for TTL 1 upwards, a few milliseconds apart, every
// probe of a TTL at once, and collects replies until every probe that
// matters is answered or Wait has passed since the last send.
func (r *run) run(ctx context.Context, send func(p, ttl int) error) error {
	pace := time.NewTicker(r.cfg.Pace)
	defer pace.Stop()
	wait := time.NewTimer(time.Hour)
	wait.Stop()
	defer wait.Stop()
	waiting := false
	nextTTL := 1
	var lastSend time.Time
	var sendErr error
	sendNext := func() {
		for i := range r.cfg.Probes {
			p := (nextTTL-1)*r.cfg.Probes + i
			r.probes[p].ttl = nextTTL
			r.probes[p].sentAt = time.Now()
			if err := send(p, nextTTL); err != nil {
				// A send that fails (no route, a full buffer) is a lost
				// probe; when every send fails the run says why.
				sendErr = err
				continue
			}
			r.probes[p].sent = true
		}
		lastSend = time.Now()
		nextTTL++
	}
	sendNext()
	for {
		sending := nextTTL <= r.cfg.MaxHops && nextTTL < r.destTTL
		var tick <-chan time.Time
		if sending {
			tick = pace.C
		} else {
			if r.done() {
				return nil
			}
			if !waiting {
				wait.Reset(time.Until(lastSend.Add(r.cfg.Wait)))
				waiting = true
			}
		}
		select {
		case <-ctx.Done():
			r.drain()
			return ctx.Err()
		case a := <-r.replies:
			r.record(a)
		case <-tick:
			sendNext()
		case <-wait.C:
			// select picks at random among ready cases: replies that
			// arrived with the deadline still count.
			r.drain()
			if !r.anySent() && sendErr != nil {
				return fmt.Errorf("send probes: %w", sendErr)
			}
			return nil
		}
	}
}

// drain records the replies already delivered.
func (r *run) drain() {
	for {
		select {
		case a := <-r.replies:
			r.record(a)
		default:
			return
		}
	}
}

func (r *run) anySent() bool {
	return slices.ContainsFunc(r.probes, func(p probe) bool { return p.sent })
}

// record books a reply against its probe.
func (r *run) record(a arrival) {
	var p int
	switch a.proto {
	case protoUDP:
		if a.dport != uint16(r.cfg.Port) {
			return
		}
		p = int(a.udpLen) - 8 - udpPayloadBase
	case protoTCP:
		if a.dport != uint16(r.cfg.Port) {
			return
		}
		p = int(a.tcpSeq - r.tcpBase) // wraps to a huge value for foreign segments
		if a.tcpSeq-r.tcpBase >= uint32(len(r.probes)) {
			return
		}
	default:
		p = int(a.seq)
	}
	if p < 0 || p >= len(r.probes) {
		return
	}
	pr := &r.probes[p]
	if !pr.sent || pr.answered {
		return // a duplicate, or a reply quoting a probe we never sent
	}
	pr.answered, pr.from, pr.rtt, pr.kind, pr.code = true, a.from, a.at.Sub(pr.sentAt), a.kind, a.code
	if a.kind == replyEcho || a.kind == replyTCP || a.kind == replyUnreachable || a.from == r.dst {
		r.destTTL = min(r.destTTL, pr.ttl)
	}
}

// done reports whether every sent probe up to the end of the path is
// answered, so waiting longer cannot change the result.
func (r *run) done() bool {
	for _, p := range r.probes {
		if p.sent && p.ttl <= r.destTTL && !p.answered {
			return false
		}
	}
	return true
}

// result turns the probes into hops, cut at the destination (or at the
// hop that answered unreachable), or after Gap silent hops in a row.
func (r *run) result() *Trace {
	tr := &Trace{Dst: r.dst, Mode: r.cfg.Mode}
	last := min(r.destTTL, r.cfg.MaxHops)
	silent := 0
	for ttl := 1; ttl <= last; ttl++ {
		h := HopResult{TTL: ttl}
		count := map[netip.Addr]int{}
		for _, p := range r.probes[(ttl-1)*r.cfg.Probes : ttl*r.cfg.Probes] {
			if !p.sent {
				continue
			}
			h.Sent++
			if !p.answered {
				continue
			}
			h.RTTs = append(h.RTTs, p.rtt)
			count[p.from]++
			if p.kind == replyUnreachable && p.from != r.dst {
				h.Unreachable, h.Code = true, p.code
			}
			if p.from == r.dst {
				tr.Reached = true
			}
		}
		if h.Sent == 0 {
			break // never probed: the run ended before this TTL
		}
		// The address most probes heard from is the hop; ties go to the
		// lower address so that the answer does not depend on map order.
		for a, c := range count {
			if !h.Addr.IsValid() || c > count[h.Addr] || (c == count[h.Addr] && a.Less(h.Addr)) {
				h.Addr = a
			}
		}
		for a, c := range count {
			if a != h.Addr {
				h.Other = append(h.Other, Responder{Addr: a, Answered: c})
			}
		}
		slices.SortFunc(h.Other, func(x, y Responder) int { return x.Addr.Compare(y.Addr) })
		tr.Hops = append(tr.Hops, h)
		if len(h.RTTs) == 0 {
			silent++
			if silent >= r.cfg.Gap {
				break
			}
		} else {
			silent = 0
		}
	}
	return tr
}
