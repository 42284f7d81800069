package tftest

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

// plannedVantage is one entry of vantage-plan's vantages output.
type plannedVantage struct {
	ID             string  `json:"id"`
	Provider       string  `json:"provider"`
	ProviderRegion string  `json:"provider_region"`
	Region         string  `json:"region"`
	ASN            uint32  `json:"asn"`
	Lat            float64 `json:"lat"`
	Lon            float64 `json:"lon"`
}

type plan struct {
	Provider      string                    `json:"provider"`
	ASN           uint32                    `json:"asn"`
	Vantages      map[string]plannedVantage `json:"vantages"`
	EnrolCommands map[string]string         `json:"enrol_commands"`
}

// The ASN each provider's instances are announced from.
var providerASN = map[string]struct {
	provider string
	asn      uint32
}{
	"aws":          {"aws", 16509},
	"gcp":          {"gcp", 396982},
	"digitalocean": {"digitalocean", 14061},
	"vultr":        {"vultr", 20473},
	"hcloud":       {"hetzner", 24940},
}

// continents groups the shared vantage region names.
var continents = map[string]string{
	"us": "North America", "ca": "North America", "sa": "South America", "eu": "Europe",
	"ap": "Asia", "me": "Asia", "au": "Oceania", "af": "Africa",
}

