package icmpcheck_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/picketnet/picket/checks"
	"github.com/picketnet/picket/checks/checktest"
	icmpcheck "github.com/picketnet/picket/checks/icmp"
	"github.com/picketnet/picket/checks/targetpolicy"
	"github.com/picketnet/picket/internal/netlab"
	"github.com/picketnet/picket/internal/testenv"
	"github.com/picketnet/picket/results"
)

func run(t testing.TB, target, spec string, env checks.Env) results.Result {
	t.Helper()
	c, err := icmpcheck.Kind{}.Parse(target, json.RawMessage(spec))
	if err != nil {
		t.Fatalf("Parse(%q, %s): %v", target, spec, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.Run(ctx, env)
}

func decode(t testing.TB, r results.Result) results.ICMPDetails {
	t.Helper()
	var d results.ICMPDetails
	if err := r.DecodeDetails(&d); err != nil {
		t.Fatalf("details of %+v: %v", r, err)
	}
	return d
}

// wantNoRTT fails unless the record's details leave the round-trip
// times out: with no reply there is no round trip, and a 0 would say it
// was instant.
func wantNoRTT(t testing.TB, r results.Result) {
	t.Helper()
	if bytes.Contains(r.Details, []byte("rtt_")) {
		t.Errorf("details %s: no reply came, yet they give round-trip times", r.Details)
	}
	if ms, ok := r.Latency(); ok {
		t.Errorf("Latency() = %v, true for a run without replies", ms)
	}
}

func TestLoopbackPrivileged(t *testing.T) {
	testenv.RequireRoot(t)
	for _, tt := range []struct{ target, mode string }{
		{"127.0.0.1", "auto"}, {"127.0.0.1", "privileged"}, {"::1", "auto"},
	} {
		t.Run(tt.target+" "+tt.mode, func(t *testing.T) {
			r := run(t, tt.target, `{"count":3,"packet_interval":"20ms","size":100,"mode":"`+tt.mode+`"}`, checks.Env{})
			if !r.OK {
				t.Fatalf("want ok, got %v", r.Error)
			}
			d := decode(t, r)
			if d.Sent != 3 || d.Received != 3 || d.Loss != 0 || !d.Privileged {
				t.Fatalf("details = %+v, want 3 sent and received over a raw socket", d)
			}
			if d.RTTMinMS == nil || d.RTTAvgMS == nil || d.RTTMaxMS == nil || d.RTTStdDev == nil {
				t.Fatalf("rtts = %+v, want all four after replies", d)
			}
			if *d.RTTMinMS <= 0 || *d.RTTMinMS > *d.RTTAvgMS || *d.RTTAvgMS > *d.RTTMaxMS || *d.RTTStdDev < 0 {
				t.Fatalf("rtts = %v/%v/%v/%v, want 0 < min <= avg <= max", *d.RTTMinMS, *d.RTTAvgMS, *d.RTTMaxMS, *d.RTTStdDev)
			}
			if r.Addr != tt.target || r.Kind != "icmp" {
				t.Errorf("addr, kind = %q, %q", r.Addr, r.Kind)
			}
		})
	}
}

func TestLoopbackByName(t *testing.T) {
	testenv.RequireRoot(t)
	r := run(t, "localhost", `{"count":1,"ip_version":4}`, checks.Env{})
	if !r.OK || r.Addr != "127.0.0.1" {
		t.Fatalf("ok=%v addr=%q error=%v", r.OK, r.Addr, r.Error)
	}
	if r.Phases.DNSMS <= 0 {
		t.Errorf("dns_ms = %v, want the lookup timed", r.Phases.DNSMS)
	}
}

func TestPolicy(t *testing.T) {
	deny := &targetpolicy.Policy{DenyPrivate: true}
	r := run(t, "127.0.0.1", `{"count":1}`, checks.Env{Policy: deny})
	if r.OK || r.Error.Layer != results.LayerICMP || r.Error.Code != results.CodeDenied {
		t.Fatalf("got %v, want icmp/denied_address", r.Error)
	}
	// An IPv4-mapped IPv6 literal is the same address.
	r = run(t, "::ffff:127.0.0.1", `{"count":1}`, checks.Env{Policy: deny})
	if r.OK || r.Error.Code != results.CodeDenied {
		t.Fatalf("mapped: got %v, want icmp/denied_address", r.Error)
	}
	testenv.RequireRoot(t)
	allow := &targetpolicy.Policy{DenyPrivate: true, Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	if r := run(t, "127.0.0.1", `{"count":1}`, checks.Env{Policy: allow}); !r.OK {
		t.Fatalf("allowed by exception: got %v", r.Error)
	}
}

// TestContextCancelled ends a long run as soon as its caller gives up.
func TestContextCancelled(t *testing.T) {
	testenv.RequireRoot(t)
	c, err := icmpcheck.Kind{}.Parse("127.0.0.1", json.RawMessage(`{"count":100,"packet_interval":"1s","timeout":"5m"}`))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	r := c.Run(ctx, checks.Env{})
	if r.OK || r.Error.Layer != results.LayerICMP || r.Error.Code != results.CodeTimeout {
		t.Fatalf("got %v, want icmp/timeout", r.Error)
	}
}

func TestNoLeaks(t *testing.T) {
	testenv.RequireRoot(t)
	g0, fd0 := runtime.NumGoroutine(), openFDs(t)
	for range 20 {
		run(t, "127.0.0.1", `{"count":2,"packet_interval":"10ms","mode":"auto"}`, checks.Env{})
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		g, fd := runtime.NumGoroutine(), openFDs(t)
		if g <= g0 && fd <= fd0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("leak: %d goroutines and %d fds before, %d and %d after", g0, fd0, g, fd)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// The tests below run the check in a throwaway network namespace, in a
// child process (this test binary re-executed through `ip netns exec`),
// so that they can shape the network and the sysctls without touching
// the host's.

const helperEnv = "PICKET_ICMP_HELPER"

// TestMain turns the test binary into the child of the namespace tests
// when the environment asks for it: it runs one check and prints the
// record as JSON.
func TestMain(m *testing.M) {
	if spec := os.Getenv(helperEnv); spec != "" {
		os.Exit(helper(spec))
	}
	os.Exit(m.Run())
}

func helper(spec string) int {
	if uid := os.Getenv("PICKET_ICMP_UID"); uid != "" {
		// Drop to an unprivileged user; Go applies this to every thread.
		id, err := strconv.Atoi(uid)
		if err == nil {
			err = syscall.Setgroups(nil)
		}
		if err == nil {
			err = syscall.Setgid(id)
		}
		if err == nil {
			err = syscall.Setuid(id)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "drop privileges:", err)
			return 1
		}
	}
	c, err := icmpcheck.Kind{}.Parse(os.Getenv("PICKET_ICMP_TARGET"), json.RawMessage(spec))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, err := json.Marshal(c.Run(ctx, checks.Env{}))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("RESULT %s\n", b)
	return 0
}

// netns creates a network namespace with loopback up, runs setup commands
// in it, and deletes it at the end of the test.
func netns(t *testing.T, setup ...[]string) string {
	t.Helper()
	testenv.RequireRoot(t)
	ip := testenv.RequireCommand(t, "ip")
	name := fmt.Sprintf("picket-icmp-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)
	if out, err := exec.Command(ip, "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command(ip, "netns", "del", name).Run() })
	for _, cmd := range append([][]string{{"ip", "link", "set", "lo", "up"}}, setup...) {
		args := append([]string{"netns", "exec", name}, cmd...)
		if out, err := exec.Command(ip, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", cmd, err, out)
		}
	}
	return name
}

// sysctl is a setup command that sets a sysctl of the namespace.
func sysctl(name, value string) []string {
	return []string{"sysctl", "-q", "-w", name + "=" + value}
}

// inNetns runs the helper in ns and returns its record.
func inNetns(t *testing.T, ns, target, spec string, env ...string) results.Result {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", ns, exe)
	cmd.Env = append(os.Environ(), append(env, helperEnv+"="+spec, "PICKET_ICMP_TARGET="+target)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	for line := range bytes.Lines(out) {
		if rest, ok := bytes.CutPrefix(line, []byte("RESULT ")); ok {
			var r results.Result
			if err := json.Unmarshal(rest, &r); err != nil {
				t.Fatal(err)
			}
			return r
		}
	}
	t.Fatalf("helper printed no result:\n%s", out)
	return results.Result{}
}

// TestUnprivileged runs as an unprivileged user, which cannot open a raw
// socket: auto mode must pick the datagram socket when the user's group is
// inside ping_group_range, and fail with icmp/permission otherwise.
func TestUnprivileged(t *testing.T) {
	const nobody = "65534"
	t.Run("in ping_group_range", func(t *testing.T) {
		ns := netns(t, sysctl("net.ipv4.ping_group_range", "0 2147483647"))
		r := inNetns(t, ns, "127.0.0.1", `{"count":3,"packet_interval":"20ms"}`, "PICKET_ICMP_UID="+nobody)
		if !r.OK {
			t.Fatalf("want ok, got %v", r.Error)
		}
		if d := decode(t, r); d.Privileged || d.Sent != 3 || d.Received != 3 {
			t.Fatalf("details = %+v, want 3 of 3 over a datagram socket", d)
		}
	})
	t.Run("outside ping_group_range", func(t *testing.T) {
		ns := netns(t, sysctl("net.ipv4.ping_group_range", "1 0"))
		r := inNetns(t, ns, "127.0.0.1", `{"count":1}`, "PICKET_ICMP_UID="+nobody)
		if r.OK || r.Error.Layer != results.LayerICMP || r.Error.Code != results.CodePermission {
			t.Fatalf("got %v, want icmp/permission", r.Error)
		}
		if !strings.Contains(r.Error.Message, "ping_group_range") {
			t.Errorf("message %q does not point at ping_group_range", r.Error.Message)
		}
	})
	t.Run("forced unprivileged as root", func(t *testing.T) {
		ns := netns(t, sysctl("net.ipv4.ping_group_range", "0 0"))
		r := inNetns(t, ns, "127.0.0.1", `{"count":2,"packet_interval":"20ms","mode":"unprivileged"}`)
		if !r.OK || decode(t, r).Privileged {
			t.Fatalf("got ok=%v error=%v, want a passing datagram run", r.OK, r.Error)
		}
	})
}

// TestLossAndUnreachable pings a loopback address whose kernel ignores
// echo requests (every packet lost, silently), and an address with no
// route at all.
func TestLossAndUnreachable(t *testing.T) {
	ns := netns(t, sysctl("net.ipv4.icmp_echo_ignore_all", "1"))
	tests := []struct {
		name, target, spec string
		code               results.Code
		sent, received     int
	}{
		{"all lost", "127.0.0.1", `{"count":3,"packet_interval":"20ms","wait":"100ms"}`, results.CodeLoss, 3, 0},
		{"no route", "10.98.0.1", `{"count":2,"packet_interval":"20ms","wait":"100ms"}`, results.CodeUnreachable, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := inNetns(t, ns, tt.target, tt.spec)
			if r.OK || r.Error.Layer != results.LayerICMP || r.Error.Code != tt.code {
				t.Fatalf("got %v, want icmp/%s", r.Error, tt.code)
			}
			d := decode(t, r)
			if d.Sent != tt.sent || d.Received != tt.received {
				t.Fatalf("details = %+v, want %d sent, %d received", d, tt.sent, tt.received)
			}
			if tt.sent > 0 && d.Loss != 1 {
				t.Fatalf("loss = %v, want 1", d.Loss)
			}
			wantNoRTT(t, r)
		})
	}
	t.Run("loss within max_loss", func(t *testing.T) {
		r := inNetns(t, ns, "127.0.0.1", `{"count":2,"packet_interval":"20ms","wait":"50ms","max_loss":1}`)
		if !r.OK {
			t.Fatalf("max_loss 1 tolerates any loss; got %v", r.Error)
		}
		// A run that passes with every reply lost still measured no
		// round trip.
		wantNoRTT(t, r)
	})
}

// An endpoint registers one URL target for all its checks; icmp pings its
// host.
func TestParseURLTarget(t *testing.T) {
	for target, host := range map[string]string{
		"https://api.example.com/health": "api.example.com",
		"http://192.0.2.7:8080/":         "192.0.2.7",
		"https://[2001:db8::1]/x":        "2001:db8::1",
		"example.com":                    "example.com",
	} {
		c, err := icmpcheck.Kind{}.Parse(target, json.RawMessage(`{}`))
		if err != nil {
			t.Errorf("%s: %v", target, err)
			continue
		}
		if got := c.(*icmpcheck.Check).Host(); got != host {
			t.Errorf("%s pings %q, want %q", target, got, host)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ target, spec, field string }{
		{"", `{}`, "target"},
		{"example.com:80", `{}`, "target"},
		{"https://exa mple.com/", `{}`, "target"},
		{"example.com", `{"count":0.5}`, "count"},
		{"example.com", `{"count":1000}`, "count"},
		{"example.com", `{"count":-1}`, "count"},
		// Zero is no way to ask for the default: refused, not replaced.
		{"example.com", `{"count":0}`, "count"},
		{"example.com", `{"size":0}`, "size"},
		{"example.com", `{"wait":"0s"}`, "wait"},
		{"example.com", `{"packet_interval":"0s"}`, "packet_interval"},
		{"example.com", `{"packet_interval":"1ms"}`, "packet_interval"},
		{"example.com", `{"packet_interval":"soon"}`, "packet_interval"},
		{"example.com", `{"size":8}`, "size"},
		{"example.com", `{"size":65536}`, "size"},
		{"example.com", `{"max_loss":1.5}`, "max_loss"},
		{"example.com", `{"max_loss":-0.1}`, "max_loss"},
		{"example.com", `{"mode":"raw"}`, "mode"},
		{"example.com", `{"ip_version":5}`, "ip_version"},
		{"example.com", `{"wait":"2h"}`, "wait"},
		{"example.com", `{"ttl":3}`, "ttl"},
		{"example.com", `{"count":20,"packet_interval":"1s","timeout":"10s"}`, "count"},
		{"example.com", `{"timeout":"forever"}`, "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.target+" "+tt.spec, func(t *testing.T) {
			_, err := icmpcheck.Kind{}.Parse(tt.target, json.RawMessage(tt.spec))
			if fe := checktest.WantFieldError(t, err); fe.Field != tt.field {
				t.Fatalf("err = %v, want a FieldError on %q", err, tt.field)
			}
		})
	}
	for _, target := range []string{"example.com", "192.0.2.1", "2001:db8::1", "[2001:db8::1]"} {
		if _, err := (icmpcheck.Kind{}).Parse(target, json.RawMessage(`{"kind":"icmp","interval":"30s","max_loss":0}`)); err != nil {
			t.Errorf("Parse(%q): %v", target, err)
		}
	}
}

func TestBindFlags(t *testing.T) {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	opts := icmpcheck.Kind{}.BindFlags(fs)
	if err := fs.Parse([]string{"--count", "5", "--interval", "200ms", "--size", "100", "--max-loss", "0.2"}); err != nil {
		t.Fatal(err)
	}
	raw, err := opts()
	if err != nil {
		t.Fatal(err)
	}
	c, err := icmpcheck.Kind{}.Parse("example.com", raw)
	if err != nil {
		t.Fatalf("Parse(%s): %v", raw, err)
	}
	if c == nil {
		t.Fatal("nil check")
	}
	var got map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if got["count"] != 5.0 || got["packet_interval"] != "200ms" || got["size"] != 100.0 || got["max_loss"] != 0.2 {
		t.Fatalf("options = %s", raw)
	}
	fs = flag.NewFlagSet("check", flag.ContinueOnError)
	opts = icmpcheck.Kind{}.BindFlags(fs)
	if err := fs.Parse([]string{"--max-loss", "20"}); err != nil {
		t.Fatal(err)
	}
	if _, err := opts(); err == nil || !strings.Contains(err.Error(), "max_loss") {
		t.Fatalf("--max-loss 20: err = %v, want it to name max_loss", err)
	}

	// Only the flags given become options, so that they override the
	// fields of a --spec without resetting the others to the flags'
	// defaults.
	fs = flag.NewFlagSet("check", flag.ContinueOnError)
	opts = icmpcheck.Kind{}.BindFlags(fs)
	if err := fs.Parse([]string{"--size", "200"}); err != nil {
		t.Fatal(err)
	}
	if raw, err := opts(); err != nil || string(raw) != `{"size":200}` {
		t.Fatalf("--size 200 alone: options %s, %v; want {\"size\":200}", raw, err)
	}
	fs = flag.NewFlagSet("check", flag.ContinueOnError)
	opts = icmpcheck.Kind{}.BindFlags(fs)
	if err := fs.Parse([]string{"--count", "0"}); err != nil {
		t.Fatal(err)
	}
	if _, err := opts(); err == nil || !strings.Contains(err.Error(), "count: 0 is outside 1..100") {
		t.Fatalf("--count 0: err = %v, want count refused", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("example.com", `{"count":3,"packet_interval":"1s","size":56,"max_loss":0.5,"mode":"auto","ip_version":4,"wait":"1s"}`)
	f.Add("::1", `{}`)
	f.Add("[::1]", `{"max_loss":null}`)
	f.Add("", `1`)
	f.Fuzz(func(t *testing.T, target, spec string) {
		c, err := icmpcheck.Kind{}.Parse(target, json.RawMessage(spec))
		if err != nil {
			checktest.WantFieldError(t, err)
			return
		}
		if c == nil {
			t.Fatal("nil check without an error")
		}
	})
}

// A router that answers the echo requests with destination unreachable is
// named, with what it said, as ping shows "From 198.18.1.2 icmp_seq=1
// Destination Net Unreachable": icmp/unreachable, not the plain loss of a
// host that drops them silently (a blackhole route, still icmp/loss).
func TestRouterAnswersUnreachable(t *testing.T) {
	const spec = `{"count":3,"packet_interval":"20ms","wait":"300ms"}`
	tests := []struct {
		target string
		code   results.Code
		text   string // in the message
	}{
		{netlab.NetUnreachable, results.CodeUnreachable, "198.18.1.2 answered network unreachable (!N) to "},
		{netlab.HostUnreachable, results.CodeUnreachable, "198.18.1.2 answered host unreachable (!H) to "},
		{netlab.Prohibited, results.CodeUnreachable, "198.18.1.2 answered administratively prohibited (!X) to "},
		{netlab.NetUnreachable6, results.CodeUnreachable, "2001:db8:1::2 answered no route to destination (!N) to "},
		{netlab.Prohibited6, results.CodeUnreachable, "2001:db8:1::2 answered administratively prohibited (!X) to "},
		{netlab.Blackholed, results.CodeLoss, "3 of 3 echo requests lost"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			h1 := netlab.RejectingRouter(t)
			var r results.Result
			if err := h1.Do(func() error { r = run(t, tt.target, spec, checks.Env{}); return nil }); err != nil {
				t.Fatal(err)
			}
			if r.OK || r.Error.Layer != results.LayerICMP || r.Error.Code != tt.code || !strings.Contains(r.Error.Message, tt.text) {
				t.Fatalf("got %v; want icmp/%s saying %q", r.Error, tt.code, tt.text)
			}
			if d := decode(t, r); d.Sent != 3 || d.Received != 0 || d.Loss != 1 {
				t.Errorf("details = %+v, want 3 sent, none received", d)
			}
			wantNoRTT(t, r)
		})
	}
}

// In a routing loop the echo requests die of their TTL and a router says
// so, as ping shows "From 198.18.2.2 icmp_seq=1 Time to live exceeded":
// icmp/unreachable naming who answered what, not the silent loss of a
// host that drops them.
func TestRoutingLoop(t *testing.T) {
	const spec = `{"count":3,"packet_interval":"20ms","wait":"300ms"}`
	for _, tt := range []struct{ target, text string }{
		{netlab.Looped, netlab.LoopRouterV4 + " answered time to live exceeded in transit (a routing loop?) to "},
		{netlab.Looped6, netlab.LoopRouterV6 + " answered hop limit exceeded in transit (a routing loop?) to "},
	} {
		t.Run(tt.target, func(t *testing.T) {
			h1 := netlab.RoutingLoop(t)
			var r results.Result
			if err := h1.Do(func() error { r = run(t, tt.target, spec, checks.Env{}); return nil }); err != nil {
				t.Fatal(err)
			}
			if r.OK || r.Error.Layer != results.LayerICMP || r.Error.Code != results.CodeUnreachable || !strings.Contains(r.Error.Message, tt.text) {
				t.Fatalf("got %v; want icmp/unreachable saying %q", r.Error, tt.text)
			}
			wantNoRTT(t, r)
		})
	}
}

// This host's own routes or firewall refuse to send: a prohibit route
// (EACCES) or an OUTPUT rule that drops (EPERM) is icmp/unreachable like an
// unreachable route (EHOSTUNREACH), not icmp/permission, which means the
// process may not open an ICMP socket.
// pro-bing retries a send that failed with EACCES forever, whatever the
// context says: the run must not get that far, and the test fails rather
// than hangs if it does.
func TestLocalRouteRefuses(t *testing.T) {
	const spec = `{"count":2,"packet_interval":"20ms","wait":"100ms"}`
	h1 := netlab.RejectingRouter(t)
	h1.IP("route", "add", "prohibit", "198.18.55.0/24")
	h1.IP("route", "add", "unreachable", "198.18.56.0/24")
	h1.IP("-6", "route", "add", "prohibit", "2001:db8:55::/64")
	// This host's firewall drops its echo requests on the way out: the
	// send fails with EPERM, which is no missing privilege.
	h1.Iptables(false, "-A", "OUTPUT", "-d", "198.18.57.0/24", "-p", "icmp", "-j", "DROP")
	for _, target := range []string{"198.18.55.1", "198.18.56.1", "2001:db8:55::1", "198.18.57.1"} {
		t.Run(target, func(t *testing.T) {
			c, err := icmpcheck.Kind{}.Parse(target, json.RawMessage(spec))
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan results.Result, 1)
			go func() {
				_ = h1.Do(func() error {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					defer cancel()
					done <- c.Run(ctx, checks.Env{})
					return nil
				})
			}()
			var r results.Result
			select {
			case r = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("the run did not end 15s past its timeout: pro-bing is retrying a refused send")
			}
			if r.OK || r.Error.Layer != results.LayerICMP || r.Error.Code != results.CodeUnreachable || !strings.Contains(r.Error.Message, "this host") {
				t.Fatalf("got %v; want icmp/unreachable saying this host will not send", r.Error)
			}
			wantNoRTT(t, r)
		})
	}
}
