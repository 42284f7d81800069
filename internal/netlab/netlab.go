package netlab

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/picketnet/picket/internal/testenv"
)

// Lab is one test's set of namespaces. Its methods fail the test on error.
type Lab struct {
	t      testing.TB
	prefix string

	mu    sync.Mutex
	nodes map[string]*Node
}

// Node is one network namespace: a host or a router.
type Node struct {
	lab *Lab
	// Name is the node's name in the test ("r1").
	Name string
	// NS is the namespace's name under /run/netns.
	NS string

	mu     sync.Mutex
	ifaces map[string]bool
}

// New returns an empty lab whose namespaces are removed when the test ends.
// It skips the test (fails it under CI=true) without root or ip(8).
func New(t testing.TB) *Lab {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "ip")
	sweepOrphans()
	var b [2]byte
	_, _ = rand.Read(b[:])
	prefix := fmt.Sprintf("pk%d-%s-", os.Getpid(), hex.EncodeToString(b[:]))
	return &Lab{t: t, prefix: prefix, nodes: make(map[string]*Node)}
}

// sweepOrphans deletes the namespaces of labs whose test process is gone:
// a test binary that crashed or was killed never ran its cleanups. Lab
// namespace names start with "pk<pid>-".
func sweepOrphans() {
	entries, err := os.ReadDir("/run/netns")
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), "pk")
		if !ok {
			continue
		}
		pidStr, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if !ok || err != nil || pid <= 0 {
			continue
		}
		if _, err := os.Stat("/proc/" + pidStr); err == nil {
			continue // its test is still running
		}
		_ = exec.Command("ip", "netns", "del", e.Name()).Run()
	}
}

// Prefix is the prefix of every namespace name of this lab.
func (l *Lab) Prefix() string { return l.prefix }

// Node creates a namespace for a node called name, with its loopback up and
// ICMP rate limits off.
func (l *Lab) Node(name string) *Node {
	l.t.Helper()
	l.mu.Lock()
	if _, dup := l.nodes[name]; dup {
		l.mu.Unlock()
		l.t.Fatalf("netlab: node %q already exists", name)
	}
	n := &Node{lab: l, Name: name, NS: l.prefix + name, ifaces: make(map[string]bool)}
	l.nodes[name] = n
	l.mu.Unlock()

	l.run("ip", "netns", "add", n.NS)
	l.t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", n.NS).CombinedOutput(); err != nil {
			l.t.Errorf("netlab: ip netns del %s: %v: %s", n.NS, err, out)
		}
	})
	n.IP("link", "set", "lo", "up")
	n.Sysctl("net.ipv4.icmp_ratelimit", "0")
	n.Sysctl("net.ipv4.icmp_msgs_per_sec", "1000000")
	n.Sysctl("net.ipv4.icmp_msgs_burst", "1000000")
	n.Sysctl("net.ipv6.icmp.ratelimit", "0")
	// Without duplicate address detection a link-local address is usable
	// at once, instead of a second later: a test's first IPv6 packets
	// would otherwise be lost or delayed while routers cannot yet speak.
	n.Sysctl("net.ipv6.conf.all.accept_dad", "0")
	n.Sysctl("net.ipv6.conf.default.accept_dad", "0")
	return n
}