var (
	regionName = regexp.MustCompile(`^(us|ca|sa|eu|ap|au|af|me)-[a-z]+$`)
	dnsLabel   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

// planEveryRegion plans two vantages in every region of every provider's
// catalog and returns the plans by cloud.
func planEveryRegion(t *testing.T) map[string]plan {
	t.Helper()
	src := hclString(filepath.Join(copyModules(t), "vantage-plan"))
	var root strings.Builder
	for cloud := range providerASN {
		fmt.Fprintf(&root, `
module "catalog_%[1]s" {
  source  = %[2]s
  cloud   = %[1]q
  regions = []
}

module "all_%[1]s" {
  source     = %[2]s
  cloud      = %[1]q
  regions    = keys(module.catalog_%[1]s.catalog.regions)
  per_region = 2
}
`, cloud, src)
	}
	root.WriteString("output \"plans\" {\n  value = {\n")
	for cloud := range providerASN {
		fmt.Fprintf(&root, "    %[1]s = module.all_%[1]s\n", cloud)
	}
	root.WriteString("  }\n}\n")
	var plans map[string]plan
	if err := json.Unmarshal(applyRoot(t, root.String())["plans"], &plans); err != nil {
		t.Fatalf("decode plans: %v", err)
	}
	return plans
}

// vantagesAdd parses an enrol command the way `picket vantages add`
// takes its arguments (DESIGN §2).
func vantagesAdd(cmd string) (plannedVantage, error) {
	words := strings.Fields(cmd)
	if len(words) < 5 || !slices.Equal(words[:3], []string{"picket", "vantages", "add"}) || strings.HasPrefix(words[3], "-") {
		return plannedVantage{}, fmt.Errorf("not `picket vantages add ID ...`: %q", cmd)
	}
	v := plannedVantage{ID: words[3]}
	fs := flag.NewFlagSet("vantages add", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&v.Region, "region", "", "")
	fs.StringVar(&v.Provider, "provider", "", "")
	asn := fs.Uint64("asn", 0, "")
	fs.Float64Var(&v.Lat, "lat", math.NaN(), "")
	fs.Float64Var(&v.Lon, "lon", math.NaN(), "")
	if err := fs.Parse(words[4:]); err != nil {
		return v, fmt.Errorf("%q: %w", cmd, err)
	}
	if fs.NArg() > 0 {
		return v, fmt.Errorf("%q: stray arguments %q", cmd, fs.Args())
	}
	v.ASN = uint32(*asn)
	return v, nil
}

// TestCatalog plans every region of every provider once, and checks the
// plans and the example roots against them.
func TestCatalog(t *testing.T) {
	t.Parallel() // mostly waiting on terraform and cloud-init
	plans := planEveryRegion(t)
	t.Run("every region enrols", func(t *testing.T) { everyRegionEnrols(t, plans) })
	t.Run("example fleet and collector are apart", func(t *testing.T) { exampleFleetAndCollectorAreApart(t, plans) })
}

func everyRegionEnrols(t *testing.T, plans map[string]plan) {
	ids := map[string]string{}
	type place struct {
		cloud, slug, region string
		lat, lon            float64
	}
	var places []place
	for _, cloud := range slices.Sorted(func(yield func(string) bool) {
		for c := range plans {
			if !yield(c) {
				return
			}
		}
	}) {
		p := plans[cloud]
		want := providerASN[cloud]
		if p.Provider != want.provider || p.ASN != want.asn {
			t.Errorf("%s: provider %q AS%d, want %q AS%d", cloud, p.Provider, p.ASN, want.provider, want.asn)
		}
		if len(p.Vantages) < 6 {
			t.Errorf("%s: only %d vantages planned over its catalog", cloud, len(p.Vantages))
		}
		for id, v := range p.Vantages {
			if other, dup := ids[id]; dup {
				t.Errorf("vantage id %s is planned by %s and %s", id, cloud, other)
			}
			ids[id] = cloud
			if !dnsLabel.MatchString(id) {
				t.Errorf("%s: vantage id %q is not a DNS label (the prober's hostname)", cloud, id)
			}
			if !regionName.MatchString(v.Region) {
				t.Errorf("%s: %s maps to region %q, outside the shared vocabulary", cloud, v.ProviderRegion, v.Region)
			}
			if math.Abs(v.Lat) > 90 || math.Abs(v.Lon) > 180 || (v.Lat == 0 && v.Lon == 0) {
				t.Errorf("%s: %s has no real location (%v, %v)", cloud, v.ProviderRegion, v.Lat, v.Lon)
			}
			got, err := vantagesAdd(p.EnrolCommands[id])
			if err != nil {
				t.Errorf("%s: %v", cloud, err)
				continue
			}
			if got != v.withoutProviderRegion() {
				t.Errorf("%s: enrol command %q\nenrols %+v\nwant   %+v", cloud, p.EnrolCommands[id], got, v.withoutProviderRegion())
			}
			if strings.HasSuffix(id, "-a") {
				places = append(places, place{cloud, v.ProviderRegion, v.Region, v.Lat, v.Lon})
			}
		}
	}
	// Vantages of different providers in one metro must share a region
	// name, or each provider would form a region of its own.
	for i, a := range places {
		for _, b := range places[i+1:] {
			if km := distanceKm(a.lat, a.lon, b.lat, b.lon); km < 100 && a.region != b.region {
				t.Errorf("%s %s (%s) and %s %s (%s) are %.0f km apart but in different regions", a.cloud, a.slug, a.region, b.cloud, b.slug, b.region, km)
			}
		}
	}
}

func (v plannedVantage) withoutProviderRegion() plannedVantage {
	v.ProviderRegion = ""
	return v
}

// distanceKm is the great-circle distance between two points.
func distanceKm(lat1, lon1, lat2, lon2 float64) float64 {
	const r = 6371.0
	rad := math.Pi / 180
	dLat, dLon := (lat2-lat1)*rad, (lon2-lon1)*rad
	h := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * r * math.Asin(math.Sqrt(h))
}

// The example fleet spans three continents and three providers, and its
// collector runs on a fourth provider.
func exampleFleetAndCollectorAreApart(t *testing.T, plans map[string]plan) {
	mods := parseModules(t)
	fleet := mods[filepath.Join("examples", "fleet")]
	collector := mods[filepath.Join("examples", "collector")]
	if fleet == nil || collector == nil {
		t.Fatal("examples/fleet or examples/collector is missing")
	}
	providers := map[string]bool{}
	reached := map[string]bool{}
	vantages := 0
	for _, b := range fleet.blocks {
		if b.Type != "module" {
			continue
		}
		source := literal(t, "fleet module "+b.Labels[0], b.Body.Attributes["source"].Expr).AsString()
		cloud := filepath.Base(source)
		p, ok := plans[cloud]
		if !ok {
			t.Errorf("fleet module %s uses %s, not a provider module", b.Labels[0], source)
			continue
		}
		regions := literal(t, "fleet module "+b.Labels[0]+" regions", b.Body.Attributes["regions"].Expr)
		for it := regions.ElementIterator(); it.Next(); {
			_, r := it.Element()
			v, ok := p.Vantages[r.AsString()+"-"+p.Provider+"-a"]
			if !ok {
				t.Errorf("fleet module %s: %s has no region %q", b.Labels[0], cloud, r.AsString())
				continue
			}
			providers[p.Provider] = true
			reached[continents[strings.SplitN(v.Region, "-", 2)[0]]] = true
			vantages++
		}
	}
	if len(providers) < 3 || len(reached) < 3 {
		t.Errorf("the fleet spans providers %v and continents %v; want at least 3 of each", keysOf(providers), keysOf(reached))
	}
	t.Logf("example fleet: %d vantages, providers %v, continents %v", vantages, keysOf(providers), keysOf(reached))

	var collectorModule bool
	for _, b := range collector.blocks {
		if b.Type != "module" {
			continue
		}
		collectorModule = true
		source := literal(t, "collector module", b.Body.Attributes["source"].Expr).AsString()
		provider, ok := strings.CutPrefix(filepath.Base(source), "collector-")
		if !ok {
			t.Fatalf("collector example uses %s, not a collector module", source)
		}
		if providers[provider] {
			t.Errorf("the collector runs on %s, like probers of the fleet", provider)
		}
		declared := map[string]bool{}
		if fp, ok := b.Body.Attributes["fleet_providers"]; ok {
			for it := literal(t, "fleet_providers", fp.Expr).ElementIterator(); it.Next(); {
				_, v := it.Element()
				if v.Type() == cty.String {
					declared[v.AsString()] = true
				}
			}
		}
		if !mapsEqual(declared, providers) {
			t.Errorf("collector example declares fleet_providers %v, the fleet runs on %v", keysOf(declared), keysOf(providers))
		}
	}
	if !collectorModule {
		t.Error("examples/collector calls no collector module")
	}
}

func keysOf(m map[string]bool) []string {
	var k []string
	for s := range m {
		k = append(k, s)
	}
	sort.Strings(k)
	return k
}

func mapsEqual(a, b map[string]bool) bool {
	return slices.Equal(keysOf(a), keysOf(b))
}

// A region the catalog does not know is refused before anything is
// created, naming the region and the ones that exist.
func TestUnknownRegionIsNamed(t *testing.T) {
	t.Parallel() // mostly waiting on terraform and cloud-init
	dir := t.TempDir()
	root := fmt.Sprintf(`
module "probers" {
  source  = %s
  cloud   = "hcloud"
  regions = ["hel1", "fra1"]
}
`, hclString(filepath.Join(copyModules(t), "vantage-plan")))
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(root), 0o644); err != nil {
		t.Fatal(err)
	}
	r := newTF(t, dir)
	r.must("init", "-backend=false", "-no-color")
	_, stderr, err := r.run("plan", "-no-color")
	msg := strings.Join(strings.Fields(stderr), " ")
	if err == nil || !strings.Contains(msg, "regions holds a region this module has no entry for: fra1.") ||
		!strings.Contains(msg, "Known hcloud regions: ash, fsn1, hel1, hil, nbg1, sin.") {
		t.Errorf("plan with an unknown region: %v\n%s", err, stderr)
	}
}
