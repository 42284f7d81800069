package results

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func sample() Result {
	r := Result{
		ID: "0192f1c4-7d3a-7b1c-9f00-2b5c1e0d4a11", Endpoint: "checkout-api", Team: "payments",
		Check: "checkout-api/http", Kind: "http", Vantage: "hel1-hetzner-a", Region: "eu-central",
		Provider: "hetzner", ASN: 24940, Target: "https://api.example.com/health", Addr: "93.184.216.34",
		StartedAt:  time.Date(2026, 11, 21, 10, 0, 0, 123e6, time.UTC),
		DurationMS: 182.4,
		Error:      &Error{Layer: LayerTLS, Code: CodeCertExpired, Message: "x509: certificate has expired"},
		Phases:     Phases{DNSMS: 3.1, ConnectMS: 21, TLSMS: 40.2, TTFBMS: 110, TransferMS: 8.1},
	}
	notAfter := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	if err := r.SetDetails(HTTPDetails{Status: 0, HTTPVersion: "2", CertNotAfter: &notAfter}); err != nil {
		panic(err)
	}
	return r
}

func TestResultJSONRoundTrip(t *testing.T) {
	in := sample()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out Result
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip changed the record:\n in: %+v\nout: %+v", in, out)
	}
	var d HTTPDetails
	if err := out.DecodeDetails(&d); err != nil || d.HTTPVersion != "2" || d.CertNotAfter == nil {
		t.Fatalf("details: %+v, %v", d, err)
	}
}

// The wire names are the contract with every prober and store.
func TestResultWireNames(t *testing.T) {
	b, _ := json.Marshal(sample())
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "endpoint", "team", "check", "kind", "vantage", "region", "provider",
		"asn", "target", "addr", "started_at", "duration_ms", "ok", "error", "phases", "details"} {
		if _, ok := m[k]; !ok {
			t.Errorf("field %q missing from %s", k, b)
		}
	}
	if got := m["started_at"]; got != "2026-11-21T10:00:00.123Z" {
		t.Errorf("started_at = %v", got)
	}
	phases := m["phases"].(map[string]any)
	for _, k := range []string{"dns_ms", "connect_ms", "tls_ms", "ttfb_ms", "transfer_ms"} {
		if _, ok := phases[k]; !ok {
			t.Errorf("phase %q missing", k)
		}
	}
}

func TestTracerouteDetailsRoundTrip(t *testing.T) {
	in := TracerouteDetails{Mode: "udp", FlowID: 33434, Reached: true, ASPath: []uint32{64500, 0, 64501},
		Hops: []Hop{{TTL: 1, Addr: "10.0.0.1", RTTMS: []float64{0.3, 0.4}, Sent: 3}, {TTL: 2, Sent: 3, RTTMS: []float64{}}}}
	b, _ := json.Marshal(in)
	var out TracerouteDetails
	if err := json.Unmarshal(b, &out); err != nil || !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip: %+v %v", out, err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Result)
		field  string // "" when valid
	}{
		{"valid failure", func(*Result) {}, ""},
		{"valid success", func(r *Result) { r.OK, r.Error = true, nil }, ""},
		{"no id", func(r *Result) { r.ID = "" }, "id"},
		{"no vantage", func(r *Result) { r.Vantage = "" }, "vantage"},
		{"long endpoint", func(r *Result) { r.Endpoint = strings.Repeat("x", MaxNameBytes+1) }, "endpoint"},
		{"no start", func(r *Result) { r.StartedAt = time.Time{} }, "started_at"},
		{"negative duration", func(r *Result) { r.DurationMS = -1 }, "duration_ms"},
		{"NaN duration", func(r *Result) { r.DurationMS = math.NaN() }, "duration_ms"},
		{"negative phase", func(r *Result) { r.Phases.ConnectMS = -3 }, "phases.connect_ms"},
		{"phase over a day", func(r *Result) { r.Phases.TTFBMS = 1e9 }, "phases.ttfb_ms"},
		{"NaN phase", func(r *Result) { r.Phases.DNSMS = math.NaN() }, "phases.dns_ms"},
		{"failure without error", func(r *Result) { r.Error = nil }, "error"},
		{"success with error", func(r *Result) { r.OK = true }, "error"},
		{"unknown layer", func(r *Result) { r.Error.Layer = "l7" }, "error.layer"},
		{"code of another layer", func(r *Result) { r.Error.Code = CodeNXDomain }, "error.code"},
		{"free text code", func(r *Result) { r.Error.Code = "connection refused by peer" }, "error.code"},
		{"huge details", func(r *Result) { r.Details = []byte(`"` + strings.Repeat("x", MaxDetailsBytes) + `"`) }, "details"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := sample()
			tt.mutate(&r)
			for name, validate := range map[string]func() error{"Validate": r.Validate, "ValidateDecoded": r.ValidateDecoded} {
				err := validate()
				if tt.field == "" {
					if err != nil {
						t.Fatalf("%s: unexpected error %v", name, err)
					}
					continue
				}
				ve, ok := err.(*ValidationError)
				if !ok || ve.Field != tt.field {
					t.Fatalf("%s: error %v, want one naming %q", name, err, tt.field)
				}
			}
		})
	}
}

