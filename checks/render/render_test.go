package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/picketnet/picket/results"
)

func TestSummary(t *testing.T) {
	answers := make([]string, 12)
	for i := range answers {
		answers[i] = "a" + string(rune('a'+i))
	}
	details, err := json.Marshal(map[string]any{
		"answers": answers,
		"tls":     map[string]any{"version": "TLS 1.3", "sans": []string{}},
		"hops":    []map[string]any{{"ttl": 1, "addr": "192.0.2.1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		rec  results.Result
		want string
	}{
		{
			name: "failure with phases and details",
			rec: results.Result{
				Kind: "x", Target: "t.example", Addr: "192.0.2.9", DurationMS: 40,
				Error:   &results.Error{Layer: results.LayerTLS, Code: results.CodeCertExpired, Message: "certificate has expired"},
				Phases:  results.Phases{DNSMS: 10, ConnectMS: 10, TLSMS: 20},
				Details: details,
			},
			want: `x t.example: FAIL tls/cert_expired
  error     certificate has expired
  addr      192.0.2.9
  duration  40.0 ms
  phases    dns           10.0 ms  ████████
            connect       10.0 ms          ███████
            tls           20.0 ms                 ███████████████
  details   answers      aa
                         ab
                         ac
                         ad
                         ae
                         af
                         ag
                         ah
                         ai
                         aj
                         ... 2 more
            hops         {"addr":"192.0.2.1","ttl":1}
            tls.sans     (none)
            tls.version  TLS 1.3
`,
		},
		{
			name: "success without phases",
			rec:  results.Result{Kind: "tcp", Target: "192.0.2.1:443", OK: true, DurationMS: 1.25},
			want: "tcp 192.0.2.1:443: ok\n  duration  1.2 ms\n",
		},
		{
			// A record decoded from elsewhere may fail without an error:
			// the summary still says FAIL rather than crashing.
			name: "failure without error",
			rec:  results.Result{Kind: "tcp", Target: "t", DurationMS: 2},
			want: "tcp t: FAIL\n  duration  2.0 ms\n",
		},
		{
			name: "unreadable details",
			rec:  results.Result{Kind: "dns", Target: "t", OK: true, Details: json.RawMessage(`{"rcode":`)},
			want: "dns t: ok\n  duration  0.0 ms\n  details   (unreadable)  EOF\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := Summary(&b, tt.rec); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("summary\n%s\nwant\n%s", b.String(), tt.want)
			}
		})
	}
}

func traceRecord(t *testing.T, ok bool) results.Result {
	t.Helper()
	rec := results.Result{Kind: "traceroute", Target: "example.com", Addr: "198.18.4.2", OK: ok}
	hops := []results.Hop{
		{TTL: 1, Addr: "10.0.0.1", RTTMS: []float64{0.4, 0.5, 0.6}, Sent: 3},
		{TTL: 2, RTTMS: []float64{}, Sent: 3},
		{TTL: 3, Addr: "198.18.1.2", RTTMS: []float64{10, 14}, Sent: 3, ASN: 64501, ASName: "FIRST-TRANSIT"},
		{TTL: 4, Addr: "198.18.4.2", RTTMS: []float64{12, 12.5, 13}, Sent: 3, ASN: 64503, ASName: "DESTINATION-HOSTING-WITH-A-VERY-LONG-NAME"},
	}
	if !ok {
		hops = hops[:3]
		rec.Error = &results.Error{Layer: results.LayerPath, Code: results.CodeNotReached, Message: "no answer from 198.18.4.2"}
	}
	if err := rec.SetDetails(results.TracerouteDetails{
		Mode: "icmp", FlowID: 4242, Reached: ok, RTTMS: 12.5, Hops: hops, ASPath: []uint32{0, 64501, 64503},
	}); err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestTrace(t *testing.T) {
	tests := []struct {
		name string
		rec  results.Result
		want string
	}{
		{"reached", traceRecord(t, true), `traceroute to example.com (198.18.4.2), mode icmp, flow 4242
HOP  ADDRESS     ASN      AS NAME                           LOSS  SENT  LAST  AVG   BEST  WORST
1    10.0.0.1    -                                          0%    3     0.6   0.5   0.4   0.6
2    *                                                      100%  3
3    198.18.1.2  AS64501  FIRST-TRANSIT                     33%   3     14.0  12.0  10.0  14.0
4    198.18.4.2  AS64503  DESTINATION-HOSTING-WITH-A-VERY…  0%    3     13.0  12.5  12.0  13.0
AS path: * AS64501 AS64503
reached 198.18.4.2 in 4 hops, 12.5 ms
`},
		{"not reached", traceRecord(t, false), `traceroute to example.com (198.18.4.2), mode icmp, flow 4242
HOP  ADDRESS     ASN      AS NAME        LOSS  SENT  LAST  AVG   BEST  WORST
1    10.0.0.1    -                       0%    3     0.6   0.5   0.4   0.6
2    *                                   100%  3
3    198.18.1.2  AS64501  FIRST-TRANSIT  33%   3     14.0  12.0  10.0  14.0
AS path: * AS64501 AS64503
not reached: path/not_reached: no answer from 198.18.4.2
`},
		{"failed before the first probe", results.Result{Kind: "traceroute", Target: "nonexistent.invalid",
			Error: &results.Error{Layer: results.LayerDNS, Code: results.CodeNXDomain, Message: "lookup nonexistent.invalid: no such host"}},
			"traceroute to nonexistent.invalid: dns/nxdomain: lookup nonexistent.invalid: no such host\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := Trace(&b, tt.rec); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("report\n%s\nwant\n%s", b.String(), tt.want)
			}
		})
	}
}