// run runs a command in the test's namespace and fails the test on error.
func (l *Lab) run(name string, args ...string) string {
	l.t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("netlab: %s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out)
}

// Link joins a and b with a veth pair and gives each end its addresses
// (CIDR notation, "198.18.1.1/24" or "2001:db8:1::1/64"; IPv6 addresses
// skip duplicate address detection). It returns the interface names on a
// and on b.
func (l *Lab) Link(a *Node, aAddrs []string, b *Node, bAddrs []string) (aIf, bIf string) {
	l.t.Helper()
	aIf, bIf = a.ifname(b.Name), b.ifname(a.Name)
	l.run("ip", "-n", a.NS, "link", "add", aIf, "type", "veth", "peer", "name", bIf, "netns", b.NS)
	for _, end := range []struct {
		n     *Node
		ifc   string
		addrs []string
	}{{a, aIf, aAddrs}, {b, bIf, bAddrs}} {
		for _, addr := range end.addrs {
			args := []string{"addr", "add", addr, "dev", end.ifc}
			if strings.Contains(addr, ":") {
				args = append(args, "nodad")
			}
			end.n.IP(args...)
		}
		end.n.IP("link", "set", end.ifc, "up")
	}
	a.waitLinkLocal(aIf)
	b.waitLinkLocal(bIf)
	return aIf, bIf
}

// waitLinkLocal waits until ifc has a usable IPv6 link-local address.
// Until it has, the node cannot resolve IPv6 neighbours, and a test's
// first packets would wait a second for a retransmitted solicitation.
func (n *Node) waitLinkLocal(ifc string) {
	n.lab.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		out := n.IP("-6", "addr", "show", "dev", ifc, "scope", "link")
		if strings.Contains(out, "fe80") && !strings.Contains(out, "tentative") {
			return
		}
		if time.Now().After(deadline) {
			n.lab.t.Fatalf("netlab: %s: %s has no IPv6 link-local address after 5s:\n%s", n.Name, ifc, out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ifname picks an unused interface name for n's side of a link to peer.
func (n *Node) ifname(peer string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	base := peer
	if len(base) > 11 {
		base = base[:11]
	}
	name := "to-" + base
	for i := 2; n.ifaces[name]; i++ {
		s := strconv.Itoa(i)
		name = "to-" + base[:min(len(base), 11-len(s))] + s
	}
	n.ifaces[name] = true
	return name
}

// IP runs `ip -n NS args...` and fails the test on error.
func (n *Node) IP(args ...string) string {
	n.lab.t.Helper()
	return n.lab.run("ip", append([]string{"-n", n.NS}, args...)...)
}

// Route adds a route to dst ("198.18.9.0/24", "default") through one
// gateway, or through several as an ECMP route.
func (n *Node) Route(dst string, via ...string) {
	n.lab.t.Helper()
	n.IP(routeArgs("add", dst, via)...)
}

// ReplaceRoute replaces the route to dst, so a test can change a path
// between two runs.
func (n *Node) ReplaceRoute(dst string, via ...string) {
	n.lab.t.Helper()
	n.IP(routeArgs("replace", dst, via)...)
}

func routeArgs(verb, dst string, via []string) []string {
	args := []string{"route", verb, dst}
	if strings.Contains(dst, ":") || (len(via) > 0 && strings.Contains(via[0], ":")) {
		args = append([]string{"-6"}, args...)
	}
	switch len(via) {
	case 0:
	case 1:
		args = append(args, "via", via[0])
	default:
		for _, v := range via {
			args = append(args, "nexthop", "via", v)
		}
	}
	return args
}

// Forward turns IPv4 and IPv6 forwarding on, making the node a router.
// ECMP routes hash on the layer-4 flow (addresses, protocol, ports), as
// routers of the Internet do, so that one flow keeps one path and
// different flows spread.
func (n *Node) Forward() {
	n.lab.t.Helper()
	n.Sysctl("net.ipv4.ip_forward", "1")
	n.Sysctl("net.ipv6.conf.all.forwarding", "1")
	n.Sysctl("net.ipv4.fib_multipath_hash_policy", "1")
	n.Sysctl("net.ipv6.fib_multipath_hash_policy", "1")
}

// Sysctl sets a sysctl of the node's namespace ("net.ipv4.ip_forward").
func (n *Node) Sysctl(key, value string) {
	n.lab.t.Helper()
	path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	err := n.Do(func() error { return os.WriteFile(path, []byte(value), 0o644) })
	if err != nil {
		n.lab.t.Fatalf("netlab: %s: sysctl %s=%s: %v", n.Name, key, value, err)
	}
}

// Iptables runs iptables (or ip6tables when v6) with args in the node.
func (n *Node) Iptables(v6 bool, args ...string) {
	n.lab.t.Helper()
	tool := "iptables"
	if v6 {
		tool = "ip6tables"
	}
	testenv.RequireCommand(n.lab.t, tool)
	n.lab.run("ip", append([]string{"netns", "exec", n.NS, tool, "-w"}, args...)...)
}

// DropTimeExceeded makes the node a silent hop: it still forwards, but
// never tells a sender that a packet's TTL ran out.
func (n *Node) DropTimeExceeded() {
	n.lab.t.Helper()
	n.Iptables(false, "-A", "OUTPUT", "-p", "icmp", "--icmp-type", "time-exceeded", "-j", "DROP")
	n.Iptables(true, "-A", "OUTPUT", "-p", "ipv6-icmp", "--icmpv6-type", "time-exceeded", "-j", "DROP")
}

// RateLimitTimeExceeded lets the node send only burst time-exceeded
// messages, then perMinute a minute, as a router's control plane policer
// does; the rest are dropped.
func (n *Node) RateLimitTimeExceeded(perMinute, burst int) {
	n.lab.t.Helper()
	for _, v6 := range []bool{false, true} {
		proto, typ := "icmp", "--icmp-type"
		if v6 {
			proto, typ = "ipv6-icmp", "--icmpv6-type"
		}
		n.Iptables(v6, "-A", "OUTPUT", "-p", proto, typ, "time-exceeded",
			"-m", "limit", "--limit", fmt.Sprintf("%d/minute", perMinute), "--limit-burst", strconv.Itoa(burst), "-j", "ACCEPT")
		n.Iptables(v6, "-A", "OUTPUT", "-p", proto, typ, "time-exceeded", "-j", "DROP")
	}
}

// Command returns a command that runs name inside the node.
func (n *Node) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.NS, name}, args...)...)
}

