package results

import "slices"

// Layer is the lowest layer of the stack at which a run failed.
type Layer string

// The layers of DESIGN.md §4, lowest first in the order a run meets them.
const (
	LayerDNS        Layer = "dns"
	LayerConnect    Layer = "connect"
	LayerTLS        Layer = "tls"
	LayerHTTP       Layer = "http"
	LayerICMP       Layer = "icmp"
	LayerPath       Layer = "path"
	LayerTimeout    Layer = "timeout"
	LayerValidation Layer = "validation"
	LayerInternal   Layer = "internal"
)

// Code is a short snake_case word that says how a layer failed. Codes come
// from a fixed list per layer (see Codes) so that reports can group by them.
type Code string

// The codes. A timeout met inside a known phase is reported at that phase's
// layer with CodeTimeout (dns/timeout, connect/timeout, tls/timeout,
// http/timeout); LayerTimeout/CodeDeadline is for a run whose deadline
// passed outside any phase.
const (
	// dns
	CodeNXDomain       Code = "nxdomain"
	CodeServFail       Code = "servfail"
	CodeRefused        Code = "refused"
	CodeNoAnswer       Code = "no_answer"
	CodeFormErr        Code = "formerr"
	CodeNotImp         Code = "notimp"
	CodeRcode          Code = "rcode"
	CodeAnswerMismatch Code = "answer_mismatch"
	CodeTooFewAnswers  Code = "too_few_answers"
	CodeNotAuthorative Code = "not_authoritative"
	CodeBadResponse    Code = "bad_response"

	// shared by several layers
	CodeTimeout     Code = "timeout"
	CodeReset       Code = "reset"
	CodeUnreachable Code = "unreachable"
	CodeNetwork     Code = "network"
	CodeDenied      Code = "denied_address"

	// tls
	CodeCertExpired      Code = "cert_expired"
	CodeCertNotYetValid  Code = "cert_not_yet_valid"
	CodeCertUntrusted    Code = "cert_untrusted"
	CodeHostnameMismatch Code = "hostname_mismatch"
	CodeCertExpiring     Code = "cert_expiring"
	CodeVersionTooLow    Code = "version_too_low"
	CodeHandshake        Code = "handshake_failure"

	// http
	CodeStatus          Code = "status"
	CodeBodyMismatch    Code = "body_mismatch"
	CodeHeaderMismatch  Code = "header_mismatch"
	CodeTooLarge        Code = "too_large"
	CodeTooManyRedirect Code = "too_many_redirects"
	CodeProtocol        Code = "protocol"

	// icmp
	CodeLoss       Code = "loss"
	CodePermission Code = "permission"

	// path
	CodeNotReached Code = "not_reached"

	// timeout
	CodeDeadline Code = "deadline"

	// validation
	CodeBadSpec   Code = "bad_spec"
	CodeBadTarget Code = "bad_target"

	// internal
	CodeBug Code = "bug"
)

// Codes lists, per layer, every code that may appear with it.
func Codes() map[Layer][]Code {
	m := make(map[Layer][]Code, len(Layers()))
	for _, l := range Layers() {
		m[l] = l.codes()
	}
	return m
}

// codes lists l's codes. ValidFor runs for every failed record at ingest,
// so it looks up one layer instead of building the whole map.
func (l Layer) codes() []Code {
	switch l {
	case LayerDNS:
		return []Code{CodeNXDomain, CodeServFail, CodeRefused, CodeNoAnswer, CodeFormErr, CodeNotImp,
			CodeRcode, CodeAnswerMismatch, CodeTooFewAnswers, CodeNotAuthorative, CodeBadResponse,
			CodeTimeout, CodeNetwork, CodeReset, CodeUnreachable}
	case LayerConnect:
		return []Code{CodeRefused, CodeReset, CodeTimeout, CodeUnreachable, CodeNetwork, CodeDenied}
	case LayerTLS:
		return []Code{CodeCertExpired, CodeCertNotYetValid, CodeCertUntrusted, CodeHostnameMismatch,
			CodeCertExpiring, CodeVersionTooLow, CodeHandshake, CodeTimeout, CodeReset, CodeProtocol}
	case LayerHTTP:
		return []Code{CodeStatus, CodeBodyMismatch, CodeHeaderMismatch, CodeTooLarge, CodeTooManyRedirect,
			CodeProtocol, CodeTimeout, CodeReset}
	case LayerICMP:
		return []Code{CodeLoss, CodeTimeout, CodeUnreachable, CodePermission, CodeNetwork, CodeDenied}
	case LayerPath:
		return []Code{CodeNotReached, CodeTimeout, CodePermission, CodeNetwork, CodeDenied}
	case LayerTimeout:
		return []Code{CodeDeadline}
	case LayerValidation:
		return []Code{CodeBadSpec, CodeBadTarget}
	case LayerInternal:
		return []Code{CodeBug}
	}
	return nil
}

// Layers lists every layer, lowest first.
func Layers() []Layer {
	return []Layer{LayerDNS, LayerConnect, LayerTLS, LayerHTTP, LayerICMP, LayerPath,
		LayerTimeout, LayerValidation, LayerInternal}
}

// Valid reports whether l is one of the fixed layers.
func (l Layer) Valid() bool { return slices.Contains(Layers(), l) }

// ValidFor reports whether c is one of l's codes.
func (c Code) ValidFor(l Layer) bool { return slices.Contains(l.codes(), c) }
