package tlscheck

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/picketnet/picket/checks"
	"github.com/picketnet/picket/checks/netdial"
	"github.com/picketnet/picket/checks/neterr"
	"github.com/picketnet/picket/checks/targetpolicy"
	"github.com/picketnet/picket/results"
)

// Limits on what a check reads and records, so that neither a spec nor a
// hostile server can make a run or a record arbitrarily large.
const (
	maxCAFileBytes = 1 << 20
	// MaxCAPEMBytes bounds ca_pem, which travels in every assignment, and
	// leaves room for the rest of a check spec (checks.MaxSpecBytes).
	MaxCAPEMBytes  = 12 << 10
	maxSANs        = 64
	maxNameBytes   = 512
	maxServerName  = 253
	maxMinDaysLeft = 3650
)

// Options are the TLS options of a tls check, and of a tcp check that asks
// for TLS.
type Options struct {
	// ServerName is sent as SNI and verified against the certificate;
	// the target's host when empty.
	ServerName string `json:"server_name,omitempty"`
	// CAFile is a PEM bundle of the roots to verify against, instead of the
	// system roots. It is read on the host that runs the check, at run time:
	// a collector refuses it in registered endpoints unless its operator
	// allows it (targets.allow_ca_files).
	CAFile string `json:"ca_file,omitempty"`
	// CAPEM is the same bundle inline, in the spec itself.
	CAPEM  string `json:"ca_pem,omitempty"`
	Expect Expect `json:"expect,omitzero"`
}

// Expect are the expectations on a handshake beyond a verified chain.
type Expect struct {
	// MinDaysLeft fails the check with tls/cert_expiring when the leaf
	// certificate expires in fewer days.
	MinDaysLeft float64 `json:"min_days_left,omitempty"`
	// MinVersion fails the check with tls/version_too_low when the
	// negotiated version is older: "1.0", "1.1", "1.2" or "1.3".
	MinVersion string `json:"min_version,omitempty"`
}

// protocolVersion maps a spelling of min_version to its protocol version.
func protocolVersion(s string) (uint16, bool) {
	switch s {
	case "1.0":
		return tls.VersionTLS10, true
	case "1.1":
		return tls.VersionTLS11, true
	case "1.2":
		return tls.VersionTLS12, true
	case "1.3":
		return tls.VersionTLS13, true
	}
	return 0, false
}

// Validate reports the first bad option as a *checks.FieldError.
func (o Options) Validate() error {
	switch {
	case len(o.ServerName) > maxServerName:
		return checks.Errorf("server_name", "longer than %d bytes", maxServerName)
	case strings.ContainsAny(o.ServerName, " /\t\r\n:"):
		return checks.Errorf("server_name", "%q is not a host name", o.ServerName)
	case len(o.CAFile) > 4096:
		return checks.Errorf("ca_file", "path longer than 4096 bytes")
	case strings.ContainsRune(o.CAFile, 0):
		return checks.Errorf("ca_file", "path contains a NUL byte")
	case o.CAFile != "" && o.CAPEM != "":
		return checks.Errorf("ca_pem", "cannot be combined with ca_file")
	case o.Expect.MinDaysLeft < 0 || o.Expect.MinDaysLeft > maxMinDaysLeft:
		return checks.Errorf("expect.min_days_left", "%v is outside 0..%d", o.Expect.MinDaysLeft, maxMinDaysLeft)
	}
	if v := o.Expect.MinVersion; v != "" {
		if _, ok := protocolVersion(v); !ok {
			return checks.Errorf("expect.min_version", "%q is not one of 1.0, 1.1, 1.2, 1.3", v)
		}
	}
	if o.CAPEM != "" {
		if _, err := RootsFromPEM(o.CAPEM); err != nil {
			return err
		}
	}
	return nil
}

// roots returns the pool to verify against: nil (the system roots) unless
// a CA file is set.
func (o Options) roots() (*x509.CertPool, error) {
	switch {
	case o.CAPEM != "":
		return RootsFromPEM(o.CAPEM)
	case o.CAFile != "":
		return LoadRoots(o.CAFile)
	}
	return nil, nil
}

// LocalFiles returns the files on the prober's disk the options read.
func (o Options) LocalFiles() []string {
	if o.CAFile == "" {
		return nil
	}
	return []string{o.CAFile}
}

// RootsFromPEM parses ca_pem, an inline PEM bundle of root certificates
// of at most MaxCAPEMBytes. Its errors are *checks.FieldError of ca_pem.
func RootsFromPEM(pem string) (*x509.CertPool, error) {
	if len(pem) > MaxCAPEMBytes {
		return nil, checks.Errorf("ca_pem", "larger than %d bytes", MaxCAPEMBytes)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(pem)) {
		return nil, checks.Errorf("ca_pem", "holds no PEM certificate")
	}
	return pool, nil
}

// LoadRoots reads a PEM bundle of root certificates, of at most 1 MiB: the
// ca_file of the tls, tcp and http kinds, read where the check runs. Its
// errors start with "ca_file: ".
func LoadRoots(path string) (*x509.CertPool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("ca_file: %w", err)
	}
	defer f.Close()
	pem, err := io.ReadAll(io.LimitReader(f, maxCAFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("ca_file: %w", err)
	}
	if len(pem) > maxCAFileBytes {
		return nil, fmt.Errorf("ca_file: %s is larger than %d bytes", path, maxCAFileBytes)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ca_file: %s holds no PEM certificate", path)
	}
	return pool, nil
}

