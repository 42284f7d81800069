package results

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Result is the record of one check run. The JSON form is the wire format
// between prober and collector; the same fields are the store's columns.
type Result struct {
	// ID is a UUIDv7 made by the prober; ingest is idempotent on it.
	ID       string `json:"id"`
	Endpoint string `json:"endpoint"`
	Team     string `json:"team"`
	// Check is the stable check id, "<endpoint>/<kind>" or
	// "<endpoint>/<kind>-<n>" when an endpoint has several checks of a kind.
	Check    string `json:"check"`
	Kind     string `json:"kind"`
	Vantage  string `json:"vantage"`
	Region   string `json:"region"`
	Provider string `json:"provider"`
	ASN      uint32 `json:"asn"`
	Target   string `json:"target"`
	// Addr is the address the check actually talked to, when it got that far.
	Addr       string    `json:"addr"`
	StartedAt  time.Time `json:"started_at"`
	DurationMS float64   `json:"duration_ms"`
	OK         bool      `json:"ok"`
	Error      *Error    `json:"error,omitempty"`
	Phases     Phases    `json:"phases"`
	// Details holds the kind-specific record (HTTPDetails, DNSDetails, ...)
	// as raw JSON, so that a store can keep it without knowing every kind.
	Details json.RawMessage `json:"details,omitempty"`
}

// Phases are the timings of the steps of a run, in milliseconds. A phase
// that did not happen (no DNS for an IP literal, no TLS for plain HTTP) is 0.
type Phases struct {
	DNSMS      float64 `json:"dns_ms,omitempty"`
	ConnectMS  float64 `json:"connect_ms,omitempty"`
	TLSMS      float64 `json:"tls_ms,omitempty"`
	TTFBMS     float64 `json:"ttfb_ms,omitempty"`
	TransferMS float64 `json:"transfer_ms,omitempty"`
}

// Error says why a run failed: the lowest layer that failed, a code from
// that layer's fixed list, and a free-text message for humans. Reports and
// alerts group by Layer and Code, never by Message.
type Error struct {
	Layer   Layer  `json:"layer"`
	Code    Code   `json:"code"`
	Message string `json:"message,omitempty"`
}

func (e *Error) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("%s/%s", e.Layer, e.Code)
	}
	return fmt.Sprintf("%s/%s: %s", e.Layer, e.Code, e.Message)
}

// Fail builds an Error, truncating the message so that a hostile server
// cannot make a record arbitrarily large.
func Fail(layer Layer, code Code, format string, args ...any) *Error {
	msg := fmt.Sprintf(format, args...)
	if len(msg) > MaxMessageBytes {
		msg = strings.ToValidUTF8(msg[:MaxMessageBytes], "")
	}
	return &Error{Layer: layer, Code: code, Message: msg}
}

// Limits on a record, enforced by Validate, so that ingest can refuse
// oversize input instead of storing it.
const (
	MaxMessageBytes = 512
	MaxDetailsBytes = 64 << 10
	MaxNameBytes    = 256
	MaxTargetBytes  = 2048
)

// Clone returns a copy of r that shares no memory with it, for a store
// that keeps results past the call that handed them over.
func (r *Result) Clone() Result {
	c := *r
	c.Details = bytes.Clone(r.Details)
	if r.Error != nil {
		e := *r.Error
		c.Error = &e
	}
	return c
}

// SetDetails stores v as the record's details.
func (r *Result) SetDetails(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s details: %w", r.Kind, err)
	}
	r.Details = b
	return nil
}

// DecodeDetails decodes the record's details into v, a pointer to the
// details type of the record's kind.
func (r *Result) DecodeDetails(v any) error {
	if len(r.Details) == 0 {
		return errors.New("record has no details")
	}
	if err := json.Unmarshal(r.Details, v); err != nil {
		return fmt.Errorf("decode %s details of %s: %w", r.Kind, r.ID, err)
	}
	return nil
}

// Finish sets the run's outcome: duration since StartedAt, OK and Error.
func (r *Result) Finish(end time.Time, err *Error) {
	r.DurationMS = Millis(end.Sub(r.StartedAt))
	r.Error = err
	r.OK = err == nil
}

// Down reports whether the run counts against the endpoint's reachability:
// it failed, for any reason but tls/cert_expiring. This is the one rule of
// what an outage is; rollups (failures, failed rounds, down minutes, and so
// availability and downtime), the dashboard's states, the reachability
// alerts and the picket_probe_success gauge all decide by it.
//
// A certificate that verifies but expires within min_days_left fails the
// check, because the operator asked to hear of it, but the endpoint still
// answers: the warning is the cert_expiry alert, not an outage. The record
// keeps OK false and its error, as the prober saw it; Warning tells it
// apart.
func (r *Result) Down() bool {
	return !r.OK && !r.Warning()
}

// Warning reports whether the run failed only with a warning, a condition
// the operator wants to hear of that does not make the endpoint down (see
// Down): today tls/cert_expiring alone.
func (r *Result) Warning() bool {
	return !r.OK && r.Error != nil && r.Error.Layer == LayerTLS && r.Error.Code == CodeCertExpiring
}

