package traceroute

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/picketnet/picket/checks"
	"github.com/picketnet/picket/checks/render"
	"github.com/picketnet/picket/checks/targetpolicy"
	"github.com/picketnet/picket/internal/netlab"
	"github.com/picketnet/picket/netpath"
	"github.com/picketnet/picket/results"
)

// labTable is the ip2asn table of the test networks: the 198.18/15 and
// 2001:db8::/32 ranges stand for public networks of private-use ASes.
const labTable = "198.18.1.0\t198.18.1.255\t64501\tFI\tFIRST-TRANSIT\n" +
	"198.18.2.0\t198.18.3.255\t64502\tDE\tSECOND-TRANSIT\n" +
	"198.18.4.0\t198.18.4.255\t64503\tNL\tDESTINATION-HOSTING\n" +
	"198.18.10.0\t198.18.10.255\t64510\tSE\tBRANCH-A\n" +
	"198.18.20.0\t198.18.20.255\t64520\tNO\tBRANCH-B\n" +
	"198.18.11.0\t198.18.11.255\t64503\tNL\tDESTINATION-HOSTING\n" +
	"198.18.21.0\t198.18.21.255\t64503\tNL\tDESTINATION-HOSTING\n" +
	"198.18.30.0\t198.18.30.255\t64530\tUS\tTARGET-CLOUD\n" +
	"2001:db8:1::\t2001:db8:1:ffff:ffff:ffff:ffff:ffff\t64501\tFI\tFIRST-TRANSIT\n" +
	"2001:db8:2::\t2001:db8:3:ffff:ffff:ffff:ffff:ffff\t64502\tDE\tSECOND-TRANSIT\n" +
	"2001:db8:4::\t2001:db8:4:ffff:ffff:ffff:ffff:ffff\t64503\tNL\tDESTINATION-HOSTING\n"

func labResolver(t testing.TB) *netpath.Resolver {
	t.Helper()
	tab, err := netpath.ReadTable("lab.tsv", strings.NewReader(labTable))
	if err != nil {
		t.Fatal(err)
	}
	return &netpath.Resolver{Table: tab}
}

// ctxBound is an AS resolver that fails once its context is done.
type ctxBound struct{ ASResolver }

func (r ctxBound) LookupAS(ctx context.Context, a netip.Addr) (netpath.ASInfo, bool, error) {
	if err := ctx.Err(); err != nil {
		return netpath.ASInfo{}, false, err
	}
	return r.ASResolver.LookupAS(ctx, a)
}

// chainLab is h1 - gw - r1 - r2 - r3 - h2: gw is a home router on a
// private network, r1 is in AS64501, r2 and r3 in AS64502, h2 in AS64503.
type chainLab struct {
	h1, gw, r1, r2, r3, h2 *netlab.Node
}

func newChainLab(t *testing.T) *chainLab { return newChainLabTB(t) }

func newChainLabTB(t testing.TB) *chainLab {
	t.Helper()
	lab := netlab.New(t)
	c := &chainLab{h1: lab.Node("h1"), gw: lab.Node("gw"), r1: lab.Node("r1"), r2: lab.Node("r2"), r3: lab.Node("r3"), h2: lab.Node("h2")}
	lab.Chain([]*netlab.Node{c.h1, c.gw, c.r1, c.r2, c.r3, c.h2},
		[]string{"10.0.0.0/24", "fd00:0:0:1::/64"},
		[]string{"198.18.1.0/24", "2001:db8:1::/64"},
		[]string{"198.18.2.0/24", "2001:db8:2::/64"},
		[]string{"198.18.3.0/24", "2001:db8:3::/64"},
		[]string{"198.18.4.0/24", "2001:db8:4::/64"})
	return c
}

