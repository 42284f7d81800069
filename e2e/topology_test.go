package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/picketnet/picket/internal/linkemu"
	"github.com/picketnet/picket/internal/netlab"
)

// The lab's address plan. Documentation ranges stand for public space,
// and the lab's ip2asn table gives them their ASNs. 192.0.2.0/24 is left
// alone: sandboxes such as CI's use it for the host itself. Namespaces have
// no route out of the lab, so nothing here can leave the machine.
//
//	v-eu --emu-- r-eu (AS64501) --+
//	v-us --emu-- r-us (AS64502) --+-- r-core (AS64600) --emu-- target (AS64700) 198.51.100.34
//	v-ap --emu-- r-ap (AS64503) --+        |    \
//	               \                        |     +-- collector (AS64800) 198.51.100.42 primary, .43 secondary
//	                +-- r-detour (AS64666) --emu(+80 ms)--+
const (
	targetAddr    = "198.51.100.34"
	targetName    = "shop.lab.test"
	collectorA    = "198.51.100.42"
	collectorB    = "198.51.100.43"
	collectorPort = "8080"
)

// vantageSite is one region of the lab: the vantage, its ISP router and
// the emulated access link between them.
type vantageSite struct {
	id, region, provider string
	asn                  uint32
	lat, lon             float64
	// vantage side and router side of the access link, and the router's
	// link to the core.
	hostAddr, routerAddr string
	coreLocal, coreFar   string
}

var sites = []vantageSite{
	{"fra-lab-a", "eu-central", "labnet", 64501, 50.11, 8.68, "203.0.113.1", "203.0.113.2", "198.51.100.1", "198.51.100.2"},
	{"iad-lab-a", "us-east", "labnet", 64502, 38.95, -77.45, "203.0.113.5", "203.0.113.6", "198.51.100.5", "198.51.100.6"},
	{"bom-lab-a", "ap-south", "labnet", 64503, 19.08, 72.88, "203.0.113.9", "203.0.113.10", "198.51.100.9", "198.51.100.10"},
}

// topology is the running lab network.
type topology struct {
	lab   *netlab.Lab
	nodes map[string]*netlab.Node
	// links by name: the vantage access links by vantage id, "target",
	// and "detour" (r-detour to r-core).
	links map[string]*linkemu.Link
	// ip2asn is the path of the lab's iptoasn.com-format table.
	ip2asn string
}

// asTable lists who announces what: one line per range, as iptoasn.com
// publishes them (range_start, range_end, AS_number, country, AS_description).
var asTable = []struct {
	from, to string
	asn      uint32
	name     string
}{
	{"203.0.113.1", "203.0.113.3", 64501, "EU-ACCESS"},
	{"198.51.100.1", "198.51.100.1", 64501, "EU-ACCESS"},
	{"203.0.113.5", "203.0.113.7", 64502, "US-ACCESS"},
	{"198.51.100.5", "198.51.100.5", 64502, "US-ACCESS"},
	{"203.0.113.9", "203.0.113.11", 64503, "AP-ACCESS"},
	{"198.51.100.9", "198.51.100.9", 64503, "AP-ACCESS"},
	{"198.51.100.13", "198.51.100.13", 64503, "AP-ACCESS"},
	{"198.51.100.2", "198.51.100.2", 64600, "CORE-TRANSIT"},
	{"198.51.100.6", "198.51.100.6", 64600, "CORE-TRANSIT"},
	{"198.51.100.10", "198.51.100.10", 64600, "CORE-TRANSIT"},
	{"198.51.100.18", "198.51.100.18", 64600, "CORE-TRANSIT"},
	{"198.51.100.33", "198.51.100.33", 64600, "CORE-TRANSIT"},
	{"198.51.100.41", "198.51.100.41", 64600, "CORE-TRANSIT"},
	{"198.51.100.14", "198.51.100.14", 64666, "DETOUR-NET"},
	{"198.51.100.17", "198.51.100.17", 64666, "DETOUR-NET"},
	{"198.51.100.34", "198.51.100.35", 64700, "SHOP-HOSTING"},
	{"198.51.100.42", "198.51.100.43", 64800, "PICKET-COLLECTOR"},
}

