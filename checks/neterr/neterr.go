package neterr

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/picketnet/picket/checks/netdial"
	"github.com/picketnet/picket/checks/targetpolicy"
	"github.com/picketnet/picket/results"
)

// Classify returns the record error for err, met while the run was in
// phase (the layer it was working at: dns, connect, tls, http, icmp, path).
// Errors that carry their own layer win over phase: a DNS error is always
// dns, a certificate error always tls, a policy refusal always
// connect/denied_address. Classify(phase, nil) is nil.
func Classify(phase results.Layer, err error) *results.Error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if errors.Is(err, targetpolicy.ErrDenied) {
		layer := results.LayerConnect
		if phase == results.LayerICMP || phase == results.LayerPath {
			layer = phase
		}
		return results.Fail(layer, results.CodeDenied, "%s", msg)
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return results.Fail(results.LayerDNS, dnsCode(dnsErr), "%s", msg)
	}
	if e := classifyTLS(err); e != nil {
		return e
	}
	if IsTimeout(err) {
		return results.Fail(phase, results.CodeTimeout, "%s", msg)
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return results.Fail(refusedLayer(phase), results.CodeRefused, "%s", msg)
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED):
		return results.Fail(phase, results.CodeReset, "%s", msg)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		// The peer closed mid-exchange: a reset from the client's view.
		return results.Fail(phase, results.CodeReset, "%s", msg)
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.Is(err, syscall.EHOSTDOWN), errors.Is(err, syscall.EADDRNOTAVAIL):
		layer := phase
		if layer != results.LayerICMP && layer != results.LayerPath && layer != results.LayerDNS {
			layer = results.LayerConnect
		}
		return results.Fail(layer, results.CodeUnreachable, "%s", msg)
	case errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EACCES):
		if phase == results.LayerICMP || phase == results.LayerPath {
			return results.Fail(phase, results.CodePermission, "%s", msg)
		}
		// On a connection or a datagram, "permission denied" is no
		// privilege this process lacks: it is how Linux reports an ICMPv6
		// administratively prohibited (a router's or firewall's REJECT),
		// or this host's own firewall refusing the packet (EPERM).
		layer := phase
		if layer != results.LayerDNS {
			layer = results.LayerConnect
		}
		return results.Fail(layer, results.CodeUnreachable, "%s (administratively prohibited: a firewall refused the packet)", msg)
	}
	if phase == results.LayerTLS && strings.Contains(msg, "tls:") {
		return results.Fail(results.LayerTLS, results.CodeHandshake, "%s", msg)
	}
	code := results.CodeNetwork
	if !code.ValidFor(phase) {
		code = results.CodeProtocol
	}
	if !code.ValidFor(phase) {
		return results.Fail(results.LayerInternal, results.CodeBug, "%s", msg)
	}
	return results.Fail(phase, code, "%s", msg)
}

// refusedLayer: a refusal is a connect failure unless the phase has its own
// meaning for it (a DNS server refusing a TCP query is still dns).
func refusedLayer(phase results.Layer) results.Layer {
	if phase == results.LayerDNS {
		return results.LayerDNS
	}
	return results.LayerConnect
}

// IsTimeout reports whether err is a timeout: a context deadline, a socket
// deadline, or a net.Error that says so.
func IsTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, syscall.ETIMEDOUT) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// certName names the certificate an error is about, for its message.
func certName(c *x509.Certificate) string {
	if c == nil {
		return ""
	}
	subject := c.Subject.String()
	if len(subject) > 256 {
		subject = strings.ToValidUTF8(subject[:256], "") + "..."
	}
	role := "the server's certificate"
	if c.IsCA {
		role = "a CA certificate of the chain"
	}
	return fmt.Sprintf(" (%s, subject %q, valid %s to %s)", role, subject,
		c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339))
}

func dnsCode(e *net.DNSError) results.Code {
	switch {
	case errors.Is(e, netdial.ErrNoAddress):
		return results.CodeNoAnswer
	case e.IsNotFound:
		return results.CodeNXDomain
	case e.IsTimeout:
		return results.CodeTimeout
	case strings.Contains(e.Err, "server misbehaving"):
		// The Go resolver's wording for SERVFAIL and similar rcodes.
		return results.CodeServFail
	case strings.Contains(e.Err, "refused"):
		return results.CodeRefused
	case strings.Contains(e.Err, "no such host"):
		return results.CodeNXDomain
	}
	return results.CodeNetwork
}

// classifyTLS recognises certificate verification and handshake errors.
func classifyTLS(err error) *results.Error {
	msg := err.Error()
	var invalid x509.CertificateInvalidError
	if errors.As(err, &invalid) {
		// Go's message gives the dates but not whose they are: an expired
		// intermediate reads like an expired leaf, beside details that
		// show the leaf valid for months.
		msg += certName(invalid.Cert)
		switch invalid.Reason {
		case x509.Expired:
			// The message always says "expired or is not yet valid"; only
			// the detail ("current time X is before/after Y") tells which.
			if strings.Contains(invalid.Detail, "is before") {
				return results.Fail(results.LayerTLS, results.CodeCertNotYetValid, "%s", msg)
			}
			return results.Fail(results.LayerTLS, results.CodeCertExpired, "%s", msg)
		default:
			return results.Fail(results.LayerTLS, results.CodeCertUntrusted, "%s", msg)
		}
	}
	var host x509.HostnameError
	if errors.As(err, &host) {
		return results.Fail(results.LayerTLS, results.CodeHostnameMismatch, "%s", msg)
	}
	var unknown x509.UnknownAuthorityError
	if errors.As(err, &unknown) {
		return results.Fail(results.LayerTLS, results.CodeCertUntrusted, "%s", msg)
	}
	var verify *tls.CertificateVerificationError
	if errors.As(err, &verify) {
		return results.Fail(results.LayerTLS, results.CodeCertUntrusted, "%s", msg)
	}
	var alert tls.AlertError
	if errors.As(err, &alert) {
		return results.Fail(results.LayerTLS, results.CodeHandshake, "%s", msg)
	}
	var header tls.RecordHeaderError
	if errors.As(err, &header) {
		return results.Fail(results.LayerTLS, results.CodeProtocol, "%s", msg)
	}
	return nil
}