// Details that are not JSON are refused by Validate, and taken by
// ValidateDecoded, which is for records decoded from JSON.
func TestValidateDetailsSyntax(t *testing.T) {
	r := sample()
	r.Details = []byte("{")
	var ve *ValidationError
	if err := r.Validate(); !errors.As(err, &ve) || ve.Field != "details" {
		t.Errorf("Validate: %v, want an error naming details", err)
	}
	if err := r.ValidateDecoded(); err != nil {
		t.Errorf("ValidateDecoded: %v", err)
	}
}

// Every layer has codes, and every code is snake_case so it can be grouped.
func TestCodesAreFixedWords(t *testing.T) {
	for _, l := range Layers() {
		codes := Codes()[l]
		if len(codes) == 0 {
			t.Errorf("layer %s has no codes", l)
		}
		for _, c := range codes {
			for _, ch := range string(c) {
				if (ch < 'a' || ch > 'z') && ch != '_' {
					t.Errorf("code %q of %s is not snake_case", c, l)
				}
			}
		}
	}
}

func TestFailTruncates(t *testing.T) {
	e := Fail(LayerHTTP, CodeStatus, "%s", strings.Repeat("y", 10000))
	if len(e.Message) != MaxMessageBytes {
		t.Fatalf("message is %d bytes", len(e.Message))
	}
}

// FuzzResultValidate feeds Validate what a prober might send: it never
// panics, and a record it accepts is still accepted after a round trip
// through the wire form, as when a store or a spool re-reads it.
func FuzzResultValidate(f *testing.F) {
	good, _ := json.Marshal(sample())
	f.Add(string(good))
	f.Add(`{"id":"a","endpoint":"e","check":"e/http","kind":"http","vantage":"v","started_at":"2026-11-21T10:00:00Z","ok":true}`)
	f.Add(`{"id":"a","endpoint":"e","check":"c","kind":"k","vantage":"v","started_at":"2026-11-21T10:00:00Z","error":{"layer":"dns","code":"nxdomain"},"phases":{"dns_ms":-1}}`)
	f.Add(`{"details":{"a":1},"duration_ms":1e300}`)
	f.Fuzz(func(t *testing.T, in string) {
		var r Result
		if json.Unmarshal([]byte(in), &r) != nil || r.Validate() != nil {
			return
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("a valid record does not encode: %v", err)
		}
		var back Result
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("a valid record does not decode from its own encoding: %v", err)
		}
		if err := back.Validate(); err != nil {
			t.Fatalf("a valid record is invalid after a round trip: %v", err)
		}
	})
}

// A query's Limit as every store applies it.
func TestRowLimit(t *testing.T) {
	for _, tc := range []struct{ asked, want int }{
		{0, DefaultRowLimit}, {-5, DefaultRowLimit}, {1, 1}, {5000, 5000},
		{MaxRowLimit, MaxRowLimit}, {MaxRowLimit + 1, MaxRowLimit},
	} {
		if got := RowLimit(tc.asked); got != tc.want {
			t.Errorf("RowLimit(%d) = %d, want %d", tc.asked, got, tc.want)
		}
	}
}