// Do runs fn on an OS thread switched into the node's namespace and
// returns its error. Sockets fn opens live in the namespace; see the
// package documentation.
func (n *Node) Do(fn func() error) error {
	return Do("/run/netns/"+n.NS, fn)
}

// Do runs fn on an OS thread switched into the network namespace at path
// (a /run/netns entry or a /proc/PID/ns/net file), then switches the
// thread back. A thread that cannot be switched back is discarded, never
// returned to the Go scheduler.
func Do(path string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netlab: %w", err)
			return
		}
		defer orig.Close()
		target, err := os.Open(path)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netlab: %w", err)
			return
		}
		err = unix.Setns(int(target.Fd()), unix.CLONE_NEWNET)
		target.Close()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netlab: setns %s: %w", path, err)
			return
		}
		var fnErr error
		func() {
			defer func() {
				if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
					runtime.UnlockOSThread()
				}
				// Otherwise the goroutine exits locked and the runtime
				// destroys the thread.
			}()
			fnErr = fn()
		}()
		errc <- fnErr
	}()
	return <-errc
}

// Chain joins nodes in a line: link i joins nodes[i] and nodes[i+1] on the
// prefixes links[i] (one IPv4 and/or one IPv6 prefix, "198.18.1.0/24",
// "2001:db8:1::/64"). The left end of each link gets host address 1 of the
// prefix, the right end host address 2. The inner nodes become routers,
// and every node gets a route to every prefix it is not on, through its
// neighbour on the side of that prefix, so any node can reach any other.
//
// Linux answers a probe whose TTL runs out from the address of the
// interface the answer leaves by, which for a chain is the link the probe
// came in on: a trace from nodes[0] sees at TTL i host 2 of links[i-1].
func (l *Lab) Chain(nodes []*Node, links ...[]string) {
	l.t.Helper()
	if len(links) != len(nodes)-1 {
		l.t.Fatalf("netlab: Chain of %d nodes needs %d links, got %d", len(nodes), len(nodes)-1, len(links))
	}
	host := func(prefix string, n byte) (addr, cidr string) {
		p, err := netip.ParsePrefix(prefix)
		if err != nil {
			l.t.Fatalf("netlab: Chain: %v", err)
		}
		b := p.Masked().Addr().AsSlice()
		b[len(b)-1] += n
		a, _ := netip.AddrFromSlice(b)
		return a.String(), fmt.Sprintf("%s/%d", a, p.Bits())
	}
	for i := range links {
		var left, right []string
		for _, p := range links[i] {
			_, a := host(p, 1)
			_, b := host(p, 2)
			left, right = append(left, a), append(right, b)
		}
		l.Link(nodes[i], left, nodes[i+1], right)
	}
	for _, n := range nodes[1 : len(nodes)-1] {
		n.Forward()
	}
	for i, prefixes := range links {
		for _, p := range prefixes {
			v6 := strings.Contains(p, ":")
			for j, n := range nodes {
				var via string
				switch {
				case j < i: // left of the link: towards nodes[j+1]
					via = l.sameFamily(links[j], v6, 2, host)
				case j > i+1: // right of the link: towards nodes[j-1]
					via = l.sameFamily(links[j-1], v6, 1, host)
				default:
					continue // on the link
				}
				if via != "" {
					n.Route(p, via)
				}
			}
		}
	}
}

