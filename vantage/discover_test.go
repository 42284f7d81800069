package vantage

import (
	"compress/gzip"
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/picketnet/picket/netpath"
)

// dnsServer answers the two questions discovery asks: myip.opendns.com
// (the asker's public address) and Team Cymru's origin TXT records.
func dnsServer(t *testing.T, zone map[string]dns.RR) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		key := strings.ToLower(q.Question[0].Name) + " " + dns.TypeToString[q.Question[0].Qtype]
		if rr, ok := zone[key]; ok {
			m.Answer = append(m.Answer, rr)
		} else {
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

func rr(t *testing.T, s string) dns.RR {
	r, err := dns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestDiscovery(t *testing.T) {
	server := dnsServer(t, map[string]dns.RR{
		"myip.opendns.com. A":                  rr(t, "myip.opendns.com. 0 IN A 95.216.1.7"),
		"7.1.216.95.origin.asn.cymru.com. TXT": rr(t, `7.1.216.95.origin.asn.cymru.com. 0 IN TXT "64500 64501 | 95.216.0.0/16 | ZZ | test | 2020-01-01"`),
	})
	hijacked := dnsServer(t, map[string]dns.RR{
		"myip.opendns.com. A": rr(t, "myip.opendns.com. 0 IN A 192.168.1.1"),
	})
	dead := func() string { // a UDP port where nothing answers
		pc, _ := net.ListenPacket("udp", "127.0.0.1:0")
		defer pc.Close()
		return pc.LocalAddr().String()
	}()
	db := filepath.Join(t.TempDir(), "ip2asn-v4.tsv.gz")
	f, _ := os.Create(db)
	zw := gzip.NewWriter(f)
	zw.Write([]byte("1.0.0.0\t1.0.0.255\t13335\tUS\tCLOUDFLARENET\n95.216.0.0\t95.216.255.255\t64510\tZZ\tHETZNER-TEST\n"))
	zw.Close()
	f.Close()

	table, err := netpath.LoadTable(db)
	if err != nil {
		t.Fatal(err)
	}
	cymru := &netpath.Resolver{DNS: &netpath.Cymru{Server: server}}
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		d       Discovery
		addr    string
		asn     uint32
		addrErr bool
	}{
		{name: "cymru", d: Discovery{AddrServers: []string{server}, ASNs: cymru}, addr: "95.216.1.7", asn: 64500},
		{name: "first server silent", d: Discovery{AddrServers: []string{dead, server}, ASNs: cymru, Timeout: 300 * time.Millisecond}, addr: "95.216.1.7", asn: 64500},
		{name: "asn_db", d: Discovery{AddrServers: []string{server}, ASNs: &netpath.Resolver{Table: table}}, addr: "95.216.1.7", asn: 64510},
		{name: "private answer skipped", d: Discovery{AddrServers: []string{hijacked, server}, ASNs: cymru}, addr: "95.216.1.7", asn: 64500},
		{name: "only a private answer", d: Discovery{AddrServers: []string{hijacked}}, addrErr: true},
		{name: "no server answers", d: Discovery{AddrServers: []string{dead}, Timeout: 300 * time.Millisecond}, addrErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, err := tc.d.PublicAddr(ctx)
			if tc.addrErr {
				if err == nil {
					t.Fatalf("got %s from servers that do not answer", addr)
				}
				return
			}
			if err != nil || addr != netip.MustParseAddr(tc.addr) {
				t.Fatalf("PublicAddr = %v, %v; want %s", addr, err, tc.addr)
			}
			asn, err := tc.d.ASN(ctx, addr)
			if err != nil || asn != tc.asn {
				t.Fatalf("ASN = %d, %v; want %d", asn, err, tc.asn)
			}
		})
	}
	if _, err := (Discovery{ASNs: &netpath.Resolver{Table: table}}).ASN(ctx, netip.MustParseAddr("198.51.100.1")); err == nil {
		t.Fatal("an address in no range of the database got an ASN")
	}
}
