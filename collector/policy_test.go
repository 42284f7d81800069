package collector

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/picketnet/picket/checks"
	dnscheck "github.com/picketnet/picket/checks/dns"
	"github.com/picketnet/picket/checks/targetpolicy"
	"github.com/picketnet/picket/collector/api"
	"github.com/picketnet/picket/collector/client"
	"github.com/picketnet/picket/results"
)

// startDNS serves A records from a map on a loopback UDP port and returns
// a resolver that asks only it.
func startDNS(t *testing.T, records map[string]string) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		name := q.Question[0].Name
		addr, ok := records[strings.TrimSuffix(name, ".")]
		switch {
		case !ok:
			m.Rcode = dns.RcodeNameError
		case q.Question[0].Qtype == dns.TypeA:
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP(addr)})
		}
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	addr := pc.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", addr)
	}}
}

// TestTargetPolicyDNS: a name that resolves to a denied address is refused
// at registration; an allowed CIDR makes an exception; a public name passes.
func TestTargetPolicyDNS(t *testing.T) {
	resolver := startDNS(t, map[string]string{
		"internal.example.test": "10.20.30.40",
		"metadata.example.test": "169.254.169.254",
		"public.example.test":   "203.0.113.80",
		"lab.example.test":      "192.168.7.7",
	})
	e := newEnv(t, openSQLite, func(o *Options) {
		o.Resolver = resolver
		o.Policy = targetpolicy.Policy{DenyPrivate: true, Allow: []netip.Prefix{netip.MustParsePrefix("192.168.7.0/24")}}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	team := e.team("payments")
	tests := []struct {
		target string
		denied string // "" when allowed
	}{
		{"https://internal.example.test/health", "internal.example.test resolves to 10.20.30.40"},
		{"metadata.example.test:80", "metadata.example.test resolves to 169.254.169.254"},
		{"https://public.example.test/", ""},
		{"lab.example.test", ""}, // 192.168.7.0/24 is allowed
		{"https://192.168.7.1/", ""},
		{"https://192.168.8.1/", "192.168.8.1 is in 192.168.0.0/16"},
	}
	for _, tc := range tests {
		ep := endpoint("ep", tc.target, nil, probeCheckJSON(""))
		_, err := team.ApplyEndpoints(ctx, "", api.ApplyEndpoints{Prune: true, Endpoints: []results.Endpoint{ep}})
		if tc.denied == "" {
			if err != nil {
				t.Errorf("%s: %v, want it allowed", tc.target, err)
			}
			continue
		}
		var ae *client.Error
		if !errorsAs(err, &ae) || ae.Status != 422 || ae.Body.Field != "endpoints[0].target" || !strings.Contains(ae.Body.Error, tc.denied) {
			t.Errorf("%s: %v, want 422 on endpoints[0].target naming %q", tc.target, err, tc.denied)
		}
	}
	// Many endpoints are resolved concurrently; the first denied one in
	// list order is reported, and nothing is stored.
	var many []results.Endpoint
	for i, target := range []string{"https://public.example.test/a", "lab.example.test", "https://metadata.example.test/", "https://internal.example.test/", "https://public.example.test/b"} {
		many = append(many, endpoint(fmt.Sprintf("ep%d", i), target, nil, probeCheckJSON("")))
	}
	_, err := team.ApplyEndpoints(ctx, "", api.ApplyEndpoints{Prune: true, Endpoints: many})
	var ae *client.Error
	if !errorsAs(err, &ae) || ae.Body.Field != "endpoints[2].target" || !strings.Contains(ae.Body.Error, "endpoints[2] (ep2) target: metadata.example.test resolves to 169.254.169.254") {
		t.Errorf("five endpoints: %v, want endpoints[2] reported", err)
	}
	if names := endpointNames(t, team); names != "ep" {
		t.Errorf("after the refused apply: endpoints %q, want the earlier ep only", names)
	}
	// The policy goes to probers so they refuse denied addresses at dial time.
	v := e.vantage("v1", "eu", "p")
	a, _, err := v.Assignment(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if !a.Policy.DenyPrivate || len(a.Policy.Allow) != 1 || a.Policy.Check(netip.MustParseAddr("10.0.0.1")) == nil {
		t.Errorf("assignment policy %+v, want deny_private with the allow list", a.Policy)
	}
}

// TestTargetPolicyDNSResolver: the resolver a dns check names is where its
// runs connect, so registration holds it against the policy as it does
// the target, by address and by name; the prober refuses it again at
// connect time.
func TestTargetPolicyDNSResolver(t *testing.T) {
	resolver := startDNS(t, map[string]string{
		"internal.example.test": "10.20.30.40",
		"public.example.test":   "203.0.113.80",
	})
	e := newEnv(t, openSQLite, func(o *Options) {
		o.Resolver = resolver
		o.Kinds = checks.NewRegistry(probeKind{}, dnscheck.Kind{})
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	team := e.team("payments")
	tests := []struct {
		check  string
		field  string // "" when allowed
		denied string
	}{
		{`{"kind":"dns","resolver":"169.254.169.254:53"}`, "endpoints[0].checks[1].resolver", "169.254.169.254 is in 169.254.0.0/16"},
		{`{"kind":"dns","resolver":"10.0.0.2"}`, "endpoints[0].checks[1].resolver", "10.0.0.2 is in 10.0.0.0/8"},
		{`{"kind":"dns","resolver":"[::ffff:127.0.0.1]:5353","transport":"tcp"}`, "endpoints[0].checks[1].resolver", "127.0.0.1 is in 127.0.0.0/8"},
		{`{"kind":"dns","resolver":"[fd00:ec2::254]:853","transport":"tls"}`, "endpoints[0].checks[1].resolver", "fd00:ec2::254 is in fc00::/7"},
		{`{"kind":"dns","resolver":"internal.example.test:53"}`, "endpoints[0].checks[1].resolver", "internal.example.test resolves to 10.20.30.40"},
		{`{"kind":"dns","resolver":"public.example.test:53"}`, "", ""},
		{`{"kind":"dns","resolver":"203.0.113.53:853","transport":"tls"}`, "", ""},
		{`{"kind":"dns"}`, "", ""}, // the prober's own resolver
	}
	for _, tc := range tests {
		ep := endpoint("ep", "public.example.test", nil, probeCheckJSON(""), json.RawMessage(tc.check))
		_, err := team.ApplyEndpoints(ctx, "", api.ApplyEndpoints{Prune: true, Endpoints: []results.Endpoint{ep}})
		if tc.field == "" {
			if err != nil {
				t.Errorf("%s: %v, want it allowed", tc.check, err)
			}
			continue
		}
		var ae *client.Error
		if !errorsAs(err, &ae) || ae.Status != 422 || ae.Body.Field != tc.field || !strings.Contains(ae.Body.Error, tc.denied) {
			t.Errorf("%s: %v, want 422 on %s naming %q", tc.check, err, tc.field, tc.denied)
		}
	}
}
