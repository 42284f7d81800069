package traceroute

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/picketnet/picket/checks"
	"github.com/picketnet/picket/checks/targetpolicy"
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
		// Zero is no way to ask for the default: it is refused like any
		// other value out of range, not silently replaced.
		{"example.com", `{"max_hops":0}`, "max_hops"},
		{"example.com", `{"max_hops":-1}`, "max_hops"},
		{"example.com", `{"probes":0}`, "probes"},
		{"example.com", `{"probes":-3}`, "probes"},
		{"example.com", `{"gap":0}`, "gap"},
		{"example.com", `{"port":0}`, "port"},
		{"example.com", `{"wait":"0s"}`, "wait"},
		{"example.com", `{"gap":-1}`, "gap"},
		{"example.com", `{"wait":"2m"}`, "wait"},
		{"example.com", `{"family":"5"}`, "family"},
		{"example.com", `{"hops":3}`, "hops"},
		{"example.com:0", `{}`, "target"},
		{"example.com:http", `{}`, "target"},
		{"https://example.com:99999/", `{"mode":"tcp"}`, "target"},
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
	// A TCP trace goes to the target's port unless the spec names one.
	for _, tt := range []struct {
		target, spec string
		port         int
	}{
		{"http://example.com/x", `{"mode":"tcp"}`, 80},
		{"HTTPS://example.com/x", `{"mode":"tcp"}`, 443},
		{"https://example.com:8443/x", `{"mode":"tcp"}`, 8443},
		{"[2001:db8::1]:22", `{"mode":"tcp"}`, 22},
		{"example.com", `{"mode":"tcp"}`, DefaultTCPPort},
		{"2001:db8::1", `{"mode":"tcp"}`, DefaultTCPPort},
		{"example.com:22", `{"mode":"tcp","port":2222}`, 2222},
		{"example.com:22", `{"mode":"udp"}`, DefaultPort},
		{"https://example.com:8443/x", `{}`, DefaultPort},
	} {
		c, err := k.Parse(tt.target, json.RawMessage(tt.spec))
		if err != nil {
			t.Fatalf("Parse(%q, %s): %v", tt.target, tt.spec, err)
		}
		if got := c.(*check).cfg.Port; got != tt.port {
			t.Errorf("Parse(%q, %s): port %d, want %d", tt.target, tt.spec, got, tt.port)
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

// A name is traced at the first address the policy allows, as a connect
// to it would be; when none is allowed the run is refused, naming the
// address, before a probe leaves.
func TestFirstAllowed(t *testing.T) {
	deny := &targetpolicy.Policy{DenyPrivate: true}
	a := netip.MustParseAddr
	tests := []struct {
		addrs  []netip.Addr
		policy *targetpolicy.Policy
		want   netip.Addr
		denied bool
	}{
		{[]netip.Addr{a("10.0.0.1"), a("192.0.2.1")}, nil, a("10.0.0.1"), false},
		{[]netip.Addr{a("10.0.0.1"), a("2001:db8::1")}, deny, a("2001:db8::1"), false},
		{[]netip.Addr{a("169.254.169.254"), a("127.0.0.1")}, deny, a("169.254.169.254"), true},
	}
	for _, tt := range tests {
		got, rerr := firstAllowed(tt.addrs, tt.policy)
		if got != tt.want || (rerr != nil) != tt.denied || (rerr != nil && (rerr.Layer != results.LayerPath || rerr.Code != results.CodeDenied)) {
			t.Errorf("firstAllowed(%v) = %v, %v; want %v, denied %v", tt.addrs, got, rerr, tt.want, tt.denied)
		}
	}
}

// A name that resolves only to denied addresses is refused after DNS.
func TestNameResolvingToDeniedAddress(t *testing.T) {
	ch, err := New(nil).Parse("localhost", nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := ch.Run(context.Background(), checks.Env{Policy: &targetpolicy.Policy{DenyPrivate: true}})
	if rec.OK || rec.Error == nil || rec.Error.Code != results.CodeDenied || (rec.Addr != "127.0.0.1" && rec.Addr != "::1") {
		t.Fatalf("got ok=%v %+v addr %q", rec.OK, rec.Error, rec.Addr)
	}
}