func (l *Lab) sameFamily(prefixes []string, v6 bool, n byte, host func(string, byte) (string, string)) string {
	for _, p := range prefixes {
		if strings.Contains(p, ":") == v6 {
			a, _ := host(p, n)
			return a
		}
	}
	return ""
}

// Addresses behind RejectingRouter's router, by what it answers for them.
const (
	NetUnreachable    = "198.18.99.1"    // no route: network unreachable (!N)
	HostUnreachable   = "198.18.79.1"    // an unreachable route: host unreachable (!H)
	Prohibited        = "198.18.78.1"    // a prohibit route: administratively prohibited (!X)
	Blackholed        = "198.18.77.1"    // a blackhole route: dropped without a word
	NetUnreachable6   = "2001:db8:99::1" // no route: no route to destination (!N)
	Prohibited6       = "2001:db8:78::1" // a prohibit route (!X)
	RejectingRouterV4 = "198.18.1.2"     // the router, as the host sees it
	RejectingRouterV6 = "2001:db8:1::2"
)

// RejectingRouter builds, in a lab of its own, host h1 behind router r1,
// which answers for the addresses above as their names say, and returns
// h1. A lab each time: the kernel lets a router send one source a burst
// of 5 such errors, then one a second (net.ipv4.route.error_cost, not
// settable in a namespace), so tests that reuse one would see silence.
func RejectingRouter(t testing.TB) *Node {
	t.Helper()
	lab := New(t)
	h1, r1 := lab.Node("h1"), lab.Node("r1")
	lab.Link(h1, []string{"198.18.1.1/24", "2001:db8:1::1/64"}, r1, []string{RejectingRouterV4 + "/24", RejectingRouterV6 + "/64"})
	r1.Forward()
	h1.Route("default", RejectingRouterV4)
	h1.Route("default", RejectingRouterV6)
	for _, route := range [][]string{
		{"route", "add", "unreachable", "198.18.79.0/24"},
		{"route", "add", "prohibit", "198.18.78.0/24"},
		{"route", "add", "blackhole", "198.18.77.0/24"},
		{"-6", "route", "add", "prohibit", "2001:db8:78::/64"},
	} {
		r1.IP(route...)
	}
	return h1
}

// Addresses of RoutingLoop's lab.
const (
	Looped       = "198.18.76.1"    // routed in a loop between the two routers
	Looped6      = "2001:db8:76::1" // the same in IPv6
	LoopRouterV4 = "198.18.2.2"     // r2, which gets the packets' last hop of TTL (from a host's 64)
	LoopRouterV6 = "2001:db8:2::2"
)

// RoutingLoop builds, in a lab of its own, host h1 behind router r1,
// which routes Looped (and Looped6) to router r2, which routes them back
// to r1: every packet to them bounces until its TTL runs out and a router
// answers time exceeded. It returns h1.
func RoutingLoop(t testing.TB) *Node {
	t.Helper()
	lab := New(t)
	h1, r1, r2 := lab.Node("h1"), lab.Node("r1"), lab.Node("r2")
	lab.Chain([]*Node{h1, r1, r2},
		[]string{"198.18.1.0/24", "2001:db8:1::/64"}, []string{"198.18.2.0/24", "2001:db8:2::/64"})
	for _, r := range []struct {
		node     *Node
		dst, via string
	}{
		{h1, "198.18.76.0/24", "198.18.1.2"}, {h1, "2001:db8:76::/64", "2001:db8:1::2"},
		{r1, "198.18.76.0/24", LoopRouterV4}, {r1, "2001:db8:76::/64", LoopRouterV6},
		{r2, "198.18.76.0/24", "198.18.2.1"}, {r2, "2001:db8:76::/64", "2001:db8:2::1"},
	} {
		r.node.Route(r.dst, r.via)
	}
	r2.Forward() // Chain made r1 a router; r2 ends the chain
	return h1
}
