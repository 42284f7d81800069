package reporting

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
)

// NEL phases.
const (
	PhaseDNS         = "dns"
	PhaseConnection  = "connection"
	PhaseApplication = "application"
)

// progress is how far a request got, as the client trace saw it.
type progress struct {
	connected bool // a connection (after TLS) was handed to the request
	firstByte bool // response bytes arrived
}

// Classify maps the error of a request to its NEL phase and type. p says
// whether a connection had been established, which separates connection
// failures from application ones.
func classify(err error, p progress) (phase, typ string) {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		switch {
		case dnsErr.IsNotFound:
			return PhaseDNS, "dns.name_not_resolved"
		case dnsErr.IsTimeout:
			return PhaseDNS, "dns.unreachable"
		}
		return PhaseDNS, "dns.failed"
	}
	if !p.connected {
		if t := tlsType(err); t != "" {
			return PhaseConnection, t
		}
		switch {
		case timeout(err):
			return PhaseConnection, "tcp.timed_out"
		case errors.Is(err, syscall.ECONNREFUSED):
			return PhaseConnection, "tcp.refused"
		case errors.Is(err, syscall.ECONNRESET):
			return PhaseConnection, "tcp.reset"
		case errors.Is(err, syscall.ECONNABORTED):
			return PhaseConnection, "tcp.aborted"
		case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
			return PhaseConnection, "tcp.address_unreachable"
		case errors.Is(err, syscall.EADDRNOTAVAIL):
			return PhaseConnection, "tcp.address_invalid"
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return PhaseConnection, "tcp.closed"
		}
		return PhaseConnection, "tcp.failed"
	}
	switch {
	case timeout(err):
		return PhaseApplication, "tcp.timed_out"
	case errors.Is(err, syscall.ECONNRESET):
		return PhaseApplication, "tcp.reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		if !p.firstByte {
			return PhaseApplication, "http.response.invalid.empty"
		}
		return PhaseApplication, "http.response.invalid"
	case strings.Contains(err.Error(), "malformed HTTP"), strings.Contains(err.Error(), "http2:"):
		return PhaseApplication, "http.protocol.error"
	case strings.Contains(err.Error(), "stopped after") && strings.Contains(err.Error(), "redirects"):
		return PhaseApplication, "http.response.redirect_loop"
	}
	return PhaseApplication, "http.failed"
}

// tlsType names a TLS handshake failure, or "" when err is not one.
func tlsType(err error) string {
	var invalid x509.CertificateInvalidError
	if errors.As(err, &invalid) {
		if invalid.Reason == x509.Expired {
			return "tls.cert.date_invalid"
		}
		return "tls.cert.invalid"
	}
	var host x509.HostnameError
	if errors.As(err, &host) {
		return "tls.cert.name_invalid"
	}
	var unknown x509.UnknownAuthorityError
	if errors.As(err, &unknown) {
		return "tls.cert.authority_invalid"
	}
	var verify *tls.CertificateVerificationError
	if errors.As(err, &verify) {
		return "tls.cert.invalid"
	}
	var alert tls.AlertError
	if errors.As(err, &alert) {
		switch alert {
		case 40, 70, 71: // handshake_failure, protocol_version, insufficient_security
			return "tls.version_or_cipher_mismatch"
		case 42, 43, 44, 45, 46, 48: // the server rejected our certificate
			return "tls.bad_client_auth_cert"
		}
		return "tls.protocol.error"
	}
	var header tls.RecordHeaderError
	if errors.As(err, &header) {
		return "tls.protocol.error"
	}
	if strings.Contains(err.Error(), "tls: ") {
		return "tls.failed"
	}
	return ""
}

func timeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, syscall.ETIMEDOUT) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