// Down is !OK except for a tls/cert_expiring warning, which is a Warning.
func TestDownAndWarning(t *testing.T) {
	for _, tc := range []struct {
		name          string
		ok            bool
		err           *Error
		down, warning bool
	}{
		{"ok", true, nil, false, false},
		{"connect/refused", false, &Error{Layer: LayerConnect, Code: CodeRefused}, true, false},
		{"tls/cert_expired", false, &Error{Layer: LayerTLS, Code: CodeCertExpired}, true, false},
		{"tls/cert_expiring", false, &Error{Layer: LayerTLS, Code: CodeCertExpiring}, false, true},
		{"failed without an error", false, nil, true, false},
	} {
		r := Result{OK: tc.ok, Error: tc.err}
		if r.Down() != tc.down || r.Warning() != tc.warning {
			t.Errorf("%s: Down %v Warning %v, want %v, %v", tc.name, r.Down(), r.Warning(), tc.down, tc.warning)
		}
	}
}

func TestLatency(t *testing.T) {
	for _, tc := range []struct {
		name    string
		r       Result
		want    float64
		wantHas bool
	}{
		{"http: the run", Result{Kind: "http", DurationMS: 182.4}, 182.4, true},
		{"dns: the run", Result{Kind: "dns", DurationMS: 3.1}, 3.1, true},
		{"icmp: the average round trip, not the ping train",
			Result{Kind: "icmp", DurationMS: 2096.3, Details: json.RawMessage(`{"sent":3,"received":3,"rtt_avg_ms":12.5}`)}, 12.5, true},
		{"icmp without a reply", Result{Kind: "icmp", DurationMS: 3000, Details: json.RawMessage(`{"sent":3,"received":0}`)}, 0, false},
		{"icmp without a reply, written with zero RTTs by an older prober",
			Result{Kind: "icmp", DurationMS: 3000, Details: json.RawMessage(`{"sent":3,"received":0,"rtt_min_ms":0,"rtt_avg_ms":0,"rtt_max_ms":0,"rtt_stddev_ms":0}`)}, 0, false},
		{"icmp without details", Result{Kind: "icmp", DurationMS: 3000}, 0, false},
		{"traceroute: none", Result{Kind: "traceroute", DurationMS: 900}, 0, false},
	} {
		got, ok := tc.r.Latency()
		if got != tc.want || ok != tc.wantHas {
			t.Errorf("%s: %v, %v; want %v, %v", tc.name, got, ok, tc.want, tc.wantHas)
		}
	}
}

func TestOptionalMSJSON(t *testing.T) {
	tests := []struct {
		in   OptionalMS
		json string
	}{
		{OptionalMS{}, `null`},
		{OptionalMS{MS: 81.25, Valid: true}, `81.25`},
		{OptionalMS{MS: 0, Valid: true}, `0`},
	}
	for _, tc := range tests {
		b, err := json.Marshal(tc.in)
		if err != nil || string(b) != tc.json {
			t.Errorf("Marshal(%+v) = %s, %v; want %s", tc.in, b, err, tc.json)
		}
		var back OptionalMS
		if err := json.Unmarshal(b, &back); err != nil || back != tc.in {
			t.Errorf("Unmarshal(%s) = %+v, %v; want %+v", b, back, err, tc.in)
		}
	}
	var m OptionalMS
	if err := json.Unmarshal([]byte(`"fast"`), &m); err == nil {
		t.Errorf("Unmarshal(\"fast\") = %+v, want an error", m)
	}
}

// A clone shares no memory with its original: changing the one's
// details or error leaves the other as it was.
func TestResultClone(t *testing.T) {
	for _, r := range []Result{
		{ID: "a", Details: json.RawMessage(`{"status":200}`), Error: &Error{Layer: LayerHTTP, Code: "status_503", Message: "503"}},
		{ID: "b"},
	} {
		c := r.Clone()
		if !reflect.DeepEqual(c, r) {
			t.Fatalf("clone %+v, want %+v", c, r)
		}
		if len(r.Details) > 0 {
			r.Details[0] = 'x'
		}
		if r.Error != nil {
			r.Error.Code = "changed"
		}
		if c.ID == "a" && (string(c.Details) != `{"status":200}` || c.Error.Code != "status_503") {
			t.Errorf("the clone changed with its original: %s %+v", c.Details, c.Error)
		}
		if c.ID == "b" && (c.Details != nil || c.Error != nil) {
			t.Errorf("a clone of a result without details or error has %s %+v", c.Details, c.Error)
		}
	}
}
