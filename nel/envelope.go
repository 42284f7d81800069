package nel

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// Phases of a request, as NEL names them.
const (
	PhaseDNS         = "dns"
	PhaseConnection  = "connection"
	PhaseApplication = "application"
)

// ReportType is the only Reporting API report type this endpoint takes.
const ReportType = "network-error"

// TypeOK is the NEL type of a successful request (sent when the policy's
// success_fraction is above zero).
const TypeOK = "ok"

// types are the NEL types the collector accepts, with the phases each may
// be reported in: the W3C list plus the finer ones Chromium sends. An
// empty phase list means any phase.
var types = map[string][]string{
	"ok": {PhaseApplication},

	"dns.unreachable":       {PhaseDNS},
	"dns.name_not_resolved": {PhaseDNS},
	"dns.failed":            {PhaseDNS},
	"dns.address_changed":   {PhaseDNS},

	"tcp.timed_out":           {PhaseConnection, PhaseApplication},
	"tcp.closed":              {PhaseConnection, PhaseApplication},
	"tcp.reset":               {PhaseConnection, PhaseApplication},
	"tcp.refused":             {PhaseConnection},
	"tcp.aborted":             {PhaseConnection, PhaseApplication},
	"tcp.address_invalid":     {PhaseConnection},
	"tcp.address_unreachable": {PhaseConnection},
	"tcp.failed":              {PhaseConnection, PhaseApplication},

	"tls.version_or_cipher_mismatch":                     {PhaseConnection},
	"tls.bad_client_auth_cert":                           {PhaseConnection},
	"tls.cert.name_invalid":                              {PhaseConnection},
	"tls.cert.date_invalid":                              {PhaseConnection},
	"tls.cert.authority_invalid":                         {PhaseConnection},
	"tls.cert.invalid":                                   {PhaseConnection},
	"tls.cert.revoked":                                   {PhaseConnection},
	"tls.cert.pinned_key_not_in_cert_list":               {PhaseConnection},
	"tls.protocol.error":                                 {PhaseConnection},
	"tls.failed":                                         {PhaseConnection},
	"h2.ping_failed":                                     {PhaseApplication},
	"h2.protocol.error":                                  {PhaseConnection, PhaseApplication},
	"h3.protocol.error":                                  {PhaseConnection, PhaseApplication},
	"quic.protocol.error":                                {PhaseConnection, PhaseApplication},
	"http.error":                                         {PhaseApplication},
	"http.protocol.error":                                {PhaseApplication},
	"http.response.invalid":                              {PhaseApplication},
	"http.response.invalid.empty":                        {PhaseApplication},
	"http.response.invalid.content_length_mismatch":      {PhaseApplication},
	"http.response.invalid.incomplete_chunked_encoding":  {PhaseApplication},
	"http.response.invalid.invalid_chunked_encoding":     {PhaseApplication},
	"http.response.invalid.multiple_content_disposition": {PhaseApplication},
	"http.response.invalid.multiple_content_length":      {PhaseApplication},
	"http.response.invalid.multiple_location":            {PhaseApplication},
	"http.response.redirect_loop":                        {PhaseApplication},
	"http.failed":                                        {PhaseApplication},

	"abandoned": nil,
	"unknown":   nil,
}

// KnownType reports whether t is a NEL type the collector accepts.
func KnownType(t string) bool {
	_, ok := types[t]
	return ok
}

// Limits of single fields: generous for real reports, small enough that a
// full request stays cheap.
const (
	maxURLLen       = 2048
	maxUserAgentLen = 512
	maxElapsed      = 24 * time.Hour
	maxProtocolLen  = 32
	maxMethodLen    = 16
)

// Report is one validated report as sent, before the privacy
// transformations: it still holds the full URL and user agent, so it is
// never stored as is.
type Report struct {
	Age       time.Duration
	URL       *url.URL
	UserAgent string
	Body      Body
}

// Body is the NEL body of a report.
type Body struct {
	SamplingFraction float64
	Elapsed          time.Duration
	Phase            string
	Type             string
	ServerIP         netip.Addr // invalid when absent
	Protocol         string
	Method           string
	StatusCode       int
}

