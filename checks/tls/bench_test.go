package tlscheck_test

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/picketnet/picket/checks"
	"github.com/picketnet/picket/checks/checktest"
	tlscheck "github.com/picketnet/picket/checks/tls"
	"github.com/picketnet/picket/checks/tls/tlstest"
)

// BenchmarkHandshake measures one tls check (connect, TLS 1.3 handshake
// with an ECDSA P-256 certificate, chain and name verification against a
// CA file) against a loopback server in the same process. cpu-ns/op is
// the CPU time of both ends together.
func BenchmarkHandshake(b *testing.B) {
	for _, v := range []struct {
		name string
		max  uint16
	}{{"TLS1.3", 0}, {"TLS1.2", tls.VersionTLS12}} {
		b.Run(v.name, func(b *testing.B) {
			ca := tlstest.NewCA(b, "Picket Bench Root")
			cert := ca.Issue(b, tlstest.Leaf{CommonName: "localhost", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
			srv := tlstest.Serve(b, tlstest.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MaxVersion: v.max}))
			c, err := tlscheck.Kind{}.Parse(srv.Addr, json.RawMessage(fmt.Sprintf(`{"ca_file":%q}`, ca.File)))
			if err != nil {
				b.Fatal(err)
			}
			checktest.BenchRun(b, c, checks.Env{}, time.Minute)
		})
	}
}
