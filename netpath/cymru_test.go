package netpath

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// cymruServer is a local miekg/dns server that answers like Team Cymru's
// service, from the records it is given, and counts the questions it got.
type cymruServer struct {
	addr    string
	records map[string][]string // lower-case FQDN -> TXT strings
	queries atomic.Int64
	fail    atomic.Bool // answer SERVFAIL
	// While hold is set, answers wait until release is closed.
	hold    atomic.Bool
	release chan struct{}
}

func startCymru(t *testing.T, records map[string][]string) *cymruServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &cymruServer{addr: pc.LocalAddr().String(), records: records, release: make(chan struct{})}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, NotifyStartedFunc: func() { close(started) },
		Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
			s.queries.Add(1)
			if s.hold.Load() {
				<-s.release
			}
			m := new(dns.Msg)
			m.SetReply(r)
			q := r.Question[0]
			txts, ok := s.records[strings.ToLower(q.Name)]
			switch {
			case s.fail.Load():
				m.Rcode = dns.RcodeServerFailure
			case !ok:
				m.Rcode = dns.RcodeNameError
			case q.Qtype == dns.TypeTXT:
				for _, txt := range txts {
					m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 300}, Txt: []string{txt}})
				}
			}
			_ = w.WriteMsg(m)
		})}
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return s
}

func TestCymruLookup(t *testing.T) {
	srv := startCymru(t, map[string][]string{
		"8.8.8.8.origin.asn.cymru.com.": {"15169 | 8.8.8.0/24 | US | arin | 1992-12-01"},
		// Two covering prefixes: the more specific one carries the traffic.
		"1.2.0.203.origin.asn.cymru.com.": {"64500 | 203.0.0.0/16 | NL | ripencc | 2001-01-01", "64501 64502 | 203.0.2.0/24 | DE | ripencc | 2010-01-01"},
		"8.8.8.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.8.4.1.0.0.2.origin6.asn.cymru.com.": {"15169 | 2001:4860::/32 | US | arin | 2005-03-14"},
		"9.9.9.9.origin.asn.cymru.com.": {"19281 | 9.9.9.0/24 | US | arin | 2017-01-01"},
		"as15169.asn.cymru.com.":        {"15169 | US | arin | 2000-03-30 | GOOGLE, US"},
		"as64501.asn.cymru.com.":        {"64501 | DE | ripencc | 2010-01-01 | EXAMPLE-AS | with a pipe, DE"},
		// AS19281 has no name record: the ASN alone is still an answer.
	})
	c := &Cymru{Server: srv.addr}
	ctx := context.Background()
	tests := []struct {
		addr    string
		want    ASInfo
		found   bool
		queries int64 // questions this lookup adds
	}{
		{"8.8.8.8", ASInfo{ASN: 15169, Name: "GOOGLE, US", Country: "US"}, true, 2},
		{"8.8.8.8", ASInfo{ASN: 15169, Name: "GOOGLE, US", Country: "US"}, true, 0}, // cached
		{"203.0.2.1", ASInfo{ASN: 64501, Name: "EXAMPLE-AS | with a pipe, DE", Country: "DE"}, true, 2},
		{"2001:4860::8888", ASInfo{ASN: 15169, Name: "GOOGLE, US", Country: "US"}, true, 1}, // name cached
		{"9.9.9.9", ASInfo{ASN: 19281}, true, 2},
		{"1.1.1.1", ASInfo{}, false, 1},     // NXDOMAIN: not announced
		{"1.1.1.1", ASInfo{}, false, 0},     // and that is cached too
		{"192.168.1.1", ASInfo{}, false, 0}, // private: never asked
		{"100.64.1.1", ASInfo{}, false, 0},
		{"198.18.4.2", ASInfo{}, false, 0},  // benchmarking: never announced, never asked
		{"2001:db8::1", ASInfo{}, false, 0}, // documentation
		{"203.0.113.9", ASInfo{}, false, 0}, // documentation
	}
	for _, tt := range tests {
		before := srv.queries.Load()
		info, found, err := c.Lookup(ctx, netip.MustParseAddr(tt.addr))
		if err != nil {
			t.Fatalf("Lookup(%s): %v", tt.addr, err)
		}
		if info.ASN != tt.want.ASN || info.Name != tt.want.Name || found != tt.found {
			t.Errorf("Lookup(%s) = %+v, %v; want %+v, %v", tt.addr, info, found, tt.want, tt.found)
		}
		if tt.want.Country != "" && info.Country != tt.want.Country {
			t.Errorf("Lookup(%s) country %q, want %q", tt.addr, info.Country, tt.want.Country)
		}
		if got := srv.queries.Load() - before; got != tt.queries {
			t.Errorf("Lookup(%s) asked %d questions, want %d", tt.addr, got, tt.queries)
		}
	}
}

