package neterr_test

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
	"testing"

	"github.com/picketnet/picket/checks/netdial"
	"github.com/picketnet/picket/checks/neterr"
	"github.com/picketnet/picket/checks/targetpolicy"
	"github.com/picketnet/picket/results"
)

// opErr wraps err the way the net package reports a failed dial.
func opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Err: os.NewSyscallError(op, err)}
}

func TestClassify(t *testing.T) {
	leaf := &x509.Certificate{}
	tests := []struct {
		name  string
		phase results.Layer
		err   error
		layer results.Layer
		code  results.Code
	}{
		{"nxdomain", results.LayerDNS, &net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true}, results.LayerDNS, results.CodeNXDomain},
		{"dns error met while connecting", results.LayerConnect, &net.DNSError{Err: "no such host", IsNotFound: true}, results.LayerDNS, results.CodeNXDomain},
		{"servfail", results.LayerDNS, &net.DNSError{Err: "server misbehaving"}, results.LayerDNS, results.CodeServFail},
		{"dns timeout", results.LayerDNS, &net.DNSError{Err: "i/o timeout", IsTimeout: true}, results.LayerDNS, results.CodeTimeout},
		{"dns refused", results.LayerDNS, &net.DNSError{Err: "connection refused"}, results.LayerDNS, results.CodeRefused},
		{"empty answer", results.LayerDNS, &net.DNSError{Err: "no addresses", UnwrapErr: netdial.ErrNoAddress}, results.LayerDNS, results.CodeNoAnswer},
		{"dns other", results.LayerDNS, &net.DNSError{Err: "something odd"}, results.LayerDNS, results.CodeNetwork},
		{"refused", results.LayerConnect, opErr("connect", syscall.ECONNREFUSED), results.LayerConnect, results.CodeRefused},
		{"refused by a dns server over tcp", results.LayerDNS, opErr("connect", syscall.ECONNREFUSED), results.LayerDNS, results.CodeRefused},
		{"refused met in tls phase is a connect failure", results.LayerTLS, opErr("connect", syscall.ECONNREFUSED), results.LayerConnect, results.CodeRefused},
		{"reset in connect", results.LayerConnect, opErr("connect", syscall.ECONNRESET), results.LayerConnect, results.CodeReset},
		{"reset in tls", results.LayerTLS, opErr("read", syscall.ECONNRESET), results.LayerTLS, results.CodeReset},
		{"broken pipe in http", results.LayerHTTP, opErr("write", syscall.EPIPE), results.LayerHTTP, results.CodeReset},
		{"eof in tls", results.LayerTLS, io.EOF, results.LayerTLS, results.CodeReset},
		{"unexpected eof in http", results.LayerHTTP, fmt.Errorf("read body: %w", io.ErrUnexpectedEOF), results.LayerHTTP, results.CodeReset},
		{"connect deadline", results.LayerConnect, context.DeadlineExceeded, results.LayerConnect, results.CodeTimeout},
		{"socket deadline in tls", results.LayerTLS, opErr("read", os.ErrDeadlineExceeded), results.LayerTLS, results.CodeTimeout},
		{"etimedout", results.LayerConnect, opErr("connect", syscall.ETIMEDOUT), results.LayerConnect, results.CodeTimeout},
		{"host unreachable", results.LayerConnect, opErr("connect", syscall.EHOSTUNREACH), results.LayerConnect, results.CodeUnreachable},
		{"net unreachable in tls phase", results.LayerTLS, opErr("write", syscall.ENETUNREACH), results.LayerConnect, results.CodeUnreachable},
		{"net unreachable in icmp", results.LayerICMP, opErr("sendto", syscall.ENETUNREACH), results.LayerICMP, results.CodeUnreachable},
		{"icmp permission", results.LayerICMP, opErr("socket", syscall.EPERM), results.LayerICMP, results.CodePermission},
		{"traceroute permission", results.LayerPath, opErr("socket", syscall.EACCES), results.LayerPath, results.CodePermission},
		// ICMPv6 administratively prohibited, as Linux reports it.
		{"prohibited in connect", results.LayerConnect, opErr("connect", syscall.EACCES), results.LayerConnect, results.CodeUnreachable},
		{"prohibited on a datagram in tls phase", results.LayerTLS, opErr("read", syscall.EACCES), results.LayerConnect, results.CodeUnreachable},
		{"local firewall in connect", results.LayerConnect, opErr("connect", syscall.EPERM), results.LayerConnect, results.CodeUnreachable},
		{"policy in connect", results.LayerConnect, fmt.Errorf("dial: %w", targetpolicy.ErrDenied), results.LayerConnect, results.CodeDenied},
		{"policy in http redirect", results.LayerHTTP, fmt.Errorf("dial: %w", targetpolicy.ErrDenied), results.LayerConnect, results.CodeDenied},
		{"policy in icmp", results.LayerICMP, targetpolicy.ErrDenied, results.LayerICMP, results.CodeDenied},
		{"policy in path", results.LayerPath, targetpolicy.ErrDenied, results.LayerPath, results.CodeDenied},
		{"expired", results.LayerHTTP, &tls.CertificateVerificationError{Err: x509.CertificateInvalidError{Cert: leaf, Reason: x509.Expired, Detail: "current time 2026-01-02T00:00:00Z is after 2026-01-01T00:00:00Z"}},
			results.LayerTLS, results.CodeCertExpired},
		{"not yet valid", results.LayerTLS, x509.CertificateInvalidError{Cert: leaf, Reason: x509.Expired, Detail: "current time 2026-01-01T00:00:00Z is before 2026-01-02T00:00:00Z"},
			results.LayerTLS, results.CodeCertNotYetValid},
		{"not a CA", results.LayerTLS, x509.CertificateInvalidError{Cert: leaf, Reason: x509.NotAuthorizedToSign}, results.LayerTLS, results.CodeCertUntrusted},
		{"unknown authority", results.LayerHTTP, fmt.Errorf("get: %w", x509.UnknownAuthorityError{Cert: leaf}), results.LayerTLS, results.CodeCertUntrusted},
		{"hostname mismatch", results.LayerHTTP, x509.HostnameError{Certificate: leaf, Host: "example.com"}, results.LayerTLS, results.CodeHostnameMismatch},
		{"other verification error", results.LayerTLS, &tls.CertificateVerificationError{Err: errors.New("x509: something")}, results.LayerTLS, results.CodeCertUntrusted},
		{"alert", results.LayerTLS, tls.AlertError(40), results.LayerTLS, results.CodeHandshake},
		{"not tls", results.LayerTLS, tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, results.LayerTLS, results.CodeProtocol},
		{"tls wording", results.LayerTLS, errors.New("tls: server selected unsupported protocol version 301"), results.LayerTLS, results.CodeHandshake},
		{"unknown in connect", results.LayerConnect, errors.New("odd"), results.LayerConnect, results.CodeNetwork},
		{"unknown in tls", results.LayerTLS, errors.New("odd"), results.LayerTLS, results.CodeProtocol},
		{"unknown in http", results.LayerHTTP, errors.New("odd"), results.LayerHTTP, results.CodeProtocol},
		{"unknown in a layer without a fallback code", results.LayerValidation, errors.New("odd"), results.LayerInternal, results.CodeBug},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := neterr.Classify(tt.phase, tt.err)
			if got == nil {
				t.Fatal("nil")
			}
			if got.Layer != tt.layer || got.Code != tt.code {
				t.Fatalf("Classify(%s, %v) = %s/%s, want %s/%s", tt.phase, tt.err, got.Layer, got.Code, tt.layer, tt.code)
			}
			if !got.Code.ValidFor(got.Layer) {
				t.Fatalf("%s is not a code of %s", got.Code, got.Layer)
			}
			// The error's text, or its start; a certificate error may add
			// whose certificate it is about.
			if !strings.HasPrefix(got.Message, tt.err.Error()) && !strings.HasPrefix(tt.err.Error(), got.Message) {
				t.Fatalf("message = %q, want the error's text %q", got.Message, tt.err)
			}
		})
	}
}

