// Package targetpolicy decides which network addresses a prober may be
// told to reach. By default it denies loopback, private (RFC 1918, ULA),
// link-local, shared (RFC 6598), benchmarking, multicast, unspecified and
// cloud metadata addresses, so a team cannot use the prober network to
// reach an operator's internal services. Operators add exceptions as CIDRs
// (Allow), and ranges of their own to deny (Deny): internal networks in
// public address space, or the documentation ranges (192.0.2.0/24,
// 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32), which are not denied by
// default because nothing on the Internet answers there.
//
// The collector checks targets at registration; the prober enforces the
// same policy at connect time (Dialer control), because DNS can change after
// registration.
package targetpolicy
