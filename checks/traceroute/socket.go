package traceroute

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// sourceAddr returns the local address the kernel would send from to
// reach dst. Connecting a UDP socket only consults the routing table; no
// packet leaves.
func sourceAddr(dst netip.Addr, port int) (netip.Addr, error) {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, uint16(port))))
	switch {
	case errors.Is(err, unix.EACCES):
		return netip.Addr{}, fmt.Errorf("this host will not send to %s (a prohibit route): %w", dst, err)
	case err != nil:
		return netip.Addr{}, fmt.Errorf("no route to %s: %w", dst, err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}

// reservePort binds a TCP socket (never listening) to an ephemeral port of
// src, so that no connection of this host uses the port a TCP trace sends
// its SYNs from. The kernel answers the destination's SYN-ACK with a reset,
// which also spares the destination a half-open connection.
func reservePort(src netip.Addr) (port uint16, release func(), err error) {
	family, sa := unix.AF_INET6, unix.Sockaddr(&unix.SockaddrInet6{Addr: src.As16()})
	if src.Is4() {
		family, sa = unix.AF_INET, &unix.SockaddrInet4{Addr: src.As4()}
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, nil, fmt.Errorf("reserve a TCP port: %w", err)
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return 0, nil, fmt.Errorf("reserve a TCP port on %s: %w", src, err)
	}
	got, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return 0, nil, fmt.Errorf("reserve a TCP port: %w", err)
	}
	switch a := got.(type) {
	case *unix.SockaddrInet4:
		port = uint16(a.Port)
	case *unix.SockaddrInet6:
		port = uint16(a.Port)
	}
	return port, func() { unix.Close(fd) }, nil
}

// enableTimestamps asks the kernel to stamp every packet the socket
// receives, so that an RTT does not include the time a busy prober took to
// schedule the reader.
func enableTimestamps(c *net.IPConn) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	})
}

// receivedAt returns the kernel's receive timestamp from a packet's
// control messages, or now when there is none.
func receivedAt(oob []byte) time.Time {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err == nil {
		for _, m := range msgs {
			if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= 16 {
				var ts unix.Timespec
				ts.Sec = int64(binary.NativeEndian.Uint64(m.Data[0:]))
				ts.Nsec = int64(binary.NativeEndian.Uint64(m.Data[8:]))
				return time.Unix(ts.Unix())
			}
		}
	}
	return time.Now()
}