func TestClassifyNil(t *testing.T) {
	if got := neterr.Classify(results.LayerConnect, nil); got != nil {
		t.Fatalf("Classify(nil) = %v", got)
	}
}

// TestClassifyRealErrors classifies what the net package really returns,
// not only hand-built values.
func TestClassifyRealErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = net.Dial("tcp", addr)
	if got := neterr.Classify(results.LayerConnect, err); got.Code != results.CodeRefused {
		t.Errorf("refused dial: %v", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if got := neterr.Classify(results.LayerConnect, err); got.Layer != results.LayerConnect {
		t.Errorf("cancelled dial: %v", got)
	}
	d := (&targetpolicy.Policy{DenyPrivate: true}).Dialer()
	_, err = d.Dial("tcp", addr)
	if got := neterr.Classify(results.LayerConnect, err); got.Code != results.CodeDenied {
		t.Errorf("denied dial: %v", got)
	}
	if neterr.IsTimeout(errors.New("x")) || !neterr.IsTimeout(fmt.Errorf("w: %w", context.DeadlineExceeded)) {
		t.Error("IsTimeout")
	}
}

// TestMessageBounded keeps a hostile peer from inflating a record.
func TestMessageBounded(t *testing.T) {
	got := neterr.Classify(results.LayerTLS, errors.New("tls: "+strings.Repeat("é", 2000)))
	if len(got.Message) > results.MaxMessageBytes {
		t.Fatalf("message of %d bytes", len(got.Message))
	}
}

func TestUnreachable(t *testing.T) {
	tests := []struct {
		v6         bool
		code       uint8
		text, mark string
	}{
		{false, 0, "network unreachable", "!N"},
		{false, 1, "host unreachable", "!H"},
		{false, 3, "port unreachable", ""},
		{false, 13, "administratively prohibited", "!X"},
		{false, 200, "destination unreachable, code 200", "!<200>"},
		{true, 0, "no route to destination", "!N"},
		{true, 1, "administratively prohibited", "!X"},
		{true, 3, "address unreachable", "!H"},
		{true, 4, "port unreachable", ""},
	}
	for _, tt := range tests {
		if text, mark := neterr.Unreachable(tt.v6, tt.code); text != tt.text || mark != tt.mark {
			t.Errorf("Unreachable(%v, %d) = %q, %q; want %q, %q", tt.v6, tt.code, text, mark, tt.text, tt.mark)
		}
	}
}
