package targetpolicy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// Policy says which addresses may be probed. The zero value, and a nil
// *Policy, allow everything.
type Policy struct {
	// DenyPrivate refuses the special-purpose ranges listed by Denied.
	DenyPrivate bool `json:"deny_private" yaml:"deny_private"`
	// Allow lists exceptions that are permitted even when DenyPrivate
	// would refuse them.
	Allow []netip.Prefix `json:"allow,omitempty" yaml:"allow"`
	// Deny lists ranges refused whatever DenyPrivate and Allow say.
	Deny []netip.Prefix `json:"deny,omitempty" yaml:"deny"`
}

// Restricts reports whether the policy refuses any address.
func (p *Policy) Restricts() bool { return p != nil && (p.DenyPrivate || len(p.Deny) > 0) }

// ErrDenied is wrapped by every refusal.
var ErrDenied = errors.New("address denied by target policy")

// deniedRanges are the special-purpose ranges refused when DenyPrivate is
// set. 169.254.169.254 (AWS, GCP, Azure, DO metadata) and fd00:ec2::254 are
// inside link-local and ULA; 100.100.100.200 (Alibaba metadata) is inside
// the shared range.
func deniedRanges() []netip.Prefix {
	return []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("100.64.0.0/10"),
		netip.MustParsePrefix("127.0.0.0/8"),
		netip.MustParsePrefix("169.254.0.0/16"),
		netip.MustParsePrefix("172.16.0.0/12"),
		netip.MustParsePrefix("192.0.0.0/24"),
		netip.MustParsePrefix("192.168.0.0/16"),
		netip.MustParsePrefix("198.18.0.0/15"),
		netip.MustParsePrefix("224.0.0.0/4"),
		netip.MustParsePrefix("240.0.0.0/4"),
		// ::/96 holds the unspecified and loopback addresses and the
		// deprecated IPv4-compatible ones (::a.b.c.d), which no host
		// should be probed at.
		netip.MustParsePrefix("::/96"),
		netip.MustParsePrefix("::ffff:0:0/96"),
		netip.MustParsePrefix("64:ff9b:1::/48"),
		netip.MustParsePrefix("100::/64"),
		netip.MustParsePrefix("fc00::/7"),
		netip.MustParsePrefix("fe80::/10"),
		netip.MustParsePrefix("ff00::/8"),
	}
}

// Check returns nil when addr may be probed, and an error wrapping
// ErrDenied that names the address and the range otherwise.
func (p *Policy) Check(addr netip.Addr) error {
	if !p.Restricts() {
		return nil
	}
	// netip.Prefix.Contains never matches an address with a zone, so a
	// zoned link-local address (fe80::1%eth0) would slip through.
	addr = addr.Unmap().WithZone("")
	// An IPv6 address that a translator turns into an IPv4 one reaches
	// that IPv4 address: 64:ff9b::a9fe:a9fe through a NAT64 gateway is the
	// metadata service, 2002:7f00:1:: through a 6to4 relay is loopback.
	if v4, ok := embeddedIPv4(addr); ok {
		if err := p.Check(v4); err != nil {
			return fmt.Errorf("%s embeds %s: %w", addr, v4, err)
		}
	}
	for _, d := range p.Deny {
		if d.Contains(addr) {
			return fmt.Errorf("%w: %s is in %s, denied by the operator", ErrDenied, addr, d)
		}
	}
	if !p.DenyPrivate {
		return nil
	}
	for _, a := range p.Allow {
		if a.Contains(addr) {
			return nil
		}
	}
	for _, r := range deniedRanges() {
		if r.Contains(addr) {
			return fmt.Errorf("%w: %s is in %s", ErrDenied, addr, r)
		}
	}
	return nil
}

// embeddedIPv4 returns the IPv4 address that a NAT64 (RFC 6052 well-known
// prefix 64:ff9b::/96, the last 32 bits), SIIT (RFC 2765 IPv4-translated
// ::ffff:0:0:0/96, the last 32 bits), 6to4 (RFC 3056, 2002::/16, bits 16
// to 47) or Teredo (RFC 4380, 2001::/32, the client's address in the last
// 32 bits, inverted) address stands for.
func embeddedIPv4(addr netip.Addr) (netip.Addr, bool) {
	if !addr.Is6() {
		return netip.Addr{}, false
	}
	b := addr.As16()
	switch {
	case [12]byte(b[:12]) == [12]byte{0x00, 0x64, 0xff, 0x9b}:
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case [12]byte(b[:12]) == [12]byte{8: 0xff, 9: 0xff}:
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case b[0] == 0x20 && b[1] == 0x02:
		return netip.AddrFrom4([4]byte(b[2:6])), true
	case [4]byte(b[:4]) == [4]byte{0x20, 0x01, 0x00, 0x00}:
		return netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]}), true
	}
	return netip.Addr{}, false
}

// CheckHost resolves host (a name or an address literal) and checks every
// address it yields; it fails on the first denied one. Registration uses it
// so that a name pointing at a private address is refused up front.
func (p *Policy) CheckHost(ctx context.Context, resolver *net.Resolver, host string) error {
	if !p.Restricts() {
		return nil
	}
	if addr, err := netip.ParseAddr(host); err == nil {
		return p.Check(addr)
	}
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	addrs, err := resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		// An unresolvable name is not a policy matter: the check will report
		// the DNS failure, and the dial-time control still applies.
		return nil
	}
	for _, a := range addrs {
		if err := p.Check(a); err != nil {
			return fmt.Errorf("%s resolves to %s: %w", host, a, err)
		}
	}
	return nil
}

// Control is a net.Dialer ControlContext function that refuses denied
// addresses at connect time, after name resolution.
func (p *Policy) Control(_ context.Context, network, address string, _ syscall.RawConn) error {
	if !p.Restricts() {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse %s address %q", ErrDenied, network, address)
	}
	return p.Check(ap.Addr())
}

// Dialer returns a net.Dialer that enforces the policy.
func (p *Policy) Dialer() *net.Dialer {
	return &net.Dialer{ControlContext: p.Control}
}
