// Package all assembles the registry of every check kind. Callers build a
// registry with New instead of relying on package-level registration.
package all

import (
	"github.com/picketnet/picket/checks"
	dnscheck "github.com/picketnet/picket/checks/dns"
	httpcheck "github.com/picketnet/picket/checks/http"
	icmpcheck "github.com/picketnet/picket/checks/icmp"
	tcpcheck "github.com/picketnet/picket/checks/tcp"
	tlscheck "github.com/picketnet/picket/checks/tls"
	tracecheck "github.com/picketnet/picket/checks/traceroute"
	"github.com/picketnet/picket/netpath"
)

// New returns a registry of every check kind Picket knows. Traceroute
// hops get their ASNs from Team Cymru's DNS through the system resolver.
func New() *checks.Registry {
	return WithASNs(&netpath.Resolver{DNS: &netpath.Cymru{}})
}

// WithASNs returns a registry of every kind whose traceroutes look hop
// ASNs up in asns (a prober's asn_db table, then Team Cymru).
func WithASNs(asns *netpath.Resolver) *checks.Registry {
	return checks.NewRegistry(
		dnscheck.Kind{},
		httpcheck.Kind{},
		icmpcheck.Kind{},
		tcpcheck.Kind{},
		tlscheck.Kind{},
		tracecheck.New(asns),
	)
}
