package traceroute

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ICMP types this package sends or reads.
const (
	icmp4EchoReply    = 0
	icmp4Unreachable  = 3
	icmp4EchoRequest  = 8
	icmp4TimeExceeded = 11
	icmp6Unreachable  = 1
	icmp6TimeExceeded = 3
	icmp6EchoRequest  = 128
	icmp6EchoReply    = 129

	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoICMPv6 = 58
)

// echoPayloadLen is the payload of an echo probe: the word that keeps the
// checksum constant, then padding.
const echoPayloadLen = 24

// echoRequest builds an ICMP (v6: ICMPv6) echo request whose checksum is
// the same for every seq of one id. Load balancers that hash on the first
// bytes of the ICMP header (type, code, checksum) then keep every probe of
// a run on one path, which is the point of a Paris traceroute: the payload
// starts with ^seq, so seq + ^seq adds 0xffff (one's complement zero) to
// the sum whatever seq is. For IPv6 the kernel fills the checksum with the
// pseudo-header included; the pseudo-header is constant within a run, so
// the result is constant as well.
func echoRequest(v6 bool, id, seq uint16) []byte {
	b := make([]byte, 8+echoPayloadLen)
	b[0] = icmp4EchoRequest
	if v6 {
		b[0] = icmp6EchoRequest
	}
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], seq)
	binary.BigEndian.PutUint16(b[8:], ^seq)
	for i := 10; i < len(b); i++ {
		b[i] = byte(i) // a fixed pattern, recognisable in captures
	}
	if !v6 {
		binary.BigEndian.PutUint16(b[2:], checksum(b))
	}
	return b
}

// checksum is the Internet checksum (RFC 1071) of b.
func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

// udpPayloadBase is the UDP payload length of probe 0. Probe i carries
// udpPayloadBase+i bytes: the UDP length field, which every ICMP error
// quotes, names the probe while the ports (the flow) stay fixed. The
// checksum is not used for this, unlike in the original Paris traceroute,
// because with checksum offload the kernel may put only a partial sum in
// the packet that a router quotes back.
const udpPayloadBase = 12

// ttlOOB returns the control message that sets the TTL (IPv6: hop limit)
// of one datagram, so that probes of many TTLs can share one socket
// without a setsockopt per packet.
func ttlOOB(v6 bool, ttl int) []byte {
	b := make([]byte, unix.CmsgSpace(4))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = unix.IPPROTO_IP, unix.IP_TTL
	if v6 {
		h.Level, h.Type = unix.IPPROTO_IPV6, unix.IPV6_HOPLIMIT
	}
	h.SetLen(unix.CmsgLen(4))
	binary.NativeEndian.PutUint32(b[unix.CmsgLen(0):], uint32(ttl))
	return b
}

// replyKind says what an ICMP message tells about a probe.
type replyKind uint8

const (
	replyTimeExceeded replyKind = iota + 1 // a router on the way
	replyUnreachable                       // a router or the destination refused it
	replyEcho                              // the destination answered an echo
	replyTCP                               // the destination answered a SYN (SYN-ACK or RST)
)

// reply is what an ICMP message says about the probe it answers: the
// kind of message and the probe's identity as quoted back (or, for an echo
// reply, as echoed).
type reply struct {
	kind  replyKind
	code  uint8
	proto uint8      // protocol of the probe: protoICMP/protoICMPv6, protoUDP, protoTCP
	dst   netip.Addr // the probe's destination
	// For echo probes: id and seq. For UDP probes: source port,
	// destination port, and the UDP length. For TCP probes: the ports and
	// the SYN's sequence number.
	id, seq      uint16
	sport, dport uint16
	udpLen       uint16
	tcpSeq       uint32
}

var errNotForUs = errors.New("not a reply to a traceroute probe")