// runCheck parses spec for target and runs it once from node.
func runCheck(t *testing.T, k *Kind, node *netlab.Node, target, spec string, env checks.Env) (results.Result, results.TracerouteDetails) {
	t.Helper()
	c, err := k.Parse(target, json.RawMessage(spec))
	if err != nil {
		t.Fatalf("Parse(%s, %s): %v", target, spec, err)
	}
	var rec results.Result
	if err := node.Do(func() error { rec = c.Run(context.Background(), env); return nil }); err != nil {
		t.Fatal(err)
	}
	// The caller of Run adds the identity fields; the rest must be valid.
	full := rec
	full.ID, full.Endpoint, full.Check, full.Vantage = "0192f1c4-7d3a-7b1c-9f00-2b5c1e0d4a11", "e", "e/traceroute", "v"
	if err := full.Validate(); err != nil {
		t.Fatalf("invalid record: %v\n%+v", err, rec)
	}
	var d results.TracerouteDetails
	if err := rec.DecodeDetails(&d); err != nil && rec.Details != nil {
		t.Fatal(err)
	}
	return rec, d
}

type wantHop struct {
	addr     string // "" for a silent hop
	asn      uint32
	answered int
}

func checkHops(t *testing.T, d results.TracerouteDetails, want []wantHop) {
	t.Helper()
	if len(d.Hops) != len(want) {
		t.Fatalf("%d hops, want %d: %+v", len(d.Hops), len(want), d.Hops)
	}
	for i, w := range want {
		h := d.Hops[i]
		if h.TTL != i+1 || h.Addr != w.addr || h.ASN != w.asn || len(h.RTTMS) != w.answered || h.Sent != 3 {
			t.Errorf("hop %d = %+v; want addr %q AS%d, %d of 3 answered", i+1, h, w.addr, w.asn, w.answered)
		}
	}
}

