// Package targetpolicy decides which network addresses a prober may be
// told to reach. By default it denies loopback, private (RFC 1918, ULA),
// link-local, shared (RFC 6598), multicast, unspecified, documentation and
// cloud metadata addresses, so a team cannot use the prober network to
// reach an operator's internal services. Operators add exceptions as CIDRs.
//
// The collector checks targets at registration; the prober enforces the
// same policy at connect time (Dialer control), because DNS can change after
// registration.
package targetpolicy