// Latency is the run's latency in milliseconds, the number latency
// percentiles and latency alerts are made of: the run's duration, except
// for ICMP, whose duration is mostly the interval between its probes, so
// its average round trip; a traceroute has none (its duration is that of
// probing every hop), nor has an ICMP run that received no reply.
func (r *Result) Latency() (ms float64, ok bool) {
	switch r.Kind {
	case "traceroute":
		return 0, false
	case "icmp":
		var d ICMPDetails
		// Records written before the RTTs were omitted carry zeros for a
		// run without replies: Received tells them apart.
		if r.DecodeDetails(&d) != nil || d.Received == 0 || d.RTTAvgMS == nil {
			return 0, false
		}
		return *d.RTTAvgMS, true
	}
	return r.DurationMS, true
}

// ErrorColumns returns the run's error as stores keep it, in three
// columns: empty strings for a run that succeeded.
func (r *Result) ErrorColumns() (layer, code, message string) {
	if r.Error == nil {
		return "", "", ""
	}
	return string(r.Error.Layer), string(r.Error.Code), r.Error.Message
}

// SetErrorColumns sets the run's error from the columns ErrorColumns
// returned.
func (r *Result) SetErrorColumns(layer, code, message string) {
	r.Error = nil
	if layer != "" || code != "" {
		r.Error = &Error{Layer: Layer(layer), Code: Code(code), Message: message}
	}
}

// Millis converts a duration to fractional milliseconds, the unit of every
// timing in the record.
func Millis(d time.Duration) float64 {
	return float64(d) / float64(time.Millisecond)
}

// ValidationError names the field of a record that is wrong.
type ValidationError struct {
	Field  string
	Reason string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Reason }

// Validate checks what ingest must be able to rely on: identity fields
// present and bounded, a known layer/code on failure, sane timings, and
// details that are JSON.
func (r *Result) Validate() error {
	if err := r.ValidateDecoded(); err != nil {
		return err
	}
	if len(r.Details) > 0 && !json.Valid(r.Details) {
		return &ValidationError{Field: "details", Reason: "not valid JSON"}
	}
	return nil
}

// ValidateDecoded is Validate for a record decoded from JSON, whose
// details are JSON already: checking them again was three quarters of
// Validate's time in a collector under load.
func (r *Result) ValidateDecoded() error {
	bad := func(field, format string, args ...any) error {
		return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	for _, f := range []struct {
		name, value string
		required    bool
	}{
		{"id", r.ID, true}, {"endpoint", r.Endpoint, true}, {"check", r.Check, true},
		{"kind", r.Kind, true}, {"vantage", r.Vantage, true}, {"region", r.Region, false},
		{"team", r.Team, false}, {"provider", r.Provider, false}, {"addr", r.Addr, false},
	} {
		if f.required && f.value == "" {
			return bad(f.name, "missing")
		}
		if len(f.value) > MaxNameBytes {
			return bad(f.name, "longer than %d bytes", MaxNameBytes)
		}
	}
	if len(r.Target) > MaxTargetBytes {
		return bad("target", "longer than %d bytes", MaxTargetBytes)
	}
	if r.StartedAt.IsZero() {
		return bad("started_at", "missing")
	}
	// Written so that NaN, which no comparison holds for, is out of range
	// too: reports average these numbers.
	const maxMS = float64(24 * time.Hour / time.Millisecond)
	inRange := func(ms float64) bool { return ms >= 0 && ms <= maxMS }
	if !inRange(r.DurationMS) {
		return bad("duration_ms", "out of range: %v", r.DurationMS)
	}
	for _, p := range []struct {
		name string
		ms   float64
	}{
		{"phases.dns_ms", r.Phases.DNSMS}, {"phases.connect_ms", r.Phases.ConnectMS}, {"phases.tls_ms", r.Phases.TLSMS},
		{"phases.ttfb_ms", r.Phases.TTFBMS}, {"phases.transfer_ms", r.Phases.TransferMS},
	} {
		if !inRange(p.ms) {
			return bad(p.name, "out of range: %v", p.ms)
		}
	}
	if r.OK && r.Error != nil {
		return bad("error", "set on a successful result")
	}
	if !r.OK {
		if r.Error == nil {
			return bad("error", "missing on a failed result")
		}
		if !r.Error.Layer.Valid() {
			return bad("error.layer", "unknown layer %q", r.Error.Layer)
		}
		if !r.Error.Code.ValidFor(r.Error.Layer) {
			return bad("error.code", "unknown code %q for layer %q", r.Error.Code, r.Error.Layer)
		}
		if len(r.Error.Message) > MaxMessageBytes {
			return bad("error.message", "longer than %d bytes", MaxMessageBytes)
		}
	}
	if len(r.Details) > MaxDetailsBytes {
		return bad("details", "larger than %d bytes", MaxDetailsBytes)
	}
	return nil
}