// The hops, their ASNs and the AS path are what the topology says, in
// both modes and both families.
func TestTraceChain(t *testing.T) {
	c := newChainLab(t)
	k := New(labResolver(t))
	// A TCP service on h2 answers SYNs to 443 with SYN-ACKs; port 444 is
	// closed and answers with resets. Both reach the destination.
	var ln net.Listener
	if err := c.h2.Do(func() (err error) { ln, err = net.Listen("tcp", ":443"); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tests := []struct {
		mode, dst string
		hops      []wantHop
	}{
		{"icmp", "198.18.4.2", []wantHop{{"10.0.0.2", 0, 3}, {"198.18.1.2", 64501, 3}, {"198.18.2.2", 64502, 3}, {"198.18.3.2", 64502, 3}, {"198.18.4.2", 64503, 3}}},
		{"udp", "198.18.4.2", []wantHop{{"10.0.0.2", 0, 3}, {"198.18.1.2", 64501, 3}, {"198.18.2.2", 64502, 3}, {"198.18.3.2", 64502, 3}, {"198.18.4.2", 64503, 3}}},
		{"icmp", "2001:db8:4::2", []wantHop{{"fd00:0:0:1::2", 0, 3}, {"2001:db8:1::2", 64501, 3}, {"2001:db8:2::2", 64502, 3}, {"2001:db8:3::2", 64502, 3}, {"2001:db8:4::2", 64503, 3}}},
		{"udp", "[2001:db8:4::2]:443", []wantHop{{"fd00:0:0:1::2", 0, 3}, {"2001:db8:1::2", 64501, 3}, {"2001:db8:2::2", 64502, 3}, {"2001:db8:3::2", 64502, 3}, {"2001:db8:4::2", 64503, 3}}},
		{"tcp", "198.18.4.2", []wantHop{{"10.0.0.2", 0, 3}, {"198.18.1.2", 64501, 3}, {"198.18.2.2", 64502, 3}, {"198.18.3.2", 64502, 3}, {"198.18.4.2", 64503, 3}}},
		{"tcp", "198.18.4.2:444", []wantHop{{"10.0.0.2", 0, 3}, {"198.18.1.2", 64501, 3}, {"198.18.2.2", 64502, 3}, {"198.18.3.2", 64502, 3}, {"198.18.4.2", 64503, 3}}},
		{"tcp", "[2001:db8:4::2]:443", []wantHop{{"fd00:0:0:1::2", 0, 3}, {"2001:db8:1::2", 64501, 3}, {"2001:db8:2::2", 64502, 3}, {"2001:db8:3::2", 64502, 3}, {"2001:db8:4::2", 64503, 3}}},
		// A target may be a URL, as endpoints register them.
		{"icmp", "https://198.18.4.2/health", []wantHop{{"10.0.0.2", 0, 3}, {"198.18.1.2", 64501, 3}, {"198.18.2.2", 64502, 3}, {"198.18.3.2", 64502, 3}, {"198.18.4.2", 64503, 3}}},
	}
	for _, tt := range tests {
		t.Run(tt.mode+" "+tt.dst, func(t *testing.T) {
			spec := fmt.Sprintf(`{"kind":"traceroute","mode":%q,"wait":"2s"}`, tt.mode)
			if strings.HasSuffix(tt.dst, ":444") {
				spec = `{"kind":"traceroute","mode":"tcp","port":444}`
			}
			rec, d := runCheck(t, k, c.h1, strings.TrimSuffix(tt.dst, ":444"), spec, checks.Env{})
			if !rec.OK || rec.Error != nil || !d.Reached {
				t.Fatalf("not ok: %+v %+v", rec.Error, d)
			}
			checkHops(t, d, tt.hops)
			if want := []uint32{64501, 64502, 64503}; !slices.Equal(d.ASPath, want) {
				t.Errorf("AS path %v, want %v", d.ASPath, want)
			}
			if d.Mode != tt.mode || d.FlowID == 0 || rec.Addr != tt.hops[len(tt.hops)-1].addr || rec.Kind != "traceroute" || d.RTTMS <= 0 {
				t.Errorf("record: mode %q flow %d addr %q kind %q rtt %v", d.Mode, d.FlowID, rec.Addr, rec.Kind, d.RTTMS)
			}
			if d.Hops[1].ASName != "FIRST-TRANSIT" {
				t.Errorf("hop 2 AS name %q", d.Hops[1].ASName)
			}
		})
	}
}

// A router that drops its time-exceeded messages is a silent hop and a
// wildcard in the AS path; one that rate-limits them answers some probes.
func TestTraceSilentAndRateLimitedHops(t *testing.T) {
	c := newChainLab(t)
	c.r2.DropTimeExceeded()
	c.r3.RateLimitTimeExceeded(1, 1) // one answer, then one a minute
	k := New(labResolver(t))
	rec, d := runCheck(t, k, c.h1, "198.18.4.2", `{"kind":"traceroute","wait":"1s"}`, checks.Env{})
	if !rec.OK {
		t.Fatalf("not ok: %v", rec.Error)
	}
	checkHops(t, d, []wantHop{{"10.0.0.2", 0, 3}, {"198.18.1.2", 64501, 3}, {"", 0, 0}, {"198.18.3.2", 64502, 1}, {"198.18.4.2", 64503, 3}})
	if want := []uint32{64501, 0, 64502, 64503}; !slices.Equal(d.ASPath, want) {
		t.Errorf("AS path %v, want %v", d.ASPath, want)
	}

	// When the silence reaches the end, the path is cut after gap silent
	// hops and the run fails at the path layer.
	c.h2.Iptables(false, "-A", "INPUT", "-p", "icmp", "-j", "DROP")
	rec, d = runCheck(t, k, c.h1, "198.18.4.2", `{"kind":"traceroute","wait":"1s","gap":3,"max_hops":12}`, checks.Env{})
	if rec.OK || rec.Error == nil || rec.Error.Layer != results.LayerPath || rec.Error.Code != results.CodeNotReached || d.Reached {
		t.Fatalf("want path/not_reached, got ok=%v %v", rec.OK, rec.Error)
	}
	// Hops 1, 2 answer, 3 is silent, 4 is rate-limited out, 5 (h2) drops
	// the echo, so 3, 4 or 5 onwards are silent: the cut comes after three
	// silent hops in a row at the latest, long before max_hops.
	if len(d.Hops) > 7 || len(d.Hops) < 5 {
		t.Fatalf("%d hops, want the path cut after 3 silent hops: %+v", len(d.Hops), d.Hops)
	}
	if last := d.ASPath[len(d.ASPath)-1]; last != 0 {
		t.Errorf("AS path %v should end with a wildcard", d.ASPath)
	}
}

// diamondLab is h1 - r1 - {ra | rb} - r3 - h2: two branches, in AS64510
// and AS64520, between r1 and r3.
type diamondLab struct {
	h1, r1, ra, rb, r3, h2 *netlab.Node
}

func newDiamondLab(t *testing.T) *diamondLab {
	t.Helper()
	lab := netlab.New(t)
	d := &diamondLab{h1: lab.Node("h1"), r1: lab.Node("r1"), ra: lab.Node("ra"), rb: lab.Node("rb"), r3: lab.Node("r3"), h2: lab.Node("h2")}
	lab.Link(d.h1, []string{"198.18.1.1/24"}, d.r1, []string{"198.18.1.2/24"})
	lab.Link(d.r1, []string{"198.18.10.1/24"}, d.ra, []string{"198.18.10.2/24"})
	lab.Link(d.r1, []string{"198.18.20.1/24"}, d.rb, []string{"198.18.20.2/24"})
	lab.Link(d.ra, []string{"198.18.11.1/24"}, d.r3, []string{"198.18.11.2/24"})
	lab.Link(d.rb, []string{"198.18.21.1/24"}, d.r3, []string{"198.18.21.2/24"})
	lab.Link(d.r3, []string{"198.18.30.1/24"}, d.h2, []string{"198.18.30.2/24"})
	for _, r := range []*netlab.Node{d.r1, d.ra, d.rb, d.r3} {
		r.Forward()
		// Answer from the interface the probe came in on, so r3 shows
		// which branch a probe took.
		r.Sysctl("net.ipv4.icmp_errors_use_inbound_ifaddr", "1")
	}
	d.h1.Route("default", "198.18.1.2")
	d.r1.Route("198.18.30.0/24", "198.18.10.2")
	d.ra.Route("default", "198.18.11.2")
	d.ra.Route("198.18.1.0/24", "198.18.10.1")
	d.rb.Route("default", "198.18.21.2")
	d.rb.Route("198.18.1.0/24", "198.18.20.1")
	d.r3.Route("198.18.1.0/24", "198.18.11.1")
	d.h2.Route("default", "198.18.30.1")
	return d
}

var (
	viaA = []wantHop{{"198.18.1.2", 64501, 3}, {"198.18.10.2", 64510, 3}, {"198.18.11.2", 64503, 3}, {"198.18.30.2", 64530, 3}}
	viaB = []wantHop{{"198.18.1.2", 64501, 3}, {"198.18.20.2", 64520, 3}, {"198.18.21.2", 64503, 3}, {"198.18.30.2", 64530, 3}}
)

// When the route changes between two runs, the second run shows the new
// hops and the new AS path.
func TestTracePathChange(t *testing.T) {
	d := newDiamondLab(t)
	k := New(labResolver(t))
	for _, step := range []struct {
		via  string
		hops []wantHop
		path []uint32
	}{
		{"", viaA, []uint32{64501, 64510, 64503, 64530}},
		{"198.18.20.2", viaB, []uint32{64501, 64520, 64503, 64530}},
		{"198.18.10.2", viaA, []uint32{64501, 64510, 64503, 64530}},
	} {
		if step.via != "" {
			d.r1.ReplaceRoute("198.18.30.0/24", step.via)
		}
		for _, mode := range []string{"icmp", "udp", "tcp"} {
			rec, det := runCheck(t, k, d.h1, "198.18.30.2", `{"kind":"traceroute","mode":"`+mode+`"}`, checks.Env{})
			if !rec.OK {
				t.Fatalf("not ok: %v", rec.Error)
			}
			t.Logf("via %q %s: %.1f ms", step.via, mode, rec.DurationMS)
			checkHops(t, det, step.hops)
			if !slices.Equal(det.ASPath, step.path) {
				t.Errorf("via %s, %s: AS path %v, want %v", step.via, mode, det.ASPath, step.path)
			}
		}
	}
}

// Over an ECMP route that hashes on ports, each run keeps one path for all
// its probes (one flow), while runs with different flows spread over both
// branches.
func TestTraceParisStableOverECMP(t *testing.T) {
	d := newDiamondLab(t)
	d.r1.ReplaceRoute("198.18.30.0/24", "198.18.10.2", "198.18.20.2")
	k := New(labResolver(t))
	seen := map[string]int{}
	for run := 0; run < 32 && (run < 8 || len(seen) < 2); run++ {
		rec, det := runCheck(t, k, d.h1, "198.18.30.2", `{"kind":"traceroute","mode":"udp"}`, checks.Env{})
		if !rec.OK {
			t.Fatalf("run %d not ok: %v", run, rec.Error)
		}
		switch det.Hops[1].Addr {
		case "198.18.10.2":
			checkHops(t, det, viaA)
		case "198.18.20.2":
			checkHops(t, det, viaB)
		default:
			t.Fatalf("run %d: hop 2 is %+v", run, det.Hops[1])
		}
		seen[det.Hops[1].Addr]++
	}
	if len(seen) != 2 {
		t.Fatalf("every flow took one branch (%v): the ECMP route does not spread flows, so the test proves nothing", seen)
	}
	t.Logf("flows per branch: %v", seen)
}

// Many traces at once in one process, to one destination and to others,
// in both modes: each gets exactly its own replies.
func TestConcurrentTraces(t *testing.T) {
	c := newChainLab(t)
	k := New(labResolver(t))
	full := []wantHop{{"10.0.0.2", 0, 3}, {"198.18.1.2", 64501, 3}, {"198.18.2.2", 64502, 3}, {"198.18.3.2", 64502, 3}, {"198.18.4.2", 64503, 3}}
	targets := []struct {
		dst  string
		hops []wantHop
	}{
		{"198.18.4.2", full},
		{"198.18.3.2", full[:4]},
		{"198.18.2.2", full[:3]},
		{"198.18.4.2", full},
	}
	const n = 60
	var wg sync.WaitGroup
	recs := make([]results.Result, n)
	for i := range n {
		wg.Go(func() {
			mode := []string{"icmp", "udp", "tcp"}[i%3]
			ch, err := k.Parse(targets[i%4].dst, json.RawMessage(`{"kind":"traceroute","mode":"`+mode+`"}`))
			if err != nil {
				t.Error(err)
				return
			}
			_ = c.h1.Do(func() error { recs[i] = ch.Run(context.Background(), checks.Env{}); return nil })
		})
	}
	wg.Wait()
	flows := map[string]bool{}
	for i, rec := range recs {
		var d results.TracerouteDetails
		if err := rec.DecodeDetails(&d); err != nil {
			t.Fatalf("trace %d: %v (%v)", i, err, rec.Error)
		}
		if !rec.OK {
			t.Errorf("trace %d: %v", i, rec.Error)
		}
		checkHops(t, d, targets[i%4].hops)
		key := fmt.Sprintf("%s/%s/%d", d.Mode, rec.Addr, d.FlowID)
		if flows[key] {
			t.Errorf("two concurrent traces shared flow %s", key)
		}
		flows[key] = true
	}
}

// A denied destination is refused before any probe leaves.
func TestTracePolicyDenied(t *testing.T) {
	k := New(nil)
	ch, err := k.Parse("198.18.4.2", nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := ch.Run(context.Background(), checks.Env{Policy: &targetpolicy.Policy{DenyPrivate: true}})
	if rec.OK || rec.Error == nil || rec.Error.Layer != results.LayerPath || rec.Error.Code != results.CodeDenied || rec.Addr != "198.18.4.2" {
		t.Fatalf("got ok=%v %+v addr %q", rec.OK, rec.Error, rec.Addr)
	}
}

// The run ends at its timeout even when replies could still come, and
// leaves no goroutine and no socket behind.
func TestTraceTimeoutLeavesNothingBehind(t *testing.T) {
	c := newChainLab(t)
	c.r3.DropTimeExceeded()
	c.h2.Iptables(false, "-A", "INPUT", "-p", "icmp", "-j", "DROP")
	// A resolver that, like a DNS one, fails once its context is done.
	k := New(ctxBound{labResolver(t)})
	before := runtime.NumGoroutine()
	rec, d := runCheck(t, k, c.h1, "198.18.4.2", `{"kind":"traceroute","timeout":"400ms","wait":"1m","gap":30}`, checks.Env{})
	if rec.OK || rec.Error == nil || rec.Error.Layer != results.LayerPath || rec.Error.Code != results.CodeTimeout {
		t.Fatalf("want path/timeout, got %v", rec.Error)
	}
	if len(d.Hops) < 3 || d.Hops[2].Addr != "198.18.2.2" {
		t.Errorf("the partial path is lost: %+v", d.Hops)
	} else if d.Hops[2].ASN != 64502 {
		// Where a path stops is what an operator asks first.
		t.Errorf("the partial path's hops have no ASN: %+v", d.Hops)
	}
	// The listener's reader and the timers are gone once Run returns;
	// give the runtime a moment to retire the exited goroutines.
	for i := 0; runtime.NumGoroutine() > before && i < 100; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines before, %d after:\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
	if k.tracer.v4.refs != 0 || k.tracer.v4.conn != nil || len(k.tracer.v4.sessions) != 0 {
		t.Fatalf("listener still open: refs %d, %d sessions", k.tracer.v4.refs, len(k.tracer.v4.sessions))
	}
}

// A router that refuses to forward (a firewall answering "administratively
// prohibited") ends the path, and the run says who refused: r3 is hop 4
// for the probes whose TTL runs out there, and answers the next TTL's
// probes with the refusal, as traceroute's "5 198.18.3.2 !X".
func TestTraceStopsAtUnreachable(t *testing.T) {
	c := newChainLab(t)
	c.r3.Iptables(false, "-A", "FORWARD", "-d", "198.18.4.2", "-j", "REJECT", "--reject-with", "icmp-admin-prohibited")
	k := New(labResolver(t))
	for _, mode := range []string{"icmp", "udp", "tcp"} {
		rec, d := runCheck(t, k, c.h1, "198.18.4.2", `{"kind":"traceroute","mode":"`+mode+`","wait":"1s"}`, checks.Env{})
		if rec.OK || d.Reached || rec.Error == nil || rec.Error.Code != results.CodeNotReached ||
			!strings.Contains(rec.Error.Message, "198.18.3.2 answered administratively prohibited (!X, code 13) at hop 5") {
			t.Fatalf("%s: ok=%v reached=%v error %v", mode, rec.OK, d.Reached, rec.Error)
		}
		// The hop that refused is marked, as traceroute's "5 198.18.3.2 !X":
		// without the mark, hop 5 would read as a loop at r3.
		if got := []string{d.Hops[3].Unreachable, d.Hops[4].Unreachable}; !slices.Equal(got, []string{"", "!X"}) {
			t.Errorf("%s: hops 4 and 5 marked %q, want only hop 5, !X", mode, got)
		}
		checkHops(t, d, []wantHop{{"10.0.0.2", 0, 3}, {"198.18.1.2", 64501, 3}, {"198.18.2.2", 64502, 3}, {"198.18.3.2", 64502, 3}, {"198.18.3.2", 64502, 3}})
		if !slices.Equal(d.ASPath, []uint32{64501, 64502}) {
			t.Errorf("%s: AS path %v", mode, d.ASPath)
		}
	}
}

// Behind a per-packet load balancer the probes of one TTL reach different
// routers: the record names every router that answered a hop, with how
// many probes each answered and its AS, not only the one that answered
// most, and so does the table of `picket trace`.
func TestTracePerPacketBalancer(t *testing.T) {
	d := newDiamondLab(t)
	// r1 sends every second packet from h1 to rb, whatever its flow: a
	// mark from iptables' nth counter, and a routing rule for the mark.
	d.r1.IP("route", "add", "198.18.30.0/24", "via", "198.18.20.2", "table", "100")
	d.r1.IP("rule", "add", "fwmark", "1", "table", "100")
	d.r1.Iptables(false, "-t", "mangle", "-A", "PREROUTING", "-s", "198.18.1.1",
		"-m", "statistic", "--mode", "nth", "--every", "2", "--packet", "0", "-j", "MARK", "--set-mark", "1")
	k := New(labResolver(t))
	for _, mode := range []string{"icmp", "udp"} {
		t.Run(mode, func(t *testing.T) {
			rec, det := runCheck(t, k, d.h1, "198.18.30.2", `{"kind":"traceroute","probes":4,"mode":"`+mode+`"}`, checks.Env{})
			if !rec.OK {
				t.Fatalf("not ok: %v", rec.Error)
			}
			for _, w := range []struct {
				ttl  int
				want map[string]uint32 // the routers of both branches, and their ASes
			}{
				{2, map[string]uint32{"198.18.10.2": 64510, "198.18.20.2": 64520}},
				{3, map[string]uint32{"198.18.11.2": 64503, "198.18.21.2": 64503}},
			} {
				h := det.Hops[w.ttl-1]
				got := map[string]uint32{h.Addr: h.ASN}
				answered := len(h.RTTMS)
				for _, o := range h.Others {
					got[o.Addr] = o.ASN
					answered -= o.Answered
					if o.Answered < 1 {
						t.Errorf("hop %d: %s answered %d probes", w.ttl, o.Addr, o.Answered)
					}
				}
				if !maps.Equal(got, w.want) || len(h.RTTMS) != 4 || answered < 1 {
					t.Errorf("hop %d = %+v; want both branches %v answering, 4 answers in all", w.ttl, h, w.want)
				}
			}
			var b strings.Builder
			if err := render.Trace(&b, rec); err != nil {
				t.Fatal(err)
			}
			for _, a := range []string{"198.18.10.2", "198.18.20.2", "AS64520", "198.18.11.2", "198.18.21.2"} {
				if !strings.Contains(b.String(), a) {
					t.Errorf("the table does not show %s:\n%s", a, b.String())
				}
			}
		})
	}
}

// A TCP trace of host:port or of a URL sends its SYNs to that port (80 for
// http://), like tcptraceroute HOST PORT, not to 443: a destination that
// drops 443 but serves the target's port is reached. A port in the spec
// still wins.
func TestTraceTCPTargetPort(t *testing.T) {
	c := newChainLab(t)
	k := New(nil)
	for _, port := range []string{"80", "8443"} {
		var ln net.Listener
		if err := c.h2.Do(func() (err error) { ln, err = net.Listen("tcp", ":"+port); return err }); err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
	}
	c.h2.Iptables(false, "-A", "INPUT", "-p", "tcp", "--dport", "443", "-j", "DROP")
	tests := []struct {
		target, spec string
		port         int
		reached      bool
	}{
		{"https://198.18.4.2:8443/health", `{"mode":"tcp"}`, 8443, true},
		{"198.18.4.2:8443", `{"mode":"tcp"}`, 8443, true},
		{"http://198.18.4.2/health", `{"mode":"tcp"}`, 80, true},
		{"https://198.18.4.2/health", `{"mode":"tcp","gap":2,"wait":"500ms"}`, 443, false},
		{"https://198.18.4.2:8443/health", `{"mode":"tcp","port":443,"gap":2,"wait":"500ms"}`, 443, false},
		{"198.18.4.2", `{"mode":"tcp","gap":2,"wait":"500ms"}`, 443, false},
		{"198.18.4.2:8443", `{"mode":"udp"}`, 33434, true}, // UDP probes go to a closed high port
	}
	for _, tt := range tests {
		rec, det := runCheck(t, k, c.h1, tt.target, tt.spec, checks.Env{})
		if rec.OK != tt.reached || det.Reached != tt.reached || det.Port != tt.port {
			t.Errorf("%s %s: ok %v (%v), port %d; want reached %v, port %d", tt.target, tt.spec, rec.OK, rec.Error, det.Port, tt.reached, tt.port)
		}
	}
}

// This host's own routing table refuses the destination (a prohibit or
// unreachable route): no probe leaves, and the record says so at once in
// every mode, not "no hop answered" after the wait as if the path were
// silent.
func TestTraceLocalRouteRefuses(t *testing.T) {
	h1 := netlab.RejectingRouter(t)
	h1.IP("route", "add", "prohibit", "198.18.55.0/24")
	h1.IP("route", "add", "unreachable", "198.18.56.0/24")
	for _, mode := range []string{"icmp", "udp", "tcp"} {
		for dst, text := range map[string]string{
			"198.18.55.1": "this host will not send to 198.18.55.1 (a prohibit route)",
			"198.18.56.1": "no route to 198.18.56.1",
		} {
			t.Run(mode+"/"+dst, func(t *testing.T) {
				rec, _ := runCheck(t, New(nil), h1, dst, `{"timeout":"3s","mode":"`+mode+`"}`, checks.Env{})
				if rec.OK || rec.Error.Layer != results.LayerPath || rec.Error.Code != results.CodeNetwork || !strings.Contains(rec.Error.Message, text) {
					t.Errorf("got %v, want path/network saying %q", rec.Error, text)
				}
			})
		}
	}
}