// FieldError says which field of which report is wrong.
type FieldError struct {
	Field string // reports[2].body.phase
	Msg   string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

// ErrTooManyReports is returned (wrapped) by Parse when the envelope holds
// more reports than allowed.
var ErrTooManyReports = errors.New("too many reports")

type wireReport struct {
	Age       *float64  `json:"age"`
	Type      *string   `json:"type"`
	URL       *string   `json:"url"`
	UserAgent *string   `json:"user_agent"`
	Body      *wireBody `json:"body"`
}

type wireBody struct {
	SamplingFraction *float64 `json:"sampling_fraction"`
	ElapsedTime      *float64 `json:"elapsed_time"`
	Phase            *string  `json:"phase"`
	Type             *string  `json:"type"`
	ServerIP         *string  `json:"server_ip"`
	Protocol         *string  `json:"protocol"`
	Referrer         *string  `json:"referrer"`
	Method           *string  `json:"method"`
	StatusCode       *float64 `json:"status_code"`
	// The spec's optional header maps are never stored; they only have
	// to be objects.
	RequestHeaders  json.RawMessage `json:"request_headers"`
	ResponseHeaders json.RawMessage `json:"response_headers"`
}

// Parse validates an application/reports+json envelope holding at most
// maxReports network-error reports. Every report must be valid: the first
// problem is returned as a *FieldError naming the report and field.
// Unknown keys are ignored, so that a browser adding a field does not lose
// its reports; every known key is checked.
func Parse(data []byte, maxReports int) ([]Report, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return nil, &FieldError{Msg: "the body must be a JSON array of reports"}
		}
		return nil, &FieldError{Msg: "malformed JSON: " + err.Error()}
	}
	if len(raw) == 0 {
		return nil, &FieldError{Msg: "no reports: the array is empty"}
	}
	if len(raw) > maxReports {
		return nil, fmt.Errorf("%w: %d reports, at most %d per request", ErrTooManyReports, len(raw), maxReports)
	}
	out := make([]Report, 0, len(raw))
	for i, r := range raw {
		rep, err := parseReport(r)
		if err != nil {
			var fe *FieldError
			if errors.As(err, &fe) {
				fe.Field = fmt.Sprintf("reports[%d]", i) + prefixDot(fe.Field)
				return nil, fe
			}
			return nil, err
		}
		out = append(out, rep)
	}
	return out, nil
}

func prefixDot(f string) string {
	if f == "" {
		return ""
	}
	return "." + f
}

func parseReport(data []byte) (Report, error) {
	var w wireReport
	if err := json.Unmarshal(data, &w); err != nil {
		return Report{}, decodeError(err)
	}
	var r Report
	switch {
	case w.Type == nil:
		return r, &FieldError{Field: "type", Msg: "missing"}
	case *w.Type != ReportType:
		return r, &FieldError{Field: "type", Msg: fmt.Sprintf("%q is not %q: this endpoint takes only Network Error Logging reports", clip(*w.Type), ReportType)}
	}
	if w.Age == nil {
		return r, &FieldError{Field: "age", Msg: "missing"}
	}
	age, err := number(*w.Age, 0, float64(maxAge/time.Millisecond))
	if err != nil {
		return r, &FieldError{Field: "age", Msg: err.Error() + " (milliseconds, at most 7 days)"}
	}
	r.Age = time.Duration(age * float64(time.Millisecond))

	if w.URL == nil {
		return r, &FieldError{Field: "url", Msg: "missing"}
	}
	u, err := parseReportURL(*w.URL)
	if err != nil {
		return r, &FieldError{Field: "url", Msg: err.Error()}
	}
	r.URL = u

	if w.UserAgent != nil {
		if len(*w.UserAgent) > maxUserAgentLen {
			return r, &FieldError{Field: "user_agent", Msg: fmt.Sprintf("longer than %d bytes", maxUserAgentLen)}
		}
		if !printable(*w.UserAgent) {
			return r, &FieldError{Field: "user_agent", Msg: "holds control characters"}
		}
		r.UserAgent = *w.UserAgent
	}
	if w.Body == nil {
		return r, &FieldError{Field: "body", Msg: "missing"}
	}
	b, err := parseBody(w.Body)
	if err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			fe.Field = "body." + fe.Field
		}
		return r, err
	}
	r.Body = b
	return r, nil
}

// maxAge is the oldest report accepted: the agent's disk queue may hold
// reports for days while no collector answers, a browser for 15 minutes.
const maxAge = 7 * 24 * time.Hour

