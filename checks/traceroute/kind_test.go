package traceroute

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/picketnet/picket/checks"
	"github.com/picketnet/picket/results"
)

func TestParseValidation(t *testing.T) {
	k := New(nil)
	tests := []struct {
		target, spec, field string
	}{
		{"", `{}`, "target"},
		{"https:///x", `{}`, "target"},
		{"exa mple.com", `{}`, "target"},
		{"example.com", `{"mode":"sctp"}`, "mode"},
		{"example.com", `{"max_hops":65}`, "max_hops"},
		{"example.com", `{"probes":11}`, "probes"},
		{"example.com", `{"port":70000}`, "port"},
		{"example.com", `{"gap":-1}`, "gap"},
		{"example.com", `{"wait":"2m"}`, "wait"},
		{"example.com", `{"family":"5"}`, "family"},
		{"example.com", `{"hops":3}`, "hops"},
	}
	for _, tt := range tests {
		_, err := k.Parse(tt.target, json.RawMessage(tt.spec))
		var fe *checks.FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field {
			t.Errorf("Parse(%q, %s) = %v, want a FieldError on %q", tt.target, tt.spec, err, tt.field)
		}
	}
	for _, target := range []string{"example.com", "198.51.100.1", "2001:db8::1", "[2001:db8::1]:443", "https://api.example.com/health", "example.com."} {
		c, err := k.Parse(target, json.RawMessage(`{"kind":"traceroute","interval":"5m","timeout":"30s","mode":"udp","max_hops":20,"probes":2,"port":53,"gap":4,"wait":"1s","family":"4"}`))
		if err != nil {
			t.Fatalf("Parse(%q): %v", target, err)
		}
		got := c.(*check)
		want := Config{Mode: ModeUDP, MaxHops: 20, Probes: 2, Port: 53, Gap: 4, Wait: time.Second, Pace: DefaultPace}
		if got.cfg != want || got.timeout != 30*time.Second || got.family != "4" {
			t.Errorf("Parse(%q) = %+v timeout %v", target, got.cfg, got.timeout)
		}
	}
	// The registry accepts the kind with its common fields.
	reg := checks.NewRegistry(k)
	if _, err := reg.Parse("example.com", json.RawMessage(`{"kind":"traceroute","interval":"5m"}`)); err != nil {
		t.Fatal(err)
	}
}

func TestBindFlags(t *testing.T) {
	k := New(nil)
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	opts := k.BindFlags(fs)
	if err := fs.Parse([]string{"-mode", "udp", "-max-hops", "12", "-wait", "500ms"}); err != nil {
		t.Fatal(err)
	}
	raw, err := opts()
	if err != nil {
		t.Fatal(err)
	}
	c, err := k.Parse("example.com", raw)
	if err != nil {
		t.Fatalf("options %s do not parse: %v", raw, err)
	}
	if cfg := c.(*check).cfg; cfg.Mode != ModeUDP || cfg.MaxHops != 12 || cfg.Wait != 500*time.Millisecond || cfg.Probes != 3 {
		t.Errorf("config %+v from %s", cfg, raw)
	}
	fs = flag.NewFlagSet("t", flag.ContinueOnError)
	opts = k.BindFlags(fs)
	_ = fs.Parse([]string{"-mode", "sctp"})
	if _, err := opts(); err == nil || !strings.Contains(err.Error(), "mode") {
		t.Errorf("bad mode accepted: %v", err)
	}
}

func TestWriteReport(t *testing.T) {
	rec := results.Result{Kind: "traceroute", Target: "example.com", Addr: "198.18.4.2", OK: true}
	if err := rec.SetDetails(results.TracerouteDetails{
		Mode: "icmp", FlowID: 4242, Reached: true, RTTMS: 12.5,
		Hops: []results.Hop{
			{TTL: 1, Addr: "10.0.0.1", RTTMS: []float64{0.4, 0.5, 0.6}, Sent: 3},
			{TTL: 2, RTTMS: []float64{}, Sent: 3},
			{TTL: 3, Addr: "198.18.1.2", RTTMS: []float64{10, 14}, Sent: 3, ASN: 64501, ASName: "FIRST-TRANSIT"},
			{TTL: 4, Addr: "198.18.4.2", RTTMS: []float64{12, 12.5, 13}, Sent: 3, ASN: 64503, ASName: "DESTINATION-HOSTING"},
		},
		ASPath: []uint32{0, 64501, 64503},
	}); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteReport(&b, rec); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	t.Log("\n" + out)
	for _, want := range []string{
		"traceroute to example.com (198.18.4.2), mode icmp, flow 4242",
		"HOP", "LOSS",
		"AS64501",
		"FIRST-TRANSIT",
		"33%",
		"14.0",
		"AS path: * AS64501 AS64503",
		"reached 198.18.4.2 in 4 hops, 12.5 ms",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			rows[f[0]] = f
		}
	}
	for hop, want := range map[string]string{
		"1": "1 10.0.0.1 - 0% 3 0.6 0.5 0.4 0.6",
		"2": "2 * 100% 3",
		"3": "3 198.18.1.2 AS64501 FIRST-TRANSIT 33% 3 14.0 12.0 10.0 14.0",
	} {
		if got := strings.Join(rows[hop], " "); got != want {
			t.Errorf("hop %s row %q, want %q", hop, got, want)
		}
	}
}
