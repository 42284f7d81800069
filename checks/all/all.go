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

// New returns a registry of every check kind Picket knows.
func New() *checks.Registry {
	return checks.NewRegistry(
		// Each kind adds itself here: http.Kind{}, dns.Kind{}, ...
		dnscheck.Kind{},
		httpcheck.Kind{},
		icmpcheck.Kind{},
		tcpcheck.Kind{},
		tlscheck.Kind{},
		// Hop ASNs from Team Cymru's DNS through the system resolver; a
		// prober with an asn_db builds its own kind with a table.
		tracecheck.New(&netpath.Resolver{DNS: &netpath.Cymru{}}),
	)
}
