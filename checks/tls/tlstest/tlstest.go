package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// CA is a certificate authority that exists for one test.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// chain is what a server sends after a leaf this CA issued: the
	// CA's own certificate and its parents' up to the root (which is
	// left out), none for a root.
	chain [][]byte
	// File is the CA's certificate in PEM, for a ca_file option.
	File string
}

// NewCA makes a CA and writes its certificate to a file in t.TempDir().
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"Picket tests"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(10 * 365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &CA{cert: cert, key: key, File: file}
}

// Intermediate makes a CA that ca signs, valid from notBefore to
// notAfter; the leaves it issues carry it (and its parents below the root)
// as their chain, as a server sends them. Its File is its own
// certificate, which a client must not be given as a root to test the
// chain.
func (ca *CA) Intermediate(t testing.TB, name string, notBefore, notAfter time.Time) *CA {
	t.Helper()
	key, serial := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"Picket tests"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "intermediate.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &CA{cert: cert, key: key, chain: append([][]byte{der}, ca.chain...), File: file}
}

// Leaf describes a certificate to issue.
type Leaf struct {
	CommonName string
	DNSNames   []string
	IPs        []net.IP
	NotBefore  time.Time
	NotAfter   time.Time
}

// Issue signs a server certificate. A zero NotBefore is an hour ago, a
// zero NotAfter 90 days from now.
func (ca *CA) Issue(t testing.TB, l Leaf) tls.Certificate {
	t.Helper()
	if l.NotBefore.IsZero() {
		l.NotBefore = time.Now().Add(-time.Hour)
	}
	if l.NotAfter.IsZero() {
		l.NotAfter = time.Now().Add(90 * 24 * time.Hour)
	}
	key, serial := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: l.CommonName},
		DNSNames:     l.DNSNames,
		IPAddresses:  l.IPs,
		NotBefore:    l.NotBefore,
		NotAfter:     l.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: append([][]byte{der}, ca.chain...), PrivateKey: key}
}

// Server is a loopback TCP listener that hands every connection to a
// behaviour, and waits for all of them when the test ends.
type Server struct {
	// Addr is "127.0.0.1:port".
	Addr string
	ln   net.Listener
	wg   sync.WaitGroup
}

// Serve starts a server on 127.0.0.1 that runs handle for each accepted
// connection and closes it afterwards. It stops at the end of the test.
func Serve(t testing.TB, handle func(net.Conn)) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: ln.Addr().String(), ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				// No behaviour may hold a connection past a few seconds,
				// so that the test's cleanup always ends.
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				handle(c)
			}()
		}
	}()
	t.Cleanup(s.Close)
	return s
}

// Close stops accepting and waits for the open connections to end.
func (s *Server) Close() {
	s.ln.Close()
	s.wg.Wait()
}

// Port is the server's port.
func (s *Server) Port() string {
	_, port, _ := net.SplitHostPort(s.Addr)
	return port
}

// TLS returns a behaviour that completes a TLS handshake with cfg and then
// waits for the client to close.
func TLS(cfg *tls.Config) func(net.Conn) {
	return func(c net.Conn) {
		tc := tls.Server(c, cfg)
		if err := tc.Handshake(); err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, tc)
	}
}

// Reset waits for the client's first bytes (a ClientHello) and resets the
// connection (SO_LINGER 0). Resetting before reading would race with the
// client's connect on loopback.
func Reset(c net.Conn) {
	buf := make([]byte, 1)
	_, _ = c.Read(buf)
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
}

// Silent accepts and never says anything, until the client leaves.
func Silent(c net.Conn) { _, _ = io.Copy(io.Discard, c) }

// Plaintext answers whatever comes with an HTTP/1.0 error, as a server
// that does not speak TLS would.
func Plaintext(c net.Conn) {
	buf := make([]byte, 1024)
	_, _ = c.Read(buf)
	_, _ = io.WriteString(c, "HTTP/1.0 400 Bad Request\r\n\r\n")
}

// Name is the CA's common name.
func (ca *CA) Name() string { return ca.cert.Subject.CommonName }

// newKey makes a certificate's key and a random serial number.
func newKey(t testing.TB) (*ecdsa.PrivateKey, *big.Int) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	return key, serial
}
