package traceroute

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

// Every echo probe of a run has the same checksum, and a valid one.
func TestEchoRequestConstantChecksum(t *testing.T) {
	var first uint16
	for i, seq := range []uint16{0, 1, 2, 89, 255, 256, 0x7fff, 0xfffe, 0xffff} {
		b := echoRequest(false, 0x1234, seq)
		if got := binary.BigEndian.Uint16(b[6:]); got != seq {
			t.Fatalf("seq %d encoded as %d", seq, got)
		}
		if checksum(b) != 0 {
			t.Fatalf("seq %d: checksum of the whole message is %#x, want 0 (valid)", seq, checksum(b))
		}
		sum := binary.BigEndian.Uint16(b[2:])
		if i == 0 {
			first = sum
		} else if sum != first {
			t.Fatalf("seq %d: checksum %#x differs from %#x: the flow would change", seq, sum, first)
		}
	}
	// IPv6: the kernel computes the checksum, over a constant pseudo
	// header; what we control, the sum of the message, must be constant.
	base := checksum(echoRequest(true, 7, 0))
	for _, seq := range []uint16{1, 300, 0xffff} {
		if got := checksum(echoRequest(true, 7, seq)); got != base {
			t.Fatalf("v6 seq %d: message sum %#x, want %#x", seq, got, base)
		}
	}
}

// quote builds an ICMP error of type typ quoting a probe's IP header and
// the first 8 bytes of its transport header.
func quote(v6 bool, typ, code byte, proto byte, dst netip.Addr, transport []byte) []byte {
	b := []byte{typ, code, 0, 0, 0, 0, 0, 0}
	if v6 {
		h := make([]byte, 40)
		h[0] = 6 << 4
		h[6] = proto
		d := dst.As16()
		copy(h[24:], d[:])
		b = append(b, h...)
	} else {
		h := make([]byte, 20)
		h[0] = 4<<4 | 5
		h[9] = proto
		d := dst.As4()
		copy(h[16:], d[:])
		b = append(b, h...)
	}
	return append(b, transport...)
}

