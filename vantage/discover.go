package vantage

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/picketnet/picket/netpath"
)

// Discovery finds a prober's public address and its ASN, for identities
// that do not state them. Both are best effort: callers run it in the
// background and carry on without an answer.
type Discovery struct {
	// Disabled turns discovery off.
	Disabled bool
	// AddrServers are DNS servers (host:port) that answer AddrName with
	// the address the query came from; default OpenDNS's resolvers.
	AddrServers []string
	// AddrName is the name those servers answer; default
	// "myip.opendns.com".
	AddrName string
	// ASNs finds the AS of the public address: a *netpath.Resolver with
	// the prober's asn_db table and Team Cymru's DNS. Nil skips ASN
	// discovery.
	ASNs ASLookup
	// Timeout bounds each query (default 3s).
	Timeout time.Duration
}

func (d Discovery) timeout() time.Duration {
	if d.Timeout > 0 {
		return d.Timeout
	}
	return 3 * time.Second
}

// resolver returns a resolver that sends every query to server, or the
// system resolver when server is empty.
func resolver(server string) *net.Resolver {
	if server == "" {
		return net.DefaultResolver
	}
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, server)
	}}
}

// PublicAddr asks the address servers, in order, which address our
// queries come from.
func (d Discovery) PublicAddr(ctx context.Context) (netip.Addr, error) {
	servers := d.AddrServers
	if len(servers) == 0 {
		servers = []string{"208.67.222.222:53", "208.67.220.220:53"}
	}
	name := d.AddrName
	if name == "" {
		name = "myip.opendns.com"
	}
	var errs []error
	for _, s := range servers {
		qctx, cancel := context.WithTimeout(ctx, d.timeout())
		addrs, err := resolver(s).LookupNetIP(qctx, "ip4", name)
		cancel()
		switch {
		case err != nil:
		case len(addrs) == 0:
			err = errors.New("no address in the answer")
		case netpath.IsPrivate(addrs[0]):
			// A resolver on the path that intercepts DNS (a captive
			// portal, a filtering middlebox) answers with its own
			// address: that is not where our traffic comes from.
			err = fmt.Errorf("answered %s, which is not a public address", addrs[0].Unmap())
		default:
			return addrs[0].Unmap(), nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", s, err))
	}
	return netip.Addr{}, fmt.Errorf("discover public address: %w", errors.Join(errs...))
}

// ASLookup finds the AS that announces an address.
type ASLookup interface {
	LookupAS(ctx context.Context, addr netip.Addr) (info netpath.ASInfo, found bool, err error)
}

// ASN finds the origin AS of addr.
func (d Discovery) ASN(ctx context.Context, addr netip.Addr) (uint32, error) {
	if d.ASNs == nil {
		return 0, errors.New("discover ASN: no AS lookup configured")
	}
	qctx, cancel := context.WithTimeout(ctx, d.timeout())
	defer cancel()
	info, found, err := d.ASNs.LookupAS(qctx, addr)
	switch {
	case err != nil:
		return 0, fmt.Errorf("discover ASN of %s: %w", addr, err)
	case !found || info.ASN == 0:
		return 0, fmt.Errorf("discover ASN of %s: not announced", addr)
	}
	return info.ASN, nil
}