func parseBody(w *wireBody) (Body, error) {
	var b Body
	if w.Phase == nil {
		return b, &FieldError{Field: "phase", Msg: "missing"}
	}
	switch *w.Phase {
	case PhaseDNS, PhaseConnection, PhaseApplication:
		b.Phase = *w.Phase
	default:
		return b, &FieldError{Field: "phase", Msg: fmt.Sprintf("%q is not dns, connection or application", clip(*w.Phase))}
	}
	if w.Type == nil {
		return b, &FieldError{Field: "type", Msg: "missing"}
	}
	phases, ok := types[*w.Type]
	if !ok {
		return b, &FieldError{Field: "type", Msg: fmt.Sprintf("%q is not a Network Error Logging type", clip(*w.Type))}
	}
	if len(phases) > 0 && !contains(phases, b.Phase) {
		return b, &FieldError{Field: "type", Msg: fmt.Sprintf("%q cannot happen in the %s phase (only %s)", *w.Type, b.Phase, strings.Join(phases, ", "))}
	}
	b.Type = *w.Type

	if w.SamplingFraction == nil {
		return b, &FieldError{Field: "sampling_fraction", Msg: "missing"}
	}
	sf, err := number(*w.SamplingFraction, 0, 1)
	if err != nil || sf == 0 {
		return b, &FieldError{Field: "sampling_fraction", Msg: "must be a number in (0, 1]"}
	}
	b.SamplingFraction = sf

	if w.ElapsedTime != nil {
		ms, err := number(*w.ElapsedTime, 0, float64(maxElapsed/time.Millisecond))
		if err != nil {
			return b, &FieldError{Field: "elapsed_time", Msg: err.Error() + " (milliseconds, at most a day)"}
		}
		b.Elapsed = time.Duration(ms * float64(time.Millisecond))
	}
	if w.ServerIP != nil && *w.ServerIP != "" {
		ip, err := netip.ParseAddr(strings.Trim(*w.ServerIP, "[]"))
		if err != nil || ip.Zone() != "" {
			return b, &FieldError{Field: "server_ip", Msg: fmt.Sprintf("%q is not an IP address", clip(*w.ServerIP))}
		}
		b.ServerIP = ip.Unmap()
	}
	if w.Protocol != nil {
		if !token(*w.Protocol, maxProtocolLen, "abcdefghijklmnopqrstuvwxyz0123456789./-_") {
			return b, &FieldError{Field: "protocol", Msg: fmt.Sprintf("%q is not an ALPN protocol id such as http/1.1, h2 or h3", clip(*w.Protocol))}
		}
		b.Protocol = *w.Protocol
	}
	if w.Method != nil {
		if !token(*w.Method, maxMethodLen, "ABCDEFGHIJKLMNOPQRSTUVWXYZ-") {
			return b, &FieldError{Field: "method", Msg: fmt.Sprintf("%q is not an HTTP method", clip(*w.Method))}
		}
		b.Method = *w.Method
	}
	if w.StatusCode != nil {
		sc, err := number(*w.StatusCode, 0, 599)
		if err != nil || sc != math.Trunc(sc) || (sc != 0 && sc < 100) {
			return b, &FieldError{Field: "status_code", Msg: "must be 0 or an HTTP status code 100-599"}
		}
		b.StatusCode = int(sc)
	}
	if b.Type == "http.error" && b.StatusCode < 400 {
		return b, &FieldError{Field: "status_code", Msg: "http.error needs the 4xx or 5xx status code"}
	}
	if w.Referrer != nil && len(*w.Referrer) > maxURLLen {
		return b, &FieldError{Field: "referrer", Msg: fmt.Sprintf("longer than %d bytes", maxURLLen)}
	}
	if !objectOrNull(w.RequestHeaders) {
		return b, &FieldError{Field: "request_headers", Msg: "must be an object"}
	}
	if !objectOrNull(w.ResponseHeaders) {
		return b, &FieldError{Field: "response_headers", Msg: "must be an object"}
	}
	return b, nil
}

func objectOrNull(raw json.RawMessage) bool {
	return len(raw) == 0 || bytes.Equal(raw, []byte("null")) || raw[0] == '{'
}

// parseReportURL accepts an absolute http or https URL with a host.
func parseReportURL(s string) (*url.URL, error) {
	if len(s) > maxURLLen {
		return nil, fmt.Errorf("longer than %d bytes", maxURLLen)
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, errors.New("not a URL")
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%q is not an http or https URL", clip(s))
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("%q has no host", clip(s))
	}
	if p := u.Port(); p != "" {
		if n, err := parsePort(p); err != nil || n == 0 {
			return nil, fmt.Errorf("%q has a bad port", clip(s))
		}
	}
	return u, nil
}

func parsePort(p string) (int, error) {
	n := 0
	if len(p) > 5 {
		return 0, errors.New("bad port")
	}
	for _, c := range p {
		if c < '0' || c > '9' {
			return 0, errors.New("bad port")
		}
		n = n*10 + int(c-'0')
	}
	if n > 65535 {
		return 0, errors.New("bad port")
	}
	return n, nil
}

func decodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return &FieldError{Field: typeErr.Field, Msg: fmt.Sprintf("must be a %s, not a JSON %s", jsonKind(typeErr.Type.Kind().String()), typeErr.Value)}
	}
	return &FieldError{Msg: "malformed report: " + err.Error()}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "struct", "map":
		return "object"
	}
	return "number"
}

// number checks that a JSON number is in [lo, hi].
func number(f float64, lo, hi float64) (float64, error) {
	if f < lo || f > hi {
		return 0, fmt.Errorf("%v is out of range [%v, %v]", f, lo, hi)
	}
	return f, nil
}

func token(s string, maxLen int, alphabet string) bool {
	if len(s) > maxLen {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune(alphabet, c) {
			return false
		}
	}
	return true
}

func printable(s string) bool {
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// clip shortens a client's value quoted in an error message.
func clip(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