// Handshake runs a TLS client handshake over conn for host (the target's
// host; Options.ServerName overrides it), then verifies the chain and the
// name and checks the expectations. The details describe the leaf
// certificate whenever the server sent one, even when verification fails.
// It does not close conn. The error, when not nil, is at the tls layer
// (or validation/bad_spec for an unreadable CA file).
func Handshake(ctx context.Context, conn net.Conn, host string, o Options) (results.TLSDetails, *results.Error) {
	var d results.TLSDetails
	roots, err := o.roots()
	if err != nil {
		return d, results.Fail(results.LayerValidation, results.CodeBadSpec, "%s", err)
	}
	name := o.ServerName
	if name == "" {
		name = host
	}
	tc := tls.Client(conn, &tls.Config{
		ServerName: name,
		// Verification happens below, after the handshake, so that a bad
		// certificate is still described; nothing is sent over the
		// connection before it.
		InsecureSkipVerify: true,
		// Accept old versions so that a server stuck on them is reported as
		// version_too_low instead of a bare handshake failure.
		MinVersion: tls.VersionTLS10,
	})
	if err := tc.HandshakeContext(ctx); err != nil {
		return d, classify(ctx, err)
	}
	st := tc.ConnectionState()
	d.Version = tls.VersionName(st.Version)
	d.Cipher = tls.CipherSuiteName(st.CipherSuite)
	d.ALPN = st.NegotiatedProtocol
	if len(st.PeerCertificates) == 0 {
		return d, results.Fail(results.LayerTLS, results.CodeHandshake, "server sent no certificate")
	}
	leaf := st.PeerCertificates[0]
	describe(&d, leaf, time.Now())

	inter := x509.NewCertPool()
	for _, c := range st.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, verr := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, Intermediates: inter})
	if verr != nil {
		fail := neterr.Classify(results.LayerTLS, verr)
		var unknown x509.UnknownAuthorityError
		if errors.As(verr, &unknown) && len(st.PeerCertificates) == 1 && !bytes.Equal(leaf.RawIssuer, leaf.RawSubject) {
			// Often the commonest chain fault, a missing intermediate, which
			// browsers that fetch it (AIA) hide and other clients fail on;
			// but a root this prober does not trust looks the same.
			fail.Message += fmt.Sprintf(" (the server sent only its own certificate, issued by %q: an intermediate missing from the chain, or an issuer not trusted here)", truncate(leaf.Issuer.String()))
		}
		return d, fail
	}
	d.ChainVerified = true
	if want, ok := protocolVersion(o.Expect.MinVersion); ok && st.Version < want {
		return d, results.Fail(results.LayerTLS, results.CodeVersionTooLow, "negotiated %s, expected at least TLS %s", d.Version, o.Expect.MinVersion)
	}
	if want := o.Expect.MinDaysLeft; want > 0 && d.DaysLeft < want {
		return d, results.Fail(results.LayerTLS, results.CodeCertExpiring,
			"certificate expires %s, in %.1f days; expected at least %v", leaf.NotAfter.UTC().Format(time.RFC3339), d.DaysLeft, want)
	}
	return d, nil
}

// describe fills the certificate fields of d from the leaf, bounding what
// a server controls.
func describe(d *results.TLSDetails, leaf *x509.Certificate, now time.Time) {
	d.Issuer = truncate(leaf.Issuer.String())
	d.Subject = truncate(leaf.Subject.String())
	for _, n := range leaf.DNSNames {
		d.SANs = append(d.SANs, truncate(n))
	}
	for _, ip := range leaf.IPAddresses {
		d.SANs = append(d.SANs, ip.String())
	}
	if len(d.SANs) > maxSANs {
		d.SANs = d.SANs[:maxSANs]
	}
	d.NotAfter = leaf.NotAfter.UTC()
	d.DaysLeft = leaf.NotAfter.Sub(now).Hours() / 24
}

func truncate(s string) string {
	if len(s) <= maxNameBytes {
		return s
	}
	return strings.ToValidUTF8(s[:maxNameBytes], "")
}

// classify maps a handshake error; a run whose context ended is a timeout
// in the handshake, whatever error the cancellation surfaced as.
func classify(ctx context.Context, err error) *results.Error {
	if ctx.Err() != nil {
		return results.Fail(results.LayerTLS, results.CodeTimeout, "handshake: %s", err)
	}
	return neterr.Classify(results.LayerTLS, err)
}

// Connect resolves host (unless it is an address literal) and opens a TCP
// connection to port, racing the address families as the http kind does,
// and records dns_ms and connect_ms in ph. The policy is enforced on every
// address at connect time. It returns the connection and the address it
// reached; on failure, the error at the dns or connect layer and the
// address it is about (empty when no connect was tried).
func Connect(ctx context.Context, policy *targetpolicy.Policy, host, port string, ph *results.Phases) (net.Conn, string, *results.Error) {
	d := netdial.Dialer{Policy: policy}
	addrs, took, err := d.Lookup(ctx, "ip", host)
	ph.DNSMS = results.Millis(took)
	if err != nil {
		if ctx.Err() != nil {
			return nil, "", results.Fail(results.LayerDNS, results.CodeTimeout, "lookup %s: %s", host, err)
		}
		return nil, "", neterr.Classify(results.LayerDNS, err)
	}
	start := time.Now()
	conn, addr, err := d.Connect(ctx, "tcp", addrs, port)
	ph.ConnectMS = results.Millis(time.Since(start))
	if err == nil {
		return conn, addr.String(), nil
	}
	if ctx.Err() != nil && !errors.Is(err, targetpolicy.ErrDenied) {
		return nil, addr.String(), results.Fail(results.LayerConnect, results.CodeTimeout, "%s", err)
	}
	return nil, addr.String(), neterr.Classify(results.LayerConnect, err)
}