// emuLink joins a and b with an emulated point-to-point link.
func emuLink(t *testing.T, a *netlab.Node, aAddr string, b *netlab.Node, bAddr, dev string) *linkemu.Link {
	t.Helper()
	l, err := linkemu.New(
		linkemu.End{Netns: a.NS, Dev: dev, Addr: netip.MustParsePrefix(aAddr + "/32"), Peer: netip.MustParseAddr(bAddr)},
		linkemu.End{Netns: b.NS, Dev: dev, Addr: netip.MustParsePrefix(bAddr + "/32"), Peer: netip.MustParseAddr(aAddr)},
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// buildTopology creates the namespaces, links and routes of the lab, and
// writes each namespace's resolv.conf (pointing at the target's DNS server)
// and the ip2asn table.
func buildTopology(t *testing.T) *topology {
	t.Helper()
	lab := netlab.New(t)
	topo := &topology{lab: lab, nodes: map[string]*netlab.Node{}, links: map[string]*linkemu.Link{}}
	node := func(name string) *netlab.Node {
		n := lab.Node(name)
		topo.nodes[name] = n
		return n
	}
	core, target, collector := node("r-core"), node("target"), node("collector")
	detour := node("r-detour")
	core.Forward()
	detour.Forward()

	for _, s := range sites {
		host, router := node("v-"+s.region), node("r-"+s.region)
		router.Forward()
		topo.links[s.id] = emuLink(t, host, s.hostAddr, router, s.routerAddr, "acc0")
		lab.Link(router, []string{s.coreLocal + "/30"}, core, []string{s.coreFar + "/30"})
		host.Route("default", s.routerAddr)
		router.Route("default", s.coreFar)
		core.Route(s.hostAddr+"/32", s.coreLocal)
	}
	ap := topo.nodes["r-ap-south"]
	lab.Link(ap, []string{"198.51.100.13/30"}, detour, []string{"198.51.100.14/30"})
	topo.links["detour"] = emuLink(t, detour, "198.51.100.17", core, "198.51.100.18", "det0")
	detour.Route("default", "198.51.100.18")
	detour.Route("203.0.113.9/32", "198.51.100.13")

	topo.links["target"] = emuLink(t, core, "198.51.100.33", target, targetAddr, "tgt0")
	target.Route("default", "198.51.100.33")

	lab.Link(core, []string{"198.51.100.41/29"}, collector, []string{collectorA + "/29", collectorB + "/29"})
	collector.Route("default", "198.51.100.41")

	dir := t.TempDir()
	for name := range topo.nodes {
		writeResolvConf(t, lab.Prefix()+name)
	}
	var b strings.Builder
	for _, r := range asTable {
		fmt.Fprintf(&b, "%s\t%s\t%d\tZZ\t%s\n", r.from, r.to, r.asn, r.name)
	}
	topo.ip2asn = filepath.Join(dir, "ip2asn-v4.tsv")
	if err := os.WriteFile(topo.ip2asn, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return topo
}

// writeResolvConf makes `ip netns exec` give the namespace the lab's DNS
// server as its resolver.
func writeResolvConf(t *testing.T, ns string) {
	t.Helper()
	dir := filepath.Join("/etc/netns", ns)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	conf := "nameserver " + targetAddr + "\noptions timeout:1 attempts:1\n"
	if err := os.WriteFile(filepath.Join(dir, "resolv.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
}

// detourAP sends ap-south's traffic through the detour AS, or back.
func (topo *topology) detourAP(on bool) {
	via := "198.51.100.10"
	if on {
		via = "198.51.100.14"
	}
	topo.nodes["r-ap-south"].ReplaceRoute("default", via)
}

// waitReachable polls until from can reach addr:port over TCP, or fails.
func waitFor(t *testing.T, what string, within time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