func TestCymruErrorsAreNotCached(t *testing.T) {
	srv := startCymru(t, map[string][]string{
		"8.8.8.8.origin.asn.cymru.com.": {"15169 | 8.8.8.0/24 | US | arin | 1992-12-01"},
	})
	c := &Cymru{Server: srv.addr}
	srv.fail.Store(true)
	_, _, err := c.Lookup(context.Background(), netip.MustParseAddr("8.8.8.8"))
	if !errors.Is(err, ErrLookup) || !strings.Contains(err.Error(), "SERVFAIL") {
		t.Fatalf("err = %v, want ErrLookup naming SERVFAIL", err)
	}
	srv.fail.Store(false)
	info, found, err := c.Lookup(context.Background(), netip.MustParseAddr("8.8.8.8"))
	if err != nil || !found || info.ASN != 15169 {
		t.Fatalf("after recovery: %+v, %v, %v", info, found, err)
	}
}

func TestCymruTimeoutHonoursContext(t *testing.T) {
	// A server that never answers.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	c := &Cymru{Server: pc.LocalAddr().String(), Timeout: time.Minute}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, _, err := c.Lookup(ctx, netip.MustParseAddr("8.8.8.8")); !errors.Is(err, ErrLookup) {
		t.Fatalf("err = %v, want ErrLookup", err)
	}
}

// Concurrent lookups of one address share one question.
func TestCymruConcurrentLookupsShareQueries(t *testing.T) {
	srv := startCymru(t, map[string][]string{
		"8.8.8.8.origin.asn.cymru.com.": {"15169 | 8.8.8.0/24 | US | arin | 1992-12-01"},
		"as15169.asn.cymru.com.":        {"15169 | US | arin | 2000-03-30 | GOOGLE, US"},
	})
	c := &Cymru{Server: srv.addr}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			info, found, err := c.Lookup(context.Background(), netip.MustParseAddr("8.8.8.8"))
			if err != nil || !found || info.ASN != 15169 {
				t.Errorf("Lookup = %+v, %v, %v", info, found, err)
			}
		})
	}
	wg.Wait()
	if q := srv.queries.Load(); q > 4 {
		t.Errorf("50 concurrent lookups asked %d questions; want them shared", q)
	}
}

func TestResolverPrefersTable(t *testing.T) {
	srv := startCymru(t, map[string][]string{
		"8.8.8.8.origin.asn.cymru.com.": {"64999 | 8.8.8.0/24 | US | arin | 1992-12-01"},
		"1.1.1.1.origin.asn.cymru.com.": {"13335 | 1.1.1.0/24 | US | arin | 2011-08-11"},
		"as13335.asn.cymru.com.":        {"13335 | US | arin | 2010-07-14 | CLOUDFLARENET, US"},
	})
	tab, err := ReadTable("t", strings.NewReader(sampleV4))
	if err != nil {
		t.Fatal(err)
	}
	r := &Resolver{Table: tab, DNS: &Cymru{Server: srv.addr}}
	info, found, err := r.LookupAS(context.Background(), netip.MustParseAddr("8.8.8.8"))
	if err != nil || !found || info.ASN != 15169 || srv.queries.Load() != 0 {
		t.Fatalf("table address: %+v %v %v, %d DNS questions", info, found, err, srv.queries.Load())
	}
	info, found, err = r.LookupAS(context.Background(), netip.MustParseAddr("1.1.1.1"))
	if err != nil || !found || info.ASN != 13335 || info.Name != "CLOUDFLARENET, US" {
		t.Fatalf("DNS fallback: %+v %v %v", info, found, err)
	}
	var nilResolver *Resolver
	if _, found, _ := nilResolver.LookupAS(context.Background(), netip.MustParseAddr("1.1.1.1")); found {
		t.Fatal("nil resolver answered")
	}
}

