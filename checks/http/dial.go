package httpcheck

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/picketnet/picket/checks/netdial"
	"github.com/picketnet/picket/results"
)

// tracker follows a run through its phases: it knows which layer a failure
// belongs to and adds up the time spent in each phase. Its methods are
// called from net/http's and quic-go's goroutines, hence the lock.
type tracker struct {
	mu        sync.Mutex
	phase     results.Layer
	dns       time.Duration
	connect   time.Duration
	tls       time.Duration
	ttfb      time.Duration
	tlsStart  time.Time
	reqStart  time.Time
	firstByte time.Time
	addr      string
	connected bool
}

func (t *tracker) enter(l results.Layer) {
	t.mu.Lock()
	t.phase = l
	t.mu.Unlock()
}

func (t *tracker) current() results.Layer {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.phase
}

func (t *tracker) add(d *time.Duration, v time.Duration) {
	t.mu.Lock()
	*d += v
	t.mu.Unlock()
}

func (t *tracker) tlsStarted() {
	t.mu.Lock()
	t.phase, t.tlsStart = results.LayerTLS, time.Now()
	t.mu.Unlock()
}

func (t *tracker) tlsDone(err error) {
	t.mu.Lock()
	t.tls += time.Since(t.tlsStart)
	if err == nil {
		t.phase = results.LayerHTTP
	}
	t.mu.Unlock()
}

// gotConn marks the start of a request on a ready connection to addr.
func (t *tracker) gotConn(addr net.Addr) {
	t.mu.Lock()
	t.phase, t.reqStart = results.LayerHTTP, time.Now()
	if ip := addrIP(addr); ip != "" {
		t.addr, t.connected = ip, true
	}
	t.mu.Unlock()
}

func (t *tracker) gotFirstByte() {
	t.mu.Lock()
	t.firstByte = time.Now()
	if !t.reqStart.IsZero() {
		t.ttfb += t.firstByte.Sub(t.reqStart)
	}
	t.mu.Unlock()
}

func (t *tracker) setAddr(addr net.Addr) {
	if ip := addrIP(addr); ip != "" {
		t.mu.Lock()
		t.addr, t.connected = ip, true
		t.mu.Unlock()
	}
}

// tried records an address a connect is attempted to, so that a run that
// never connects still names the address it failed on.
func (t *tracker) tried(a netip.Addr) {
	if !a.IsValid() {
		return
	}
	t.mu.Lock()
	if !t.connected {
		t.addr = a.String()
	}
	t.mu.Unlock()
}

// address is the address the run talked to, or last tried to.
func (t *tracker) address() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.addr
}

// phases returns the timings so far; transfer runs from the last first
// byte to end.
func (t *tracker) phases(end time.Time) results.Phases {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := results.Phases{
		DNSMS:     results.Millis(t.dns),
		ConnectMS: results.Millis(t.connect),
		TLSMS:     results.Millis(t.tls),
		TTFBMS:    results.Millis(t.ttfb),
	}
	if !t.firstByte.IsZero() && !end.IsZero() {
		p.TransferMS = results.Millis(end.Sub(t.firstByte))
	}
	return p
}

func addrIP(a net.Addr) string {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.AddrPort().Addr().Unmap().String()
	case *net.UDPAddr:
		return a.AddrPort().Addr().Unmap().String()
	case nil:
		return ""
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap().String()
	}
	return ""
}

// dialer opens every connection of one run: it resolves and connects
// through netdial (family order, Happy Eyeballs, the target policy on
// every address), records timings in the tracker, and keeps every socket
// so that the run can close them all when it ends, whatever net/http or
// quic-go still hold.
type dialer struct {
	netDialer netdial.Dialer
	tr        *tracker
	// runCtx bounds every dial, including the ones net/http detaches from
	// a request's context.
	runCtx context.Context

	mu      sync.Mutex
	closed  bool
	closers []io.Closer
}

// keep registers c to be closed at the end of the run; after the end it
// closes c at once and reports false.
func (d *dialer) keep(c io.Closer) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		c.Close()
		return false
	}
	d.closers = append(d.closers, c)
	return true
}

// closeAll closes every socket of the run, last opened first.
func (d *dialer) closeAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	for i := len(d.closers) - 1; i >= 0; i-- {
		d.closers[i].Close()
	}
	d.closers = nil
}

var errRunOver = errors.New("the run is over")

// bound returns a context done when either ctx or the run is done.
func (d *dialer) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(d.runCtx, cancel)
	return ctx, func() { stop(); cancel() }
}

// resolve returns the addresses of host in the order they are to be
// tried. An IP literal is its own answer, with no DNS phase.
func (d *dialer) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if _, err := netip.ParseAddr(host); err != nil {
		d.tr.enter(results.LayerDNS)
	}
	addrs, took, err := d.netDialer.Lookup(ctx, "ip", host)
	d.tr.add(&d.tr.dns, took)
	return addrs, err
}

