package netdial

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/picketnet/picket/checks/targetpolicy"
)

// FallbackDelay is how long the preferred address family gets before the
// other one is tried in parallel (RFC 8305 recommends 250ms).
const FallbackDelay = 250 * time.Millisecond

// ErrNoAddress is wrapped by the *net.DNSError of a lookup that succeeded
// without an address.
var ErrNoAddress = errors.New("no addresses")

// Dialer resolves and connects for one run. The zero value uses the
// system resolver, allows every address and keeps the resolver's order.
type Dialer struct {
	// Resolver looks names up; nil is net.DefaultResolver.
	Resolver *net.Resolver
	// Policy is enforced on every address connected to; nil allows all.
	Policy *targetpolicy.Policy
	// PreferIP is 4 or 6 to try that family first, 0 for the family of
	// the resolver's first answer.
	PreferIP int
}

// Lookup returns the addresses of host, IPv4-mapped ones unmapped, in the
// order they are to be tried, and how long the DNS lookup took. An IP
// literal is its own answer, with no lookup (and a zero duration).
// network is "ip", "ip4" or "ip6". An answer without addresses is a
// *net.DNSError wrapping ErrNoAddress.
func (d Dialer) Lookup(ctx context.Context, network, host string) ([]netip.Addr, time.Duration, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap()}, 0, nil
	}
	r := d.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	start := time.Now()
	addrs, err := r.LookupNetIP(ctx, network, host)
	took := time.Since(start)
	if err != nil {
		return nil, took, err
	}
	if len(addrs) == 0 {
		return nil, took, &net.DNSError{Err: ErrNoAddress.Error(), Name: host, UnwrapErr: ErrNoAddress}
	}
	for i := range addrs {
		addrs[i] = addrs[i].Unmap()
	}
	return OrderByFamily(addrs, d.PreferIP), took, nil
}

// OrderByFamily puts the addresses of the preferred family first, keeping
// the resolver's order within each family. Without a preference the
// family of the first address is preferred.
func OrderByFamily(addrs []netip.Addr, prefer int) []netip.Addr {
	if len(addrs) == 0 {
		return addrs
	}
	want6 := addrs[0].Is6()
	switch prefer {
	case 4:
		want6 = false
	case 6:
		want6 = true
	}
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		if a.Is6() == want6 {
			out = append(out, a)
		}
	}
	for _, a := range addrs {
		if a.Is6() != want6 {
			out = append(out, a)
		}
	}
	return out
}

// splitFamilies splits ordered addresses into the preferred family and
// the fallback one.
func splitFamilies(addrs []netip.Addr) (primary, fallback []netip.Addr) {
	for _, a := range addrs {
		if a.Is6() == addrs[0].Is6() {
			primary = append(primary, a)
		} else {
			fallback = append(fallback, a)
		}
	}
	return primary, fallback
}

// Connect opens a stream connection to port on one of addrs, ordered as
// Lookup returns them. The preferred family's addresses are tried one
// after the other; the other family starts after FallbackDelay, or as
// soon as the preferred one has failed. The loser is always waited for
// and closed, so no dial outlives Connect. It returns the connection and
// the address it reached; on failure, the error that explains it best (a
// policy refusal first) and the address that error is about.
func (d Dialer) Connect(ctx context.Context, network string, addrs []netip.Addr, port string) (net.Conn, netip.Addr, error) {
	if len(addrs) == 0 {
		return nil, netip.Addr{}, errors.New("no address to connect to")
	}
	primary, fallback := splitFamilies(addrs)
	if len(fallback) == 0 {
		return d.dialSerial(ctx, network, primary, port)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		conn    net.Conn
		addr    netip.Addr
		err     error
		primary bool
	}
	done := make(chan result, 2)
	start := func(addrs []netip.Addr, primary bool) {
		go func() {
			c, a, err := d.dialSerial(ctx, network, addrs, port)
			done <- result{c, a, err, primary}
		}()
	}
	start(primary, true)
	pending, fallbackStarted := 1, false
	timer := time.NewTimer(FallbackDelay)
	defer timer.Stop()
	var primaryErr, fallbackErr result
	for {
		select {
		case <-timer.C:
			if !fallbackStarted {
				start(fallback, false)
				pending, fallbackStarted = pending+1, true
			}
		case r := <-done:
			pending--
			if r.err == nil {
				cancel()
				for ; pending > 0; pending-- {
					if l := <-done; l.conn != nil {
						l.conn.Close()
					}
				}
				return r.conn, r.addr, nil
			}
			if r.primary {
				primaryErr = r
			} else {
				fallbackErr = r
			}
			if !fallbackStarted {
				start(fallback, false)
				pending, fallbackStarted = pending+1, true
			}
			if pending == 0 {
				// A refusal by policy says more than whatever the other family met.
				if errors.Is(fallbackErr.err, targetpolicy.ErrDenied) && !errors.Is(primaryErr.err, targetpolicy.ErrDenied) {
					return nil, fallbackErr.addr, fallbackErr.err
				}
				return nil, primaryErr.addr, primaryErr.err
			}
		}
	}
}

// dialSerial tries addrs in order and returns the first connection, or the
// first error (a policy refusal wins, since it explains the failure best).
func (d Dialer) dialSerial(ctx context.Context, network string, addrs []netip.Addr, port string) (net.Conn, netip.Addr, error) {
	nd := net.Dialer{ControlContext: d.Policy.Control}
	var (
		first     error
		firstAddr netip.Addr
	)
	for _, a := range addrs {
		c, err := nd.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
		if err == nil {
			return c, a, nil
		}
		if first == nil || (errors.Is(err, targetpolicy.ErrDenied) && !errors.Is(first, targetpolicy.ErrDenied)) {
			first, firstAddr = err, a
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, firstAddr, first
}