// parseReply reads an ICMP message as a raw socket delivers it (without
// the IP header). from is the sender, used as the destination of an echo
// reply. Only messages that can answer a probe are accepted; anything else
// is errNotForUs. The bytes are untrusted: every length is checked.
func parseReply(v6 bool, from netip.Addr, b []byte) (reply, error) {
	if len(b) < 8 {
		return reply{}, errNotForUs
	}
	var r reply
	typ, code := b[0], b[1]
	r.code = code
	switch {
	case !v6 && typ == icmp4EchoReply, v6 && typ == icmp6EchoReply:
		r.kind = replyEcho
		r.proto = protoICMP
		if v6 {
			r.proto = protoICMPv6
		}
		r.dst = from
		r.id = binary.BigEndian.Uint16(b[4:])
		r.seq = binary.BigEndian.Uint16(b[6:])
		return r, nil
	case !v6 && typ == icmp4TimeExceeded, v6 && typ == icmp6TimeExceeded:
		r.kind = replyTimeExceeded
	case !v6 && typ == icmp4Unreachable, v6 && typ == icmp6Unreachable:
		r.kind = replyUnreachable
	default:
		return reply{}, errNotForUs
	}
	// The quoted packet follows the 8-byte ICMP header.
	q := b[8:]
	var transport []byte
	if v6 {
		if len(q) < 40 || q[0]>>4 != 6 {
			return reply{}, errNotForUs
		}
		r.proto = q[6]
		r.dst = netip.AddrFrom16([16]byte(q[24:40]))
		transport = q[40:]
	} else {
		if len(q) < 20 || q[0]>>4 != 4 {
			return reply{}, errNotForUs
		}
		ihl := int(q[0]&0x0f) * 4
		if ihl < 20 || len(q) < ihl {
			return reply{}, errNotForUs
		}
		r.proto = q[9]
		r.dst = netip.AddrFrom4([4]byte(q[16:20]))
		transport = q[ihl:]
	}
	if len(transport) < 8 {
		return reply{}, errNotForUs
	}
	switch r.proto {
	case protoICMP, protoICMPv6:
		wantProto, wantType := uint8(protoICMP), byte(icmp4EchoRequest)
		if v6 {
			wantProto, wantType = protoICMPv6, icmp6EchoRequest
		}
		if r.proto != wantProto || transport[0] != wantType {
			return reply{}, errNotForUs
		}
		r.id = binary.BigEndian.Uint16(transport[4:])
		r.seq = binary.BigEndian.Uint16(transport[6:])
	case protoUDP:
		r.sport = binary.BigEndian.Uint16(transport[0:])
		r.dport = binary.BigEndian.Uint16(transport[2:])
		r.udpLen = binary.BigEndian.Uint16(transport[4:])
	case protoTCP:
		r.sport = binary.BigEndian.Uint16(transport[0:])
		r.dport = binary.BigEndian.Uint16(transport[2:])
		r.tcpSeq = binary.BigEndian.Uint32(transport[4:])
	default:
		return reply{}, errNotForUs
	}
	return r, nil
}

// tcpOptMSS is the option of every SYN probe: a SYN without options looks
// forged to some firewalls.
var tcpOptMSS = []byte{2, 4, 0x05, 0xb4} // MSS 1460

// tcpSYN builds a TCP SYN from src:sport to dst:dport with sequence number
// seq, its checksum computed over the pseudo-header (raw sockets leave it
// to us).
func tcpSYN(src, dst netip.Addr, sport, dport uint16, seq uint32) []byte {
	b := make([]byte, 20+len(tcpOptMSS))
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint32(b[4:], seq)
	b[12] = byte(len(b)/4) << 4
	b[13] = 0x02 // SYN
	binary.BigEndian.PutUint16(b[14:], 64240)
	copy(b[20:], tcpOptMSS)
	binary.BigEndian.PutUint16(b[16:], checksum(append(pseudoHeader(src, dst, protoTCP, len(b)), b...)))
	return b
}

// pseudoHeader is the IPv4 or IPv6 pseudo-header that transport checksums
// cover.
func pseudoHeader(src, dst netip.Addr, proto uint8, length int) []byte {
	if src.Is4() {
		s, d := src.As4(), dst.As4()
		h := make([]byte, 12)
		copy(h[0:], s[:])
		copy(h[4:], d[:])
		h[9] = proto
		binary.BigEndian.PutUint16(h[10:], uint16(length))
		return h
	}
	s, d := src.As16(), dst.As16()
	h := make([]byte, 40)
	copy(h[0:], s[:])
	copy(h[16:], d[:])
	binary.BigEndian.PutUint32(h[32:], uint32(length))
	h[39] = proto
	return h
}

// parseTCPReply reads a TCP segment as a raw TCP socket delivers it
// (without the IP header) from from: a SYN-ACK or RST answering a SYN
// probe, which acknowledges the probe's sequence number plus one.
func parseTCPReply(from netip.Addr, b []byte) (reply, error) {
	if len(b) < 20 {
		return reply{}, errNotForUs
	}
	flags := b[13]
	const (
		syn, rst, ack = 0x02, 0x04, 0x10
	)
	if flags&ack == 0 || (flags&(syn|rst) == 0) {
		return reply{}, errNotForUs
	}
	return reply{
		kind:   replyTCP,
		proto:  protoTCP,
		dst:    from,
		sport:  binary.BigEndian.Uint16(b[2:]), // the probe's source port
		dport:  binary.BigEndian.Uint16(b[0:]),
		tcpSeq: binary.BigEndian.Uint32(b[8:]) - 1,
	}, nil
}
