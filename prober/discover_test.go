package prober

import (
	"net"
	"testing"

	"github.com/miekg/dns"

	"github.com/picketnet/picket/vantage"
)

// TestDiscoveredASNIsStamped: a vantage without an ASN in its
// configuration starts at once, and its results and heartbeats carry
// the ASN and public address as soon as discovery finds them.
func TestDiscoveredASNIsStamped(t *testing.T) {
	t.Parallel()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		switch q.Question[0].Name {
		case "myip.opendns.com.":
			a, _ := dns.NewRR("myip.opendns.com. 0 IN A 95.216.7.9")
			m.Answer = append(m.Answer, a)
		case "9.7.216.95.origin.asn.cymru.com.":
			txt, _ := dns.NewRR(`9.7.216.95.origin.asn.cymru.com. 0 IN TXT "64496 | 95.216.0.0/16 | ZZ | test | 2020-01-01"`)
			m.Answer = append(m.Answer, txt)
		default:
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })

	col := newStandin(t, testIdentity.ID, "vantage-token")
	col.assign(check("a", "dial", listener(t), ""))
	startProber(t, t.TempDir(), newTracker(), func(c *Config) {
		c.Identity.ASN = 0
		c.Discovery = &vantage.Discovery{AddrServers: []string{pc.LocalAddr().String()}}
		c.ASNServer = pc.LocalAddr().String()
	}, col.URL())
	waitFor(t, "a result stamped with the discovered ASN", func() bool {
		for _, r := range col.storedResults() {
			if r.ASN == 64496 {
				return true
			}
		}
		return false
	})
	waitFor(t, "a heartbeat with the public address", func() bool {
		hb, ok := col.lastHeartbeat()
		return ok && hb.PublicAddr == "95.216.7.9" && hb.ASN == 64496
	})
}
