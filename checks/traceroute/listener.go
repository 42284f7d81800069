package traceroute

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
)

// listener is the one raw ICMP socket of a family that every trace of a
// Tracer shares. Its reader hands each reply to the run whose probe it
// quotes, found by session key (protocol, destination, flow), so that any
// number of traces, to the same destination or not, run side by side
// without seeing each other's replies. Process ids play no part: two
// processes each have their own ids and ports in the keys.
//
// The socket is open only while some trace uses it: the first acquire
// opens it (in the network namespace of the calling thread), the last
// release closes it and waits for the reader to stop, so that no socket
// or goroutine outlives the traces.
type listener struct {
	v6  bool
	tcp bool // a raw TCP socket for the destination's SYN-ACKs, not ICMP

	mu       sync.Mutex
	refs     int
	conn     *net.IPConn
	stopped  chan struct{} // closed when conn's reader returns
	sessions map[sessionKey]*session
}

// sessionKey identifies one run's probes: for echo probes the echo id, for
// UDP probes the source port, with the destination and protocol.
type sessionKey struct {
	proto uint8
	dst   netip.Addr
	flow  uint16
}

// arrival is one reply delivered to a run.
type arrival struct {
	reply
	from netip.Addr
	at   time.Time
}

// session is a run's mailbox. Deliveries never block the reader: a run
// that is not keeping up loses replies, as it would on a busy network.
type session struct {
	key sessionKey
	ch  chan arrival
}

// readBuffer is the raw socket's receive buffer: many traces at once can
// bring bursts of thousands of replies.
const readBuffer = 4 << 20

func (l *listener) network() string {
	switch {
	case l.tcp && l.v6:
		return "ip6:tcp"
	case l.tcp:
		return "ip4:tcp"
	case l.v6:
		return "ip6:ipv6-icmp"
	}
	return "ip4:icmp"
}

// acquire opens the socket if needed and returns it; every acquire must be
// paired with a release.
func (l *listener) acquire() (*net.IPConn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.refs == 0 {
		c, err := net.ListenPacket(l.network(), "")
		if errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("%w: open raw socket %s: %w", ErrPermission, l.network(), err)
		}
		if err != nil {
			return nil, fmt.Errorf("open raw socket %s: %w", l.network(), err)
		}
		conn := c.(*net.IPConn)
		_ = conn.SetReadBuffer(readBuffer)
		enableTimestamps(conn)
		if l.sessions == nil {
			l.sessions = make(map[sessionKey]*session)
		}
		l.conn, l.stopped = conn, make(chan struct{})
		go l.read(conn, l.stopped)
	}
	l.refs++
	return l.conn, nil
}

func (l *listener) release() {
	l.mu.Lock()
	l.refs--
	if l.refs > 0 {
		l.mu.Unlock()
		return
	}
	conn, stopped := l.conn, l.stopped
	l.conn, l.stopped = nil, nil
	l.mu.Unlock()
	conn.Close()
	<-stopped
}

func (l *listener) read(conn *net.IPConn, stopped chan struct{}) {
	defer close(stopped)
	buf := make([]byte, 1500)
	oob := make([]byte, 128)
	for {
		n, oobn, _, from, err := conn.ReadMsgIP(buf, oob)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // a transient error (ENOBUFS...) loses one packet, not the socket
		}
		at := receivedAt(oob[:oobn])
		pkt := buf[:n]
		if !l.v6 {
			// Unlike ReadFrom, ReadMsg leaves the IPv4 header on.
			if len(pkt) < 20 || pkt[0]>>4 != 4 || len(pkt) < int(pkt[0]&0x0f)*4 {
				continue
			}
			pkt = pkt[int(pkt[0]&0x0f)*4:]
		}
		src, ok := netip.AddrFromSlice(from.IP)
		if !ok {
			continue
		}
		var r reply
		if l.tcp {
			r, err = parseTCPReply(src.Unmap(), pkt)
		} else {
			r, err = parseReply(l.v6, src.Unmap(), pkt)
		}
		if err != nil {
			continue
		}
		key := sessionKey{proto: r.proto, dst: r.dst.Unmap()}
		if r.proto == protoUDP || r.proto == protoTCP {
			key.flow = r.sport
		} else {
			key.flow = r.id
		}
		l.mu.Lock()
		s := l.sessions[key]
		l.mu.Unlock()
		if s == nil {
			continue
		}
		select {
		case s.ch <- arrival{reply: r, from: src.Unmap(), at: at}:
		default:
		}
	}
}

// register opens a session for a run, delivering to ch. For echo probes
// flow is 0 and a free echo id is chosen; for UDP and TCP it is the run's
// source port.
func (l *listener) register(proto uint8, dst netip.Addr, flow uint16, ch chan arrival) (*session, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	key := sessionKey{proto: proto, dst: dst, flow: flow}
	if flow == 0 {
		for range 64 {
			key.flow = uint16(rand.UintN(0xfffe)) + 1
			if l.sessions[key] == nil {
				break
			}
		}
	}
	if l.sessions[key] != nil {
		return nil, fmt.Errorf("no free flow id for %s", dst)
	}
	s := &session{key: key, ch: ch}
	l.sessions[key] = s
	return s, nil
}

func (l *listener) unregister(s *session) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sessions[s.key] == s {
		delete(l.sessions, s.key)
	}
}