// DialContext is the run's net/http dial function.
func (d *dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	ctx, cancel := d.bound(ctx)
	defer cancel()
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	addrs, err := d.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	d.tr.enter(results.LayerConnect)
	// Named before the connect, since net/http may return a timed-out
	// request before the dial it started has come back.
	d.tr.tried(addrs[0])
	start := time.Now()
	conn, addr, err := d.netDialer.Connect(ctx, network, addrs, port)
	d.tr.add(&d.tr.connect, time.Since(start))
	if err != nil {
		d.tr.tried(addr)
		return nil, err
	}
	if !d.keep(conn) {
		return nil, errRunOver
	}
	d.tr.setAddr(conn.RemoteAddr())
	return conn, nil
}

// quicFallbackAfter is how long an HTTP/3 attempt waits for the server's
// first datagram before the next address is tried: a few of quic-go's
// Initial retransmissions, and several round trips of the longest paths.
const quicFallbackAfter = time.Second

// dialQUIC opens a QUIC connection for HTTP/3 to host:port. The addresses
// are tried one after the other (QUIC has no cheap connect to race); an
// address that has sent back no QUIC datagram after quicFallbackAfter is
// given up for the next one, as a browser falls back past a broken IPv6,
// and the last address gets the rest of the run. Each attempt gets its own
// connected UDP socket, so an ICMP port unreachable surfaces as a refusal
// instead of a silent timeout.
//
// Timings: connect runs from the first Initial packet sent to the first
// datagram received from the server (one round trip, like a TCP
// handshake); tls runs from there until the QUIC handshake completes.
func (d *dialer) dialQUIC(ctx context.Context, host, port string, tlsConf *tls.Config) (*quic.Conn, error) {
	ctx, cancel := d.bound(ctx)
	defer cancel()
	addrs, err := d.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("bad port %q", port)
	}
	var first error
	for i, a := range addrs {
		var answerWithin time.Duration // none for the last address
		if i < len(addrs)-1 {
			answerWithin = quicFallbackAfter
		}
		conn, err := d.dialQUICAddr(ctx, netip.AddrPortFrom(a, uint16(p)), tlsConf, answerWithin)
		if err == nil {
			return conn, nil
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, first
}

// dialQUICAddr makes one attempt at ap. With answerWithin > 0 the attempt
// is given up when no QUIC datagram has come back by then.
func (d *dialer) dialQUICAddr(ctx context.Context, ap netip.AddrPort, tlsConf *tls.Config, answerWithin time.Duration) (*quic.Conn, error) {
	d.tr.enter(results.LayerConnect)
	d.tr.tried(ap.Addr())
	if err := d.netDialer.Policy.Check(ap.Addr()); err != nil {
		return nil, err
	}
	udp, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(ap))
	if err != nil {
		return nil, err
	}
	// A router's host or network unreachable then ends the attempt at
	// once, as it ends a TCP connect, instead of a timeout.
	netdial.ReportICMPErrors(udp)
	start := time.Now()
	var once sync.Once
	answered := func() {
		once.Do(func() {
			d.tr.add(&d.tr.connect, time.Since(start))
			d.tr.tlsStarted()
		})
	}
	frc := &firstReadConn{conn: udp, first: answered}
	qt := &quic.Transport{Conn: frc}
	if !d.keep(udp) || !d.keep(qt) {
		return nil, errRunOver
	}
	// Datagrams that fit the IPv6 minimum MTU (1280 bytes, less 48 of
	// IPv6 and UDP headers) until path MTU discovery finds more: quic-go's
	// default of 1280 bytes of payload does not cross a 1280-byte path
	// (a tunnel, an IPv6 minimum link), and the handshake would time out
	// where a browser's, which starts at 1232 or 1250 bytes, succeeds.
	cfg := &quic.Config{InitialPacketSize: 1232}
	if dl, ok := ctx.Deadline(); ok {
		// Let the context, not quic-go's default, decide when the handshake
		// has taken too long, so that the failure carries the run's phase.
		cfg.HandshakeIdleTimeout = time.Until(dl) + time.Second
		cfg.MaxIdleTimeout = cfg.HandshakeIdleTimeout
	}
	// quic-go uses the context for the handshake only, so cancelling it
	// once Dial has returned leaves the connection be.
	attempt, cancelAttempt := context.WithCancel(ctx)
	defer cancelAttempt()
	gaveUp := false
	if answerWithin > 0 {
		timer := time.AfterFunc(answerWithin, func() {
			if !frc.seen.Load() {
				cancelAttempt()
			}
		})
		defer timer.Stop()
	}
	conn, err := qt.Dial(attempt, net.UDPAddrFromAddrPort(ap), tlsConf, cfg)
	if err != nil && ctx.Err() == nil && attempt.Err() != nil {
		gaveUp = true
	}
	if d.tr.current() != results.LayerTLS {
		// Not a datagram back: all of it was connect.
		once.Do(func() { d.tr.add(&d.tr.connect, time.Since(start)) })
		if err == nil {
			d.tr.tlsStarted()
		}
	}
	if err != nil {
		if d.tr.current() == results.LayerTLS {
			d.tr.tlsDone(err)
			return nil, err
		}
		// Nothing came back: say what that means for HTTP/3, since a
		// server that serves HTTPS over TCP alone is the common case.
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			return nil, fmt.Errorf("no HTTP/3: nothing listens on UDP %s (ICMP port unreachable): %w", ap, err)
		case ctx.Err() != nil || gaveUp:
			other := ""
			if n := frc.notQUIC.Load(); n > 0 {
				other = fmt.Sprintf(" (%d datagrams that are not QUIC came back: another service listens there)", n)
			}
			if gaveUp {
				// Our own fallback: a timeout of that address.
				return nil, fmt.Errorf("no HTTP/3: no answer to QUIC Initial packets from UDP %s in %s%s: %w", ap, answerWithin, other, os.ErrDeadlineExceeded)
			}
			return nil, fmt.Errorf("no HTTP/3: no answer to QUIC Initial packets from UDP %s%s: %w", ap, other, err)
		}
		return nil, err
	}
	d.tr.tlsDone(nil)
	if !d.keep(quicCloser{conn}) {
		return nil, errRunOver
	}
	d.tr.setAddr(conn.RemoteAddr())
	return conn, nil
}

