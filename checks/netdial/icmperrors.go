package netdial

import (
	"net"

	"golang.org/x/sys/unix"
)

// ReportICMPErrors asks the kernel to report every ICMP error that answers
// a connected UDP socket's datagrams (IP_RECVERR, IPV6_RECVERR) as an
// error of its next read or write. Without it Linux reports only "hard"
// errors (port unreachable, administratively prohibited) and keeps network
// and host unreachable from the socket, "soft" errors by RFC 1122: a peer
// that a router says cannot be reached would look like one that is silent,
// a timeout after the whole run instead of connect/unreachable at once.
//
// With it, a packet too big (IPv6) is reported as EMSGSIZE too: a caller
// whose datagrams may exceed the path MTU must read past that error. A
// socket that refuses the option only loses the distinction.
func ReportICMPErrors(c *net.UDPConn) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		// One of the two applies, depending on the socket's family.
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_RECVERR, 1)
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_RECVERR, 1)
	})
}
