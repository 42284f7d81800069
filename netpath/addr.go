package netpath

import "net/netip"

// ASInfo is what is known about the autonomous system announcing an address.
type ASInfo struct {
	ASN     uint32
	Name    string // the AS description, "CLOUDFLARENET - Cloudflare, Inc., US"
	Country string // two-letter code as the registry has it; may be empty
}

// noASNRanges are the ranges that are never announced on the public
// Internet, so an address in them has no origin AS whatever a database
// says: private, shared (carrier-grade NAT), loopback, link-local,
// multicast and unspecified addresses.
//
// Documentation and benchmarking ranges (192.0.2/24, 198.18/15, 2001:db8::/32)
// are deliberately absent: they are not announced either, so no database
// answers for them in production, and test networks use them to stand for
// public addresses with the ASNs a test's own table gives them.
var noASNRanges = [...]netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("224.0.0.0/4"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("::/128"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("ff00::/8"),
}

// IsPrivate reports whether addr belongs to a range that is never announced
// on the public Internet (RFC 1918, RFC 6598 shared space, loopback,
// link-local, ULA, multicast), and so maps to no ASN.
func IsPrivate(addr netip.Addr) bool {
	addr = addr.Unmap()
	return !addr.IsValid() || inAny(noASNRanges[:], addr)
}

// unannouncedRanges are special-purpose ranges that no origin AS ever
// announces but that are not private: documentation (RFC 5737, RFC 3849)
// and benchmarking (RFC 2544) addresses. A table may map them (test
// networks use them as stand-ins for public addresses), but a DNS service
// is never asked about them: it cannot know them, and a test network must
// not send queries to the outside world.
var unannouncedRanges = [...]netip.Prefix{
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("2001:db8::/32"),
}

// isUnannounced reports whether addr is in a special-purpose range that no
// AS announces (see unannouncedRanges), or is private.
func isUnannounced(addr netip.Addr) bool {
	return IsPrivate(addr) || inAny(unannouncedRanges[:], addr.Unmap())
}

func inAny(ranges []netip.Prefix, addr netip.Addr) bool {
	for _, p := range ranges {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
