package dnscheck

import (
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/picketnet/picket/checks/tls/tlstest"
)

// zone is what the test server answers, by name and type, in presentation
// format.
var zone = map[string][]string{
	"example.test.": {
		"example.test. 300 IN A 192.0.2.1",
		"example.test. 300 IN A 192.0.2.2",
		"example.test. 300 IN AAAA 2001:db8::1",
		"example.test. 300 IN MX 10 mail.example.test.",
		`example.test. 300 IN TXT "v=spf1 -all"`,
		`example.test. 300 IN CAA 0 issue "letsencrypt.org"`,
		"example.test. 300 IN NS ns1.example.test.",
		"example.test. 300 IN SOA ns1.example.test. hostmaster.example.test. 2026112101 7200 3600 1209600 300",
		`example.test. 300 IN HTTPS 1 . alpn="h2,h3"`,
	},
	"_https._tcp.example.test.": {"_https._tcp.example.test. 300 IN SRV 10 5 443 web.example.test."},
	"1.2.0.192.in-addr.arpa.":   {"1.2.0.192.in-addr.arpa. 300 IN PTR example.test."},
	"www.example.test.": {
		"www.example.test. 300 IN CNAME example.test.",
		"example.test. 300 IN A 192.0.2.1",
	},
	"auth.test.":    {"auth.test. 60 IN A 192.0.2.53"},
	"nodata.test.":  {},
	"drop1.test.":   {"drop1.test. 60 IN A 192.0.2.10"},
	"late.test.":    {"late.test. 60 IN A 192.0.2.11"},
	"spoof.test.":   {"spoof.test. 60 IN A 192.0.2.12"},
	"wrongid.test.": {"wrongid.test. 60 IN A 192.0.2.13"},
	"version.bind.": {
		`version.bind. 0 CH TXT "picket-test"`,
	},
}

// testServer is a miekg/dns server on loopback serving zone over UDP and
// TCP on one port (so that truncation can fall back), and over TLS on
// another. It records the last query it received.
//
// Some names misbehave as networks and servers do:
//   - drop1.test: the first query is lost, later ones are answered;
//   - late.test: the first query is answered only once a second one has
//     come, and the second is lost (a slow answer, not a lost one);
//   - spoof.test: every answer is preceded by a forged one, with another
//     id and another address, as an off-path attacker would send it;
//   - wrongid.test: every answer carries another id than the query's.
type testServer struct {
	udpAddr, tlsAddr string
	caFile           string // PEM of the CA that signed the TLS server's certificate
	release          chan struct{}
	lateSecond       chan struct{} // closed when late.test's second query comes

	mu      sync.Mutex
	last    *dns.Msg
	queries int
	byName  map[string][]seenQuery // queries received, per name
}

// seenQuery is one query as the server received it.
type seenQuery struct {
	id   uint16
	from string // the client's address and port
}

// seen returns the queries received for name (fully qualified).
func (s *testServer) seen(name string) []seenQuery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seenQuery(nil), s.byName[name]...)
}

func (s *testServer) lastQuery() (*dns.Msg, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last, s.queries
}

func (s *testServer) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	s.mu.Lock()
	s.last, s.queries = req.Copy(), s.queries+1
	if s.byName == nil {
		s.byName = map[string][]seenQuery{}
	}
	s.byName[name] = append(s.byName[name], seenQuery{req.Id, w.RemoteAddr().String()})
	nth := len(s.byName[name])
	s.mu.Unlock()

	switch {
	case name == "drop1.test." && nth == 1:
		return
	case name == "late.test." && nth == 1:
		select {
		case <-s.lateSecond:
		case <-s.release:
			return
		}
	case name == "late.test." && nth == 2:
		close(s.lateSecond)
		return
	case name == "late.test.":
		return
	}

	m := new(dns.Msg)
	m.SetReply(req)
	switch name {
	case "nx.test.":
		m.Rcode = dns.RcodeNameError
	case "fail.test.":
		m.Rcode = dns.RcodeServerFailure
	case "refuse.test.":
		m.Rcode = dns.RcodeRefused
	case "slow.test.":
		// Long after the clients of the tests give up; never an answer.
		select {
		case <-s.release:
		case <-time.After(time.Second):
		}
		return
	case "wrongq.test.":
		m.Question[0].Name = "other.test."
	case "big.test.":
		for i := range 40 {
			rr, _ := dns.NewRR(fmt.Sprintf(`big.test. 60 IN TXT "record %02d padding padding padding padding"`, i))
			m.Answer = append(m.Answer, rr)
		}
	default:
		rrs, ok := zone[name]
		if !ok {
			m.Rcode = dns.RcodeNameError
			break
		}
		m.Authoritative = name == "auth.test."
		for _, text := range rrs {
			rr, err := dns.NewRR(text)
			if err != nil {
				panic(err)
			}
			if rr.Header().Rrtype == q.Qtype || rr.Header().Rrtype == dns.TypeCNAME || q.Qtype == dns.TypeANY {
				m.Answer = append(m.Answer, rr)
			}
		}
	}
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		size := dns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil {
			size = int(opt.UDPSize())
		}
		m.Truncate(size)
	}
	switch name {
	case "spoof.test.":
		forged := m.Copy()
		forged.Id++
		forged.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 66)}}
		_ = w.WriteMsg(forged)
	case "wrongid.test.":
		m.Id++
	}
	_ = w.WriteMsg(m)
}

// startServer starts the servers and stops them when the test ends.
func startServer(t testing.TB) *testServer {
	t.Helper()
	s := &testServer{release: make(chan struct{}), lateSecond: make(chan struct{})}

	var pc net.PacketConn
	var ln net.Listener
	for range 20 {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
		pc = nil
	}
	if pc == nil {
		t.Fatal("no port free for both UDP and TCP")
	}
	s.udpAddr = pc.LocalAddr().String()

	ca := tlstest.NewCA(t, "picket test CA")
	s.caFile = ca.File
	cert := ca.Issue(t, tlstest.Leaf{CommonName: "dns.test", DNSNames: []string{"dns.test"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	tlsLn, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	s.tlsAddr = tlsLn.Addr().String()

	servers := []*dns.Server{
		{PacketConn: pc, Handler: s},
		{Listener: ln, Handler: s},
		{Listener: tlsLn, Net: "tcp-tls", Handler: s},
	}
	var wg sync.WaitGroup
	for _, srv := range servers {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		wg.Go(func() { _ = srv.ActivateAndServe() })
		<-started
	}
	t.Cleanup(func() {
		close(s.release)
		for _, srv := range servers {
			_ = srv.Shutdown()
		}
		wg.Wait()
	})
	return s
}

// serveUDP serves h on pc alone (no TCP beside it) until the test ends.
func serveUDP(t testing.TB, pc net.PacketConn, h *testServer) {
	t.Helper()
	srv := &dns.Server{PacketConn: pc, Handler: h}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { close(h.release); _ = srv.Shutdown(); <-done })
}
