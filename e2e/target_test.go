package e2e

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/quic-go/quic-go/http3"

	"github.com/picketnet/picket/checks/tls/tlstest"
	"github.com/picketnet/picket/internal/netlab"
)

// target is the monitored service: HTTPS over HTTP/1.1, HTTP/2 and HTTP/3,
// and an authoritative DNS server for lab.test, all in the target
// namespace. Faults are injected by changing its knobs.
type target struct {
	t    *testing.T
	node *netlab.Node
	ca   *tlstest.CA

	cert  atomic.Pointer[tls.Certificate]
	delay atomic.Int64 // extra time before the first byte, ns

	mu  sync.Mutex
	dns []*dns.Server
}

func startTarget(t *testing.T, node *netlab.Node) *target {
	t.Helper()
	tg := &target{t: t, node: node, ca: tlstest.NewCA(t, "Picket Lab CA")}
	tg.useCert(90 * 24 * time.Hour)
	tlsCfg := &tls.Config{
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return tg.cert.Load(), nil },
		NextProtos:     []string{"h2", "http/1.1"},
		MinVersion:     tls.VersionTLS12,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		if d := time.Duration(tg.delay.Load()); d > 0 {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	})

	var tcp net.Listener
	var udp net.PacketConn
	err := node.Do(func() (err error) {
		if tcp, err = net.Listen("tcp4", targetAddr+":443"); err != nil {
			return err
		}
		udp, err = net.ListenPacket("udp4", targetAddr+":443")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// Each server gets its own TLS config: net/http's Serve writes to the
	// one it is given (HTTP/2 setup), and the listener already speaks TLS.
	h12 := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	h3 := &http3.Server{Handler: mux, TLSConfig: http3.ConfigureTLSConfig(tlsCfg.Clone())}
	go func() { _ = h12.Serve(tls.NewListener(tcp, tlsCfg)) }()
	go func() { _ = h3.Serve(udp) }()
	t.Cleanup(func() {
		_ = h3.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = h12.Shutdown(ctx)
		udp.Close()
	})
	tg.startDNS()
	t.Cleanup(tg.stopDNS)
	return tg
}

// useCert serves a certificate for the target's name valid for validFor.
func (tg *target) useCert(validFor time.Duration) {
	now := time.Now()
	c := tg.ca.Issue(tg.t, tlstest.Leaf{
		CommonName: targetName, DNSNames: []string{targetName}, IPs: []net.IP{net.ParseIP(targetAddr)},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(validFor),
	})
	tg.cert.Store(&c)
}

// setDelay makes the service wait d before answering.
func (tg *target) setDelay(d time.Duration) { tg.delay.Store(int64(d)) }

// startDNS serves lab.test on UDP and TCP port 53.
func (tg *target) startDNS() {
	tg.t.Helper()
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		m.Authoritative = true
		for _, q := range req.Question {
			switch {
			case q.Name == targetName+"." && q.Qtype == dns.TypeA:
				rr, _ := dns.NewRR(targetName + ". 30 IN A " + targetAddr)
				m.Answer = append(m.Answer, rr)
			case q.Name == targetName+".":
				// NODATA for other types of a name that exists
			default:
				m.Rcode = dns.RcodeNameError
			}
		}
		_ = w.WriteMsg(m)
	})
	var servers []*dns.Server
	err := tg.node.Do(func() error {
		pc, err := net.ListenPacket("udp4", targetAddr+":53")
		if err != nil {
			return err
		}
		l, err := net.Listen("tcp4", targetAddr+":53")
		if err != nil {
			pc.Close()
			return err
		}
		servers = []*dns.Server{{PacketConn: pc, Handler: handler}, {Listener: l, Handler: handler}}
		return nil
	})
	if err != nil {
		tg.t.Fatal(err)
	}
	for _, s := range servers {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		go func() {
			if err := s.ActivateAndServe(); err != nil && !errors.Is(err, net.ErrClosed) {
				tg.t.Logf("lab dns: %v", err)
			}
		}()
		<-started
	}
	tg.mu.Lock()
	tg.dns = servers
	tg.mu.Unlock()
}

// stopDNS takes the DNS server down: queries get ICMP port unreachable.
func (tg *target) stopDNS() {
	tg.mu.Lock()
	servers := tg.dns
	tg.dns = nil
	tg.mu.Unlock()
	for _, s := range servers {
		_ = s.Shutdown()
	}
}