func TestParseReply(t *testing.T) {
	dst4 := netip.MustParseAddr("198.18.4.2")
	dst6 := netip.MustParseAddr("2001:db8:4::2")
	router := netip.MustParseAddr("198.18.1.2")
	udp := []byte{0x9c, 0x40, 0x82, 0x9a, 0, 30, 0xab, 0xcd} // 40000 -> 33434, len 30
	echo4 := echoRequest(false, 0x1234, 7)
	echo6 := echoRequest(true, 0x1234, 7)
	tests := []struct {
		name string
		v6   bool
		from netip.Addr
		in   []byte
		want reply
		ok   bool
	}{
		{"v4 time exceeded, udp", false, router, quote(false, 11, 0, protoUDP, dst4, udp),
			reply{kind: replyTimeExceeded, proto: protoUDP, dst: dst4, sport: 40000, dport: 33434, udpLen: 30}, true},
		{"v4 port unreachable", false, dst4, quote(false, 3, 3, protoUDP, dst4, udp),
			reply{kind: replyUnreachable, code: 3, proto: protoUDP, dst: dst4, sport: 40000, dport: 33434, udpLen: 30}, true},
		{"v4 time exceeded, echo", false, router, quote(false, 11, 0, protoICMP, dst4, echo4[:8]),
			reply{kind: replyTimeExceeded, proto: protoICMP, dst: dst4, id: 0x1234, seq: 7}, true},
		{"v4 echo reply", false, dst4, []byte{0, 0, 0, 0, 0x12, 0x34, 0, 7},
			reply{kind: replyEcho, proto: protoICMP, dst: dst4, id: 0x1234, seq: 7}, true},
		{"v6 time exceeded, udp", true, router, quote(true, 3, 0, protoUDP, dst6, udp),
			reply{kind: replyTimeExceeded, proto: protoUDP, dst: dst6, sport: 40000, dport: 33434, udpLen: 30}, true},
		{"v6 time exceeded, echo", true, router, quote(true, 3, 0, protoICMPv6, dst6, echo6[:8]),
			reply{kind: replyTimeExceeded, proto: protoICMPv6, dst: dst6, id: 0x1234, seq: 7}, true},
		{"v6 echo reply", true, dst6, []byte{129, 0, 0, 0, 0x12, 0x34, 0, 7},
			reply{kind: replyEcho, proto: protoICMPv6, dst: dst6, id: 0x1234, seq: 7}, true},
		{"v4 echo request (not a reply)", false, dst4, echo4, reply{}, false},
		{"quoting an echo reply", false, router, quote(false, 11, 0, protoICMP, dst4, []byte{0, 0, 0, 0, 0x12, 0x34, 0, 7}), reply{}, false},
		{"v4 time exceeded, tcp", false, router, quote(false, 11, 0, protoTCP, dst4, []byte{0x9c, 0x40, 1, 0xbb, 0xde, 0xad, 0xbe, 0xef}),
			reply{kind: replyTimeExceeded, proto: protoTCP, dst: dst4, sport: 40000, dport: 443, tcpSeq: 0xdeadbeef}, true},
		{"quoting SCTP", false, router, quote(false, 11, 0, 132, dst4, udp), reply{}, false},
		{"truncated transport", false, router, quote(false, 11, 0, protoUDP, dst4, udp[:7]), reply{}, false},
		{"truncated header", false, router, quote(false, 11, 0, protoUDP, dst4, nil)[:20], reply{}, false},
		{"v6 message on v4 socket", false, router, quote(true, 3, 0, protoUDP, dst6, udp), reply{}, false},
		{"short", false, router, []byte{11, 0, 0}, reply{}, false},
		{"bad ihl", false, router, func() []byte { b := quote(false, 11, 0, protoUDP, dst4, udp); b[8] = 4<<4 | 15; return b }(), reply{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseReply(tt.v6, tt.from, tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func FuzzParseReply(f *testing.F) {
	dst := netip.MustParseAddr("198.18.4.2")
	f.Add(false, quote(false, 11, 0, protoUDP, dst, []byte{1, 2, 3, 4, 0, 30, 0, 0}))
	f.Add(false, quote(false, 3, 3, protoICMP, dst, echoRequest(false, 1, 2)))
	f.Add(true, quote(true, 3, 0, protoICMPv6, netip.MustParseAddr("2001:db8::1"), echoRequest(true, 1, 2)))
	f.Add(true, []byte{129, 0, 0, 0, 0, 1, 0, 2})
	f.Add(false, []byte{0, 0, 0, 0, 0, 1, 0, 2})
	f.Fuzz(func(t *testing.T, v6 bool, b []byte) {
		r, err := parseReply(v6, dst, b)
		if err != nil {
			return
		}
		if !r.dst.IsValid() || (r.dst.Is4() == v6 && r.kind != replyEcho) {
			t.Fatalf("accepted a reply with destination %v on a v6=%v socket", r.dst, v6)
		}
		switch r.proto {
		case protoICMP, protoICMPv6, protoUDP, protoTCP:
		default:
			t.Fatalf("accepted protocol %d", r.proto)
		}
		if r.kind < replyTimeExceeded || r.kind > replyEcho {
			t.Fatalf("kind %d", r.kind)
		}
	})
}

func TestTCPSYNAndReply(t *testing.T) {
	src, dst := netip.MustParseAddr("198.18.1.1"), netip.MustParseAddr("198.18.4.2")
	for _, pair := range [][2]netip.Addr{{src, dst}, {netip.MustParseAddr("2001:db8:1::1"), netip.MustParseAddr("2001:db8:4::2")}} {
		syn := tcpSYN(pair[0], pair[1], 40000, 443, 0xfffffffe)
		if sum := checksum(append(pseudoHeader(pair[0], pair[1], protoTCP, len(syn)), syn...)); sum != 0 {
			t.Errorf("%v: SYN checksum does not verify: %#x", pair, sum)
		}
		if syn[13] != 0x02 || binary.BigEndian.Uint32(syn[4:]) != 0xfffffffe || syn[12]>>4 != 6 {
			t.Errorf("%v: not a SYN with seq and MSS option: % x", pair, syn)
		}
	}
	// The destination's SYN-ACK acknowledges seq+1 (wrapping).
	synAck := make([]byte, 20)
	binary.BigEndian.PutUint16(synAck[0:], 443)
	binary.BigEndian.PutUint16(synAck[2:], 40000)
	binary.BigEndian.PutUint32(synAck[8:], 0xffffffff)
	synAck[13] = 0x12
	r, err := parseTCPReply(dst, synAck)
	want := reply{kind: replyTCP, proto: protoTCP, dst: dst, sport: 40000, dport: 443, tcpSeq: 0xfffffffe}
	if err != nil || r != want {
		t.Fatalf("SYN-ACK: %+v, %v; want %+v", r, err, want)
	}
	synAck[13] = 0x14 // RST-ACK: a closed port, still the destination
	if r, err := parseTCPReply(dst, synAck); err != nil || r.kind != replyTCP {
		t.Fatalf("RST-ACK: %+v, %v", r, err)
	}
	synAck[13] = 0x10 // a bare ACK answers no SYN
	if _, err := parseTCPReply(dst, synAck); err == nil {
		t.Fatal("bare ACK accepted")
	}
	if _, err := parseTCPReply(dst, synAck[:19]); err == nil {
		t.Fatal("short segment accepted")
	}
}
