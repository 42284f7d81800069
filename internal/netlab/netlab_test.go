package netlab

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// A host reaches another host through a router, over TCP, with sockets
// opened inside the namespaces by Do.
func TestLabRoutesThroughRouter(t *testing.T) {
	lab := New(t)
	h1, r1, h2 := lab.Node("h1"), lab.Node("r1"), lab.Node("h2")
	lab.Link(h1, []string{"198.18.1.2/24", "2001:db8:1::2/64"}, r1, []string{"198.18.1.1/24", "2001:db8:1::1/64"})
	lab.Link(r1, []string{"198.18.2.1/24", "2001:db8:2::1/64"}, h2, []string{"198.18.2.2/24", "2001:db8:2::2/64"})
	r1.Forward()
	h1.Route("default", "198.18.1.1")
	h1.Route("default", "2001:db8:1::1")
	h2.Route("default", "198.18.2.1")
	h2.Route("default", "2001:db8:2::1")

	for _, addr := range []string{"198.18.2.2:7000", "[2001:db8:2::2]:7000"} {
		var ln net.Listener
		if err := h2.Do(func() (err error) { ln, err = net.Listen("tcp", addr); return err }); err != nil {
			t.Fatal(err)
		}
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, "hello from h2")
			c.Close()
		}()
		var got []byte
		err := h1.Do(func() error {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				return err
			}
			defer c.Close()
			got, err = io.ReadAll(c)
			return err
		})
		ln.Close()
		if err != nil || string(got) != "hello from h2" {
			t.Fatalf("%s: got %q, %v", addr, got, err)
		}
	}
}

func TestLabRulesAndCleanup(t *testing.T) {
	var ns string
	t.Run("lab", func(t *testing.T) {
		lab := New(t)
		r := lab.Node("router-with-a-long-name")
		ns = r.NS
		r.DropTimeExceeded()
		r.RateLimitTimeExceeded(6, 1)
		out, err := r.Command("iptables", "-S", "OUTPUT").CombinedOutput()
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"--icmp-type 11 -j DROP", "--limit 6/min --limit-burst 1 -j ACCEPT"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("iptables -S OUTPUT lacks %q:\n%s", want, out)
			}
		}
		if !strings.HasPrefix(ns, lab.Prefix()) {
			t.Errorf("namespace %q lacks the lab prefix %q", ns, lab.Prefix())
		}
		if _, err := os.Stat("/run/netns/" + ns); err != nil {
			t.Fatal(err)
		}
	})
	if _, err := os.Stat("/run/netns/" + ns); !os.IsNotExist(err) {
		t.Fatalf("namespace %s left behind after the test: %v", ns, err)
	}
}

func TestIfnamesAreUniqueAndShort(t *testing.T) {
	n := &Node{ifaces: make(map[string]bool)}
	seen := map[string]bool{}
	for range 12 {
		name := n.ifname("a-very-long-peer-name")
		if len(name) > 15 || seen[name] {
			t.Fatalf("ifname %q: too long or repeated", name)
		}
		seen[name] = true
	}
}

func TestRouteArgs(t *testing.T) {
	got := strings.Join(routeArgs("add", "198.18.9.0/24", []string{"198.18.1.1", "198.18.2.1"}), " ")
	if want := "route add 198.18.9.0/24 nexthop via 198.18.1.1 nexthop via 198.18.2.1"; got != want {
		t.Errorf("ECMP: %q, want %q", got, want)
	}
	got = strings.Join(routeArgs("replace", "default", []string{"2001:db8::1"}), " ")
	if want := "-6 route replace default via 2001:db8::1"; got != want {
		t.Errorf("v6: %q, want %q", got, want)
	}
}

// Every node of a chain reaches every other, in both families.
func TestChainRoutes(t *testing.T) {
	lab := New(t)
	nodes := []*Node{lab.Node("a"), lab.Node("b"), lab.Node("c"), lab.Node("d")}
	lab.Chain(nodes,
		[]string{"198.18.1.0/24", "2001:db8:1::/64"},
		[]string{"198.18.2.0/24", "2001:db8:2::/64"},
		[]string{"198.18.3.0/24", "2001:db8:3::/64"})
	for _, addr := range []string{"198.18.3.2:7001", "[2001:db8:3::2]:7001"} {
		var ln net.Listener
		if err := nodes[3].Do(func() (err error) { ln, err = net.Listen("tcp", addr); return err }); err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		err := nodes[0].Do(func() error {
			c, err := net.Dial("tcp", addr)
			if err == nil {
				c.Close()
			}
			return err
		})
		ln.Close()
		if err != nil {
			t.Fatalf("a -> %s: %v", addr, err)
		}
	}
}

// The namespaces of a test process that died are removed by the next lab;
// those of a live process are left alone.
func TestSweepOrphans(t *testing.T) {
	New(t) // skips without root
	dead := "pk999999999-0000-orphan"
	live := fmt.Sprintf("pk%d-0000-live", os.Getpid())
	for _, ns := range []string{dead, live} {
		if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	t.Cleanup(func() {
		_ = exec.Command("ip", "netns", "del", live).Run()
		_ = exec.Command("ip", "netns", "del", dead).Run()
	})
	New(t)
	if _, err := os.Stat("/run/netns/" + dead); !os.IsNotExist(err) {
		t.Errorf("orphan %s not removed: %v", dead, err)
	}
	if _, err := os.Stat("/run/netns/" + live); err != nil {
		t.Errorf("live lab's %s removed: %v", live, err)
	}
}