func TestOriginName(t *testing.T) {
	tests := map[string]string{
		"216.90.108.31":      "31.108.90.216.origin.asn.cymru.com.",
		"2001:4860:b002::68": "8.6.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2.0.0.b.0.6.8.4.1.0.0.2.origin6.asn.cymru.com.",
	}
	for in, want := range tests {
		if got := originName(netip.MustParseAddr(in)); got != want {
			t.Errorf("originName(%s) = %s, want %s", in, got, want)
		}
	}
}

// A caller that gives up does not fail the others waiting on the same
// question: traces share lookups, and one trace's timeout must not strip
// the ASNs from another's hops.
func TestCymruCancelledCallerDoesNotFailOthers(t *testing.T) {
	srv := startCymru(t, map[string][]string{
		"8.8.8.8.origin.asn.cymru.com.": {"15169 | 8.8.8.0/24 | US | arin | 1992-12-01"},
		"as15169.asn.cymru.com.":        {"15169 | US | arin | 2000-03-30 | GOOGLE, US"},
	})
	srv.hold.Store(true)
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(srv.release) }) }
	t.Cleanup(release) // before the server's shutdown, which waits for its handlers
	c := &Cymru{Server: srv.addr, Timeout: 10 * time.Second}
	addr := netip.MustParseAddr("8.8.8.8")
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() { _, _, err := c.Lookup(ctx, addr); first <- err }()
	for srv.queries.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	second := make(chan error, 1)
	var info ASInfo
	go func() {
		var err error
		info, _, err = c.Lookup(context.Background(), addr)
		second <- err
	}()
	// Let the second caller join the question in flight before the first
	// gives up. singleflight does not say when it has; a late joiner would
	// ask again and succeed anyway, so the pause cannot make the test pass
	// wrongly, only (on a very slow machine) test less.
	time.Sleep(50 * time.Millisecond)
	cancel()
	if err := <-first; !errors.Is(err, ErrLookup) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: err %v, want ErrLookup wrapping context.Canceled", err)
	}
	release()
	if err := <-second; err != nil || info.ASN != 15169 || info.Name != "GOOGLE, US" {
		t.Fatalf("other caller: %+v, %v", info, err)
	}
}

func TestParseTXTClipsNames(t *testing.T) {
	long := strings.Repeat("N", 1000) + "\xff"
	info, ok := parseNameTXT("64500 | " + strings.Repeat("C", 50) + " | arin | 2000-01-01 | " + long)
	if !ok || len(info.Name) != maxASNameBytes || len(info.Country) != maxCountryBytes {
		t.Fatalf("name %d bytes, country %d bytes, ok %v; want %d and %d", len(info.Name), len(info.Country), ok, maxASNameBytes, maxCountryBytes)
	}
}

// The TXT parsers read answers from the network.
func FuzzParseTXT(f *testing.F) {
	for _, s := range []string{
		"23028 | 216.90.108.0/24 | US | arin | 1998-09-25",
		"64501 64502 | 203.0.2.0/24 | DE | ripencc | 2010-01-01",
		"15169 | 2001:4860::/32 | US | arin | 2005-03-14",
		"23028 | US | arin | 2002-01-04 | TEAMCYMRU - SAUNDERS, US",
		"|", "", "0 | 0.0.0.0/0", "4294967296 | 1.2.3.4/33",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if info, prefix, ok := parseOriginTXT(s); ok {
			if info.ASN == 0 || !prefix.IsValid() || prefix != prefix.Masked() || len(info.Country) > maxCountryBytes {
				t.Fatalf("parseOriginTXT(%q) = %+v, %v", s, info, prefix)
			}
		}
		if info, ok := parseNameTXT(s); ok {
			if info.ASN == 0 || len(info.Name) > maxASNameBytes || len(info.Country) > maxCountryBytes {
				t.Fatalf("parseNameTXT(%q) = %+v", s, info)
			}
		}
	})
}