func TestTraceBadDetails(t *testing.T) {
	var b strings.Builder
	err := Trace(&b, results.Result{Kind: "traceroute", Details: json.RawMessage(`{"hops":"x"}`)})
	var syntax *json.UnmarshalTypeError
	if !errors.As(err, &syntax) || b.Len() != 0 {
		t.Fatalf("err %v, wrote %q; want a JSON type error and nothing written", err, b.String())
	}
}

func TestASPath(t *testing.T) {
	for _, tt := range []struct {
		path []uint32
		want string
	}{
		{nil, "(none)"},
		{[]uint32{0}, "*"},
		{[]uint32{64501, 0, 64502}, "AS64501 * AS64502"},
	} {
		if got := ASPath(tt.path); got != tt.want {
			t.Errorf("ASPath(%v) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

// Routers other than the hop's that answered some of its probes are listed
// under it, each with its AS, and the columns stay aligned.
func TestTraceOtherResponders(t *testing.T) {
	rec := results.Result{Kind: "traceroute", Target: "198.18.30.2", Addr: "198.18.30.2", OK: true}
	if err := rec.SetDetails(results.TracerouteDetails{Mode: "udp", FlowID: 7, Reached: true, RTTMS: 2, ASPath: []uint32{64510, 64530},
		Hops: []results.Hop{
			{TTL: 1, Addr: "198.18.10.2", RTTMS: []float64{1, 1, 2, 2}, Sent: 4, ASN: 64510, ASName: "BRANCH-A",
				Others: []results.HopResponder{{Addr: "198.18.20.2", Answered: 2, ASN: 64520, ASName: "BRANCH-B"}, {Addr: "10.9.9.9", Answered: 1}}},
			{TTL: 2, Addr: "198.18.30.2", RTTMS: []float64{2, 2}, Sent: 2, ASN: 64530, ASName: "TARGET"},
		}}); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := Trace(&b, rec); err != nil {
		t.Fatal(err)
	}
	want := `traceroute to 198.18.30.2 (198.18.30.2), mode udp, flow 7
HOP  ADDRESS      ASN      AS NAME   LOSS  SENT  LAST  AVG  BEST  WORST
1    198.18.10.2  AS64510  BRANCH-A  0%    4     2.0   1.5  1.0   2.0
     198.18.20.2  AS64520  BRANCH-B
     10.9.9.9     -
2    198.18.30.2  AS64530  TARGET    0%    2     2.0   2.0  2.0   2.0
AS path: AS64510 AS64530
reached 198.18.30.2 in 2 hops, 2.0 ms
`
	if b.String() != want {
		t.Errorf("report\n%s\nwant\n%s", b.String(), want)
	}
}

// A hop that answered destination unreachable carries traceroute's mark.
func TestTraceUnreachableMark(t *testing.T) {
	rec := results.Result{Kind: "traceroute", Target: "198.18.4.2", Addr: "198.18.4.2",
		Error: &results.Error{Layer: results.LayerPath, Code: results.CodeNotReached, Message: "198.18.3.2 answered administratively prohibited (!X, code 13) at hop 2"}}
	if err := rec.SetDetails(results.TracerouteDetails{Mode: "tcp", Port: 443, FlowID: 7, ASPath: []uint32{64502},
		Hops: []results.Hop{
			{TTL: 1, Addr: "198.18.3.2", RTTMS: []float64{1}, Sent: 1, ASN: 64502, ASName: "TRANSIT"},
			{TTL: 2, Addr: "198.18.3.2", RTTMS: []float64{1}, Sent: 1, ASN: 64502, ASName: "TRANSIT", Unreachable: "!X"},
		}}); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := Trace(&b, rec); err != nil {
		t.Fatal(err)
	}
	want := `traceroute to 198.18.4.2 (198.18.4.2), mode tcp port 443, flow 7
HOP  ADDRESS        ASN      AS NAME  LOSS  SENT  LAST  AVG  BEST  WORST
1    198.18.3.2     AS64502  TRANSIT  0%    1     1.0   1.0  1.0   1.0
2    198.18.3.2 !X  AS64502  TRANSIT  0%    1     1.0   1.0  1.0   1.0
AS path: AS64502
not reached: path/not_reached: 198.18.3.2 answered administratively prohibited (!X, code 13) at hop 2
`
	if b.String() != want {
		t.Errorf("report\n%s\nwant\n%s", b.String(), want)
	}
}

// A target one hop away is reached in 1 hop, not "1 hops".
func TestTraceOneHop(t *testing.T) {
	rec := results.Result{Kind: "traceroute", Target: "127.0.0.1", Addr: "127.0.0.1", OK: true}
	if err := rec.SetDetails(results.TracerouteDetails{Mode: "icmp", FlowID: 9, Reached: true, RTTMS: 0.1,
		Hops: []results.Hop{{TTL: 1, Addr: "127.0.0.1", RTTMS: []float64{0.1, 0.1, 0.1}, Sent: 3}}}); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := Trace(&b, rec); err != nil {
		t.Fatal(err)
	}
	if want := "reached 127.0.0.1 in 1 hop, 0.1 ms\n"; !strings.HasSuffix(b.String(), want) {
		t.Errorf("report\n%s\ndoes not end with %q", b.String(), want)
	}
}

// What the network wrote (a certificate's subject, a server's error, an
// AS name from a TXT record) reaches the terminal of whoever runs picket
// check or picket trace: its escape sequences are shown, not obeyed, and a
// tab in an AS name does not break the table.
func TestTerminalEscapesNeutralised(t *testing.T) {
	const hostile = "evil\x1b]0;owned\a\x1b[2J\x9b31m\tend"
	details, err := json.Marshal(results.TLSDetails{Subject: "CN=" + hostile, Issuer: hostile, SANs: []string{hostile}})
	if err != nil {
		t.Fatal(err)
	}
	trace := results.Result{Kind: "traceroute", Target: "example.com", Addr: "198.18.4.2", OK: true}
	if err := trace.SetDetails(results.TracerouteDetails{Mode: "icmp", Reached: true, Hops: []results.Hop{
		{TTL: 1, Addr: "198.18.4.2", RTTMS: []float64{1}, Sent: 1, ASN: 64500, ASName: hostile},
	}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		write func(*bytes.Buffer) error
		lines int
	}{
		{"summary", func(b *bytes.Buffer) error {
			return Summary(b, results.Result{Kind: "tls", Target: "evil.example:443", DurationMS: 1, Details: details,
				Error: &results.Error{Layer: results.LayerTLS, Code: results.CodeCertUntrusted, Message: "x509: " + hostile}})
		}, 8},
		{"trace", func(b *bytes.Buffer) error { return Trace(b, trace) }, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tt.write(&b); err != nil {
				t.Fatal(err)
			}
			out := strings.TrimRight(b.String(), "\n")
			if i := strings.IndexFunc(out, func(r rune) bool { return r != '\n' && (r < ' ' || r >= 0x7f && r < 0xa0) }); i >= 0 {
				t.Fatalf("control character %q reaches the terminal:\n%q", out[i:min(i+4, len(out))], out)
			}
			if !strings.Contains(out, "evil\uFFFD]0;owned\uFFFD\uFFFD[2J\uFFFD31m") {
				t.Errorf("the text is not shown with its control characters replaced:\n%s", out)
			}
			if n := strings.Count(out, "\n") + 1; n != tt.lines {
				t.Errorf("%d lines, want %d:\n%s", n, tt.lines, out)
			}
		})
	}
}