type quicCloser struct{ c *quic.Conn }

func (q quicCloser) Close() error { return q.c.CloseWithError(0, "") }

// firstReadConn is the UDP socket of one QUIC connection. It tells when
// the server's first datagram arrives, and writes to its connected peer.
// It wraps rather than embeds *net.UDPConn so that quic-go does not see the
// batch (OOB) methods and reads through ReadFrom: one connection, one
// request, no need for batching.
type firstReadConn struct {
	conn  *net.UDPConn
	first func()
	// seen is set at the server's first datagram; notQUIC counts the
	// datagrams before it that came
	// back in no QUIC version's long header: another service on the port,
	// which is no sign of a server.
	seen    atomic.Bool
	notQUIC atomic.Int32
}

// isQUICLongHeader reports whether a datagram starts with a QUIC long
// header of a known version, as a server's first answer (Initial, Retry or
// Version Negotiation) does.
func isQUICLongHeader(p []byte) bool {
	if len(p) < 5 || p[0]&0x80 == 0 {
		return false
	}
	switch binary.BigEndian.Uint32(p[1:5]) {
	case 0, // Version Negotiation
		0x00000001, // QUIC v1, RFC 9000
		0x6b3343cf: // QUIC v2, RFC 9369
		return true
	}
	return false
}

func (c *firstReadConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.conn.ReadFrom(p)
		if errors.Is(err, syscall.EMSGSIZE) {
			// A packet too big for one of quic-go's path MTU probes,
			// reported because of ReportICMPErrors: news about the path,
			// not a failure of the connection (quic-go takes the probe
			// as lost).
			continue
		}
		if err == nil && !c.seen.Load() {
			if isQUICLongHeader(p[:n]) {
				c.seen.Store(true)
				c.first()
			} else {
				// Not the server's: quic-go drops it, and the connect goes on.
				c.notQUIC.Add(1)
			}
		}
		return n, addr, err
	}
}

// WriteTo writes to the connected peer: net refuses an address on a
// connected socket.
func (c *firstReadConn) WriteTo(p []byte, _ net.Addr) (int, error) { return c.conn.Write(p) }

func (c *firstReadConn) Close() error                       { return c.conn.Close() }
func (c *firstReadConn) LocalAddr() net.Addr                { return c.conn.LocalAddr() }
func (c *firstReadConn) SetDeadline(t time.Time) error      { return c.conn.SetDeadline(t) }
func (c *firstReadConn) SetReadDeadline(t time.Time) error  { return c.conn.SetReadDeadline(t) }
func (c *firstReadConn) SetWriteDeadline(t time.Time) error { return c.conn.SetWriteDeadline(t) }

// SetReadBuffer, SetWriteBuffer and SyscallConn let quic-go size the
// socket buffers and set DF, as it does on a plain *net.UDPConn.
func (c *firstReadConn) SetReadBuffer(n int) error             { return c.conn.SetReadBuffer(n) }
func (c *firstReadConn) SetWriteBuffer(n int) error            { return c.conn.SetWriteBuffer(n) }
func (c *firstReadConn) SyscallConn() (syscall.RawConn, error) { return c.conn.SyscallConn() }
