package icmpcheck

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"

	"golang.org/x/net/icmp"

	"github.com/picketnet/picket/checks/neterr"
)

// unreachWatch watches, on a raw socket of its own, for the destination
// unreachable and time exceeded messages that routers on the way (or the
// target) send back for a run's echo requests. pro-bing reads only echo replies, so without
// it a router saying "no route" (ping's "Destination Net Unreachable")
// would look the same as a host that silently drops every packet.
//
// A raw socket receives a copy of every ICMP message the host gets, so
// this works beside pro-bing's own raw socket; with the unprivileged
// datagram socket the kernel reports these errors only to that socket,
// and there is nothing to watch.
type unreachWatch struct {
	conn    *icmp.PacketConn
	v6      bool
	dst     netip.Addr
	id      uint16
	stopped chan struct{}

	mu    sync.Mutex
	count int        // echo requests answered with destination unreachable or time exceeded
	from  netip.Addr // the sender of the first of them
	typ   uint8      // its ICMP type
	code  uint8
}

// ICMP message types this file reads.
const (
	icmp4Unreachable  = 3
	icmp6Unreachable  = 1
	icmp4TimeExceeded = 11
	icmp6TimeExceeded = 3
	icmp4Echo         = 8
	icmp6Echo         = 128
	protoICMP         = 1
	protoICMPv6       = 58
)

// watchUnreachable opens the raw socket and starts reading; stop must be
// called to close it.
func watchUnreachable(dst netip.Addr, id int) (*unreachWatch, error) {
	network, laddr := "ip4:icmp", "0.0.0.0"
	if dst.Is6() {
		network, laddr = "ip6:ipv6-icmp", "::"
	}
	conn, err := icmp.ListenPacket(network, laddr)
	if err != nil {
		return nil, err
	}
	w := &unreachWatch{conn: conn, v6: dst.Is6(), dst: dst, id: uint16(id), stopped: make(chan struct{})}
	go w.read()
	return w, nil
}

func (w *unreachWatch) read() {
	defer close(w.stopped)
	buf := make([]byte, 1500)
	for {
		n, peer, err := w.conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		typ, code, ok := w.quotesOurs(buf[:n])
		if !ok {
			continue
		}
		from, _ := netip.AddrFromSlice(peer.(*net.IPAddr).IP)
		w.mu.Lock()
		if w.count == 0 {
			w.from, w.typ, w.code = from.Unmap(), typ, code
		}
		w.count++
		w.mu.Unlock()
	}
}

// quotesOurs reports whether msg (an ICMP message, without the IPv4
// header) is a destination unreachable or time exceeded that quotes one of
// this run's echo requests, and returns its type and code.
func (w *unreachWatch) quotesOurs(msg []byte) (typ, code uint8, ok bool) {
	if len(msg) < 8 {
		return 0, 0, false
	}
	quoted := msg[8:] // the header of the probe, then at least 8 bytes of it
	var proto uint8
	var dst netip.Addr
	if w.v6 {
		if (msg[0] != icmp6Unreachable && msg[0] != icmp6TimeExceeded) || len(quoted) < 40+8 {
			return 0, 0, false
		}
		proto, dst = quoted[6], netip.AddrFrom16([16]byte(quoted[24:40]))
		quoted = quoted[40:]
	} else {
		if (msg[0] != icmp4Unreachable && msg[0] != icmp4TimeExceeded) || len(quoted) < 20 {
			return 0, 0, false
		}
		ihl := int(quoted[0]&0x0f) * 4
		if quoted[0]>>4 != 4 || ihl < 20 || len(quoted) < ihl+8 {
			return 0, 0, false
		}
		proto, dst = quoted[9], netip.AddrFrom4([4]byte(quoted[16:20]))
		quoted = quoted[ihl:]
	}
	echo, wantProto := uint8(icmp4Echo), uint8(protoICMP)
	if w.v6 {
		echo, wantProto = icmp6Echo, protoICMPv6
	}
	if proto != wantProto || dst != w.dst || quoted[0] != echo || binary.BigEndian.Uint16(quoted[4:6]) != w.id {
		return 0, 0, false
	}
	return msg[0], msg[1], true
}

// stop closes the socket and returns how many echo requests were
// answered unreachable or time exceeded, by whom, and what the first of
// those answers said. It is called once pro-bing has waited for the
// replies, so the errors, which come back as fast as replies would, have
// been read.
func (w *unreachWatch) stop() (count int, from netip.Addr, text string) {
	w.conn.Close()
	<-w.stopped
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.count == 0 {
		return 0, netip.Addr{}, ""
	}
	return w.count, w.from, answerText(w.v6, w.typ, w.code)
}

// answerText says what an ICMP error of type typ and code answered, as
// ping does.
func answerText(v6 bool, typ, code uint8) string {
	if (v6 && typ == icmp6TimeExceeded) || (!v6 && typ == icmp4TimeExceeded) {
		// Code 0 is the TTL running out on the way; 1 is fragment
		// reassembly timing out at the destination.
		switch {
		case code == 1:
			return "fragment reassembly time exceeded"
		case v6:
			return "hop limit exceeded in transit (a routing loop?)"
		}
		return "time to live exceeded in transit (a routing loop?)"
	}
	text, mark := neterr.Unreachable(v6, code)
	if mark == "" {
		return text
	}
	return text + " (" + mark + ")"
}
