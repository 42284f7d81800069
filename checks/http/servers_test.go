package httpcheck

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/quic-go/quic-go/http3"

	"github.com/picketnet/picket/checks/tls/tlstest"
)

// testCA is tlstest's CA with the shorthand these tests use.
type testCA struct {
	*tlstest.CA
	pemFile string
}

func newCA(t testing.TB) *testCA {
	t.Helper()
	ca := tlstest.NewCA(t, "picket test CA")
	return &testCA{CA: ca, pemFile: ca.File}
}

// leaf issues a server certificate for hosts (names or IPs), valid from
// notBefore to notAfter.
func (ca *testCA) leaf(t testing.TB, notBefore, notAfter time.Time, hosts ...string) tls.Certificate {
	t.Helper()
	l := tlstest.Leaf{CommonName: hosts[0], NotBefore: notBefore, NotAfter: notAfter}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			l.IPs = append(l.IPs, ip)
		} else {
			l.DNSNames = append(l.DNSNames, h)
		}
	}
	return ca.Issue(t, l)
}

func (ca *testCA) validLeaf(t testing.TB) tls.Certificate {
	return ca.leaf(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), "127.0.0.1", "localhost")
}

// testHandler serves the paths the tests use.
func testHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Build", "v1.2.3")
		fmt.Fprint(w, "hello picket")
	})
	mux.HandleFunc("/status/{code}", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.PathValue("code"))
		w.WriteHeader(code)
	})
	mux.HandleFunc("/redirect/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.PathValue("n"))
		if n <= 0 {
			http.Redirect(w, r, "/ok", http.StatusFound)
			return
		}
		http.Redirect(w, r, fmt.Sprintf("/redirect/%d", n-1), http.StatusFound)
	})
	mux.HandleFunc("/to", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Query().Get("url"), http.StatusFound)
	})
	mux.HandleFunc("/bytes/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.PathValue("n"))
		w.Header().Set("Content-Type", "application/octet-stream")
		if code, err := strconv.Atoi(r.URL.Query().Get("status")); err == nil {
			w.WriteHeader(code)
		}
		w.Write([]byte(strings.Repeat("x", n)))
	})
	mux.HandleFunc("/sleep", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	mux.HandleFunc("/slowbody", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte("partial"))
		http.NewResponseController(w).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	mux.HandleFunc("/bigheader", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Big", strings.Repeat("h", 100<<10))
		fmt.Fprint(w, "ok")
	})
	mux.HandleFunc("/longredirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok?pad="+strings.Repeat("p", 8<<10), http.StatusFound)
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "method=%s test=%s host=%s proto=%s body=%s", r.Method, r.Header.Get("X-Test"), r.Host, r.Proto, body)
	})
	return mux
}

// startHTTP starts a plain HTTP/1.1 server, or h2c when h2c is set.
func startHTTP(t testing.TB, h2c bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(testHandler())
	if h2c {
		srv.Config.Protocols = new(http.Protocols)
		srv.Config.Protocols.SetHTTP1(true)
		srv.Config.Protocols.SetUnencryptedHTTP2(true)
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// startTLS starts an HTTPS server with cert, offering HTTP/2 when h2 is set.
func startTLS(t testing.TB, cert tls.Certificate, h2 bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(testHandler())
	srv.EnableHTTP2 = h2
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Config.ErrorLog = discardLog()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// startH3 starts quic-go's HTTP/3 server on 127.0.0.1 and returns its
// https base URL.
func startH3(t testing.TB, cert tls.Certificate) string {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http3.Server{
		Handler:   testHandler(),
		TLSConfig: http3.ConfigureTLSConfig(&tls.Config{Certificates: []tls.Certificate{cert}}),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(conn)
	}()
	t.Cleanup(func() {
		srv.Close()
		conn.Close()
		<-done
	})
	return "https://" + conn.LocalAddr().String()
}

// closedPort returns a loopback TCP port that nothing listens on.
func closedPort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// startResetter accepts connections and closes them at once with
// SO_LINGER 0, so that the peer gets a RST.
func startResetter(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			// Wait for the request so the RST answers it rather than racing it.
			c.SetReadDeadline(time.Now().Add(time.Second))
			c.Read(make([]byte, 1))
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
	})
	t.Cleanup(func() { l.Close(); wg.Wait() })
	return l.Addr().String()
}

// startSilent accepts connections and never answers, holding them open
// until the test ends.
func startSilent(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			// Read without ever answering, and let go once the peer does.
			wg.Go(func() {
				io.Copy(io.Discard, c)
				c.Close()
			})
		}
	})
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}

// startSilentUDP returns a UDP address that receives and never answers.
func startSilentUDP(t testing.TB) string {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.LocalAddr().String()
}

// startNotQUICUDP starts a UDP service on loopback that answers every
// datagram, but not in QUIC, as a DNS server or a game server on the port
// would, and returns its address.
func startNotQUICUDP(t testing.TB) string {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			_, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			_, _ = c.WriteToUDP([]byte("\x00\x01hello, this is not QUIC"), from)
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return c.LocalAddr().String()
}

// closedUDPPort returns a loopback UDP port that nothing listens on.
func closedUDPPort(t testing.TB) string {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	addr := c.LocalAddr().String()
	c.Close()
	return addr
}

// startFullBacklog returns an address whose listener has a full accept
// queue and never accepts, so the kernel drops further SYNs and a connect
// hangs. It reports false when the network stack does not behave so.
func startFullBacklog(t testing.TB) (string, bool) {
	t.Helper()
	return fullBacklog(t, syscall.AF_INET, 0)
}

// fullBacklog listens with a full accept queue on the loopback address of
// family (AF_INET or AF_INET6), on port (0: any).
func fullBacklog(t testing.TB, family, port int) (string, bool) {
	t.Helper()
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	var sa syscall.Sockaddr = &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: port}
	if family == syscall.AF_INET6 {
		sa = &syscall.SockaddrInet6{Addr: [16]byte{15: 1}, Port: port}
	}
	if err := syscall.Bind(fd, sa); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	bound, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	var addr string
	switch b := bound.(type) {
	case *syscall.SockaddrInet4:
		addr = fmt.Sprintf("127.0.0.1:%d", b.Port)
	case *syscall.SockaddrInet6:
		addr = fmt.Sprintf("[::1]:%d", b.Port)
	}
	// Fill the queue until a connect no longer completes.
	for range 8 {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			var ne net.Error
			return addr, errors.As(err, &ne) && ne.Timeout()
		}
		t.Cleanup(func() { c.Close() })
	}
	return addr, false
}

// dnsServer answers A and AAAA queries from a table; names not in it get
// NXDOMAIN. It returns a resolver that asks only this server.
func dnsServer(t testing.TB, records map[string][]net.IP) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		ips, ok := records[q.Question[0].Name]
		if !ok {
			m.Rcode = dns.RcodeNameError
		}
		for _, ip := range ips {
			hdr := dns.RR_Header{Name: q.Question[0].Name, Class: dns.ClassINET, Ttl: 60}
			switch {
			case ip.To4() != nil && q.Question[0].Qtype == dns.TypeA:
				hdr.Rrtype = dns.TypeA
				m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: ip})
			case ip.To4() == nil && q.Question[0].Qtype == dns.TypeAAAA:
				hdr.Rrtype = dns.TypeAAAA
				m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: ip})
			}
		}
		w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return resolverAt(pc.LocalAddr().String())
}

// resolverAt returns a resolver that sends every query to addr over UDP.
func resolverAt(addr string) *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp", addr)
		},
	}
}

func discardLog() *log.Logger { return log.New(io.Discard, "", 0) }
