package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/picketnet/picket/alerting"
	"github.com/picketnet/picket/internal/linkemu"
	"github.com/picketnet/picket/internal/pgtest"
	"github.com/picketnet/picket/results"
)

var pg = pgtest.New()

func TestMain(m *testing.M) { os.Exit(pg.Main(m)) }

// deployment is the lab with Picket running in it.
type deployment struct {
	// t is the running scenario's test; root is the test that owns the
	// lab, its processes and their logs.
	t       *testing.T
	root    *testing.T
	topo    *topology
	target  *target
	dir     string
	hooks   *hookRecorder
	api     *http.Client // dials from the collector's namespace
	teamTok string
	coll    *process
	probers map[string]*process // by vantage id
	// restarted vantages: their counters began again, so they are left
	// out of the final count.
	restarted map[string]bool
}

// The alerting settings of the lab: the defaults of DESIGN.md §6 scaled
// down from minutes to seconds, so that each fault is detected within
// seconds. The semantics are those of the defaults.
const collectorYAML = `listen: 0.0.0.0:%[1]s
store: %[2]s
admin_token_file: %[3]s/admin.token
asn_db: %[4]s
heartbeat_every: 1s
retention: {raw: 14d, minute: 90d, hour: 2y}
targets: {deny_private: true}
alerting:
  evaluate_every: 1s
  fail_after: 2
  recover_after: 2
  latency: {window: 4s, baseline: 10m, windows: 3, min_vantages: 2}
  path: {rounds: 2}
  missing_after: 3
notifiers:
  - {name: hook, kind: webhook, url: "http://%[5]s/hook"}
`

const proberYAML = `vantage:
  id: %[1]s
  region: %[2]s
  provider: %[3]s
  asn: %[4]d
  location: {lat: %[5]v, lon: %[6]v}
collectors:
  - http://%[7]s:%[9]s
  - http://%[8]s:%[9]s
token_file: %[10]s/token
spool: {dir: %[10]s/spool, max_bytes: 64MiB}
asn_db: %[11]s
metrics_listen: 127.0.0.1:9464
poll_every: 2s
batch_linger: 200ms
backoff_max: 2s
discovery: {disabled: true}
`

const endpointsYAML = `endpoints:
  - name: shop
    target: https://%[1]s/health
    checks:
      - {kind: http, interval: 1s, timeout: 1s, ca_pem: %[2]s, expect: {status: [200], body: "ok"}}
      - {kind: http, interval: 2s, timeout: 2s, http_version: "3", ca_pem: %[2]s}
      - {kind: tls, interval: 2s, timeout: 2s, ca_pem: %[2]s, expect: {min_days_left: 14}}
      - {kind: dns, interval: 1s, timeout: 1s, resolver: "%[3]s:53", query: {name: %[1]s, type: A}}
      - {kind: icmp, interval: 1s, timeout: 1s, count: 1}
      - {kind: traceroute, interval: 2s, timeout: 2s}
    regions: [all]
    alert: {severity: page, quorum: 2}
`

// deploy starts a collector on store ("sqlite" or "postgres") and one
// prober per vantage, registers the team, the vantages and the endpoint
// through the CLI, and waits until every vantage reports results.
func deploy(t *testing.T, store string) *deployment {
	t.Helper()
	topo := buildTopology(t)
	d := &deployment{t: t, root: t, topo: topo, dir: t.TempDir(), probers: map[string]*process{}, restarted: map[string]bool{}}
	d.target = startTarget(t, topo.nodes["target"])
	coll := topo.nodes["collector"]
	d.hooks = startHookRecorder(t, coll)
	d.api = nsClient(coll)

	storeSpec := "sqlite:" + filepath.Join(d.dir, "picket.db")
	if store == "postgres" {
		storeSpec = pg.SocketURL(pg.Database(t))
	}
	cfg := filepath.Join(d.dir, "collector.yaml")
	write(t, cfg, fmt.Sprintf(collectorYAML, collectorPort, storeSpec, d.dir, topo.ip2asn, d.hooks.addr))
	d.coll = startProcess(t, coll, "collector", d.dir, "collector", "--config", cfg)
	base := "http://" + collectorA + ":" + collectorPort
	waitFor(t, "collector healthy", 30*time.Second, func() bool {
		resp, err := d.api.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusOK
	})

	admin := []string{"--collector", base, "--token-file", filepath.Join(d.dir, "admin.token")}
	d.teamTok = lastLine(cli(t, coll, d.dir, append([]string{"teams", "add", "shop-team"}, admin...)...))
	for _, s := range sites {
		out := cli(t, coll, d.dir, append([]string{"vantages", "add", s.id, "--region", s.region, "--provider", s.provider,
			"--asn", fmt.Sprint(s.asn), "--lat", fmt.Sprint(s.lat), "--lon", fmt.Sprint(s.lon)}, admin...)...)
		vdir := filepath.Join(d.dir, s.id)
		if err := os.MkdirAll(vdir, 0o700); err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(vdir, "token"), lastLine(out)+"\n")
	}
	eps := filepath.Join(d.dir, "endpoints.yaml")
	// A team's private CA travels inline: registered endpoints may not
	// name files on the probers' disks.
	caPEM, err := os.ReadFile(d.target.ca.File)
	if err != nil {
		t.Fatal(err)
	}
	quoted, _ := json.Marshal(string(caPEM)) // a JSON string is a YAML double-quoted scalar
	write(t, eps, fmt.Sprintf(endpointsYAML, targetName, quoted, targetAddr))
	cli(t, coll, d.dir, "endpoints", "apply", "-f", eps, "--collector", base, "--token", d.teamTok)

	for _, s := range sites {
		d.startProber(s)
	}
	return d
}

func (d *deployment) startProber(s vantageSite) {
	d.t.Helper()
	vdir := filepath.Join(d.dir, s.id)
	cfg := filepath.Join(vdir, "prober.yaml")
	write(d.t, cfg, fmt.Sprintf(proberYAML, s.id, s.region, s.provider, s.asn, s.lat, s.lon,
		collectorA, collectorB, collectorPort, vdir, d.topo.ip2asn))
	d.probers[s.id] = startProcess(d.root, d.topo.nodes["v-"+s.region], "prober-"+s.id, vdir, "prober", "--config", cfg)
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// proberMetric reads a metric from a prober's own /metrics.
func (d *deployment) proberMetric(s vantageSite, name string, labels ...string) float64 {
	return metric(d.t, nsClient(d.topo.nodes["v-"+s.region]), "http://127.0.0.1:9464/metrics", name, labels...)
}

// noPage fails if any paging notification arrived since from.
func (d *deployment) noPage(from time.Time) {
	d.t.Helper()
	for _, n := range d.hooks.since(from) {
		if n.Severity == "page" && n.Status == "firing" {
			d.t.Errorf("paged: %s %s", n.DedupKey, n.Summary)
		}
	}
}

// settle waits until every alert that fired has resolved.
func (d *deployment) settle(within time.Duration) {
	d.t.Helper()
	waitFor(d.t, "every alert resolved", within, func() bool {
		open := map[string]bool{}
		for _, n := range d.hooks.since(time.Time{}) {
			open[n.DedupKey] = n.Status == "firing"
		}
		for k, firing := range open {
			if firing {
				_ = k
				return false
			}
		}
		return true
	})
}

func firing(typ string) func(notification) bool {
	return func(n notification) bool { return n.Status == "firing" && n.Type == typ }
}

func TestEndToEnd(t *testing.T) {
	for _, store := range []string{"postgres", "sqlite"} {
		t.Run(store, func(t *testing.T) {
			d := deploy(t, store)
			// Warm up: every vantage delivers, latency baselines fill
			// (5 windows of 4 s) and traceroutes learn the usual paths.
			for _, s := range sites {
				waitFor(t, s.id+" results acknowledged", 60*time.Second, func() bool {
					return d.proberMetric(s, "picket_prober_results_shipped_total") > 20
				})
			}
			time.Sleep(25 * time.Second)
			if ns := d.hooks.since(time.Time{}); len(ns) > 0 {
				t.Fatalf("alerts on a healthy lab: %+v", ns)
			}
			scenarios := []struct {
				name string
				full bool // only in the full (Postgres) run
				run  func(t *testing.T, d *deployment)
			}{
				{"20% loss on one vantage link", true, lossyLink},
				{"one prober killed", true, proberKilled},
				{"one region black-holed", true, regionBlackholed},
				{"route through an extra AS", true, detour},
				{"slow target", true, slowTarget},
				{"DNS server down", true, dnsDown},
				{"certificate about to expire", true, certExpiring},
				{"target down", false, targetDown},
				{"primary collector down", false, primaryCollectorDown},
			}
			for _, sc := range scenarios {
				if sc.full && store != "postgres" {
					continue
				}
				if !t.Run(sc.name, func(t *testing.T) { d.t = t; sc.run(t, d) }) {
					return
				}
			}
		})
	}
}

func lossyLink(t *testing.T, d *deployment) {
	start := time.Now()
	link := d.topo.links["fra-lab-a"]
	link.Set(linkemu.Conditions{Loss: 0.2})
	time.Sleep(20 * time.Second)
	link.Set(linkemu.Conditions{})
	d.noPage(start)
	d.settle(30 * time.Second)
}

func proberKilled(t *testing.T, d *deployment) {
	start := time.Now()
	us := sites[1]
	d.probers[us.id].stop(syscall.SIGKILL, time.Second)
	n := d.hooks.waitNotification(t, start, 20*time.Second, "vantage missing", firing("vantage_missing"))
	if !slices.Equal(n.Vantages, []string{us.id}) {
		t.Errorf("missing vantages %v, want [%s]", n.Vantages, us.id)
	}
	time.Sleep(5 * time.Second)
	for _, n := range d.hooks.since(start) {
		if n.Type != "vantage_missing" {
			t.Errorf("a dead prober raised an endpoint alert: %s", n.Summary)
		}
	}
	d.restarted[us.id] = true
	d.startProber(us)
	d.hooks.waitNotification(t, start, 30*time.Second, "vantage back", func(n notification) bool {
		return n.Type == "vantage_missing" && n.Status == "resolved"
	})
	d.settle(30 * time.Second)
}

func regionBlackholed(t *testing.T, d *deployment) {
	start := time.Now()
	ap := d.topo.nodes["r-ap-south"]
	ap.IP("route", "add", "blackhole", targetAddr+"/32")
	n := d.hooks.waitNotification(t, start, 30*time.Second, "regional alert", firing("regional_reachability"))
	if !slices.Equal(n.Regions, []string{"ap-south"}) || n.Severity == "page" {
		t.Errorf("regional alert %+v", n)
	}
	time.Sleep(5 * time.Second)
	ap.IP("route", "del", "blackhole", targetAddr+"/32")
	d.noPage(start)
	d.settle(30 * time.Second)
}

func detour(t *testing.T, d *deployment) {
	start := time.Now()
	d.topo.links["detour"].SetDirection(0, linkemu.Conditions{Delay: 80 * time.Millisecond})
	d.topo.detourAP(true)
	n := d.hooks.waitNotification(t, start, 45*time.Second, "detour alert", firing("path_detour"))
	if len(n.Details.NewASNs) != 1 || n.Details.NewASNs[0].ASN != 64666 || n.Details.NewASNs[0].Name != "DETOUR-NET" {
		t.Errorf("detour names %+v, want AS64666 DETOUR-NET", n.Details.NewASNs)
	}
	if n.Details.ExtraMS < 60 || n.Details.ExtraMS > 120 {
		t.Errorf("detour adds %.0f ms, want about 80", n.Details.ExtraMS)
	}
	if !strings.Contains(n.Summary, "AS64666") {
		t.Errorf("summary %q does not name the AS", n.Summary)
	}
	d.topo.detourAP(false)
	d.settle(45 * time.Second)
}

func slowTarget(t *testing.T, d *deployment) {
	start := time.Now()
	d.target.setDelay(150 * time.Millisecond)
	n := d.hooks.waitNotification(t, start, 60*time.Second, "latency alert", firing("latency"))
	if n.Phase != "first byte" {
		t.Errorf("latency alert blames %q, want first byte: %s", n.Phase, n.Summary)
	}
	d.target.setDelay(0)
	d.settle(60 * time.Second)
}

func dnsDown(t *testing.T, d *deployment) {
	start := time.Now()
	d.target.stopDNS()
	n := d.hooks.waitNotification(t, start, 30*time.Second, "DNS outage", func(n notification) bool {
		return n.Status == "firing" && n.Type == "reachability" && n.Layer == "dns"
	})
	if n.Severity != "page" || len(n.Regions) < 2 {
		t.Errorf("DNS outage %+v", n)
	}
	// The DNS check itself pages too: it cannot reach the server (it says
	// connect/refused, which is not the REFUSED rcode).
	d.hooks.waitNotification(t, start, 30*time.Second, "DNS check outage", func(n notification) bool {
		return n.Status == "firing" && n.DedupKey == "reachability/shop-team/shop/dns" && n.Severity == "page"
	})
	d.target.startDNS()
	d.settle(30 * time.Second)
}

func certExpiring(t *testing.T, d *deployment) {
	start := time.Now()
	d.target.useCert(3 * 24 * time.Hour)
	n := d.hooks.waitNotification(t, start, 30*time.Second, "certificate alert", firing("cert_expiry"))
	if !strings.Contains(n.Summary, "expires in") {
		t.Errorf("cert alert %q", n.Summary)
	}
	d.target.useCert(90 * 24 * time.Hour)
	d.settle(30 * time.Second)
	for _, n := range d.hooks.since(start) {
		if n.Type == "reachability" || n.Type == "regional_reachability" {
			t.Errorf("an expiring (still valid) certificate raised %s", n.Summary)
		}
	}
}

func targetDown(t *testing.T, d *deployment) {
	start := time.Now()
	d.topo.links["target"].Set(linkemu.Conditions{Loss: 1})
	n := d.hooks.waitNotification(t, start, 30*time.Second, "outage page", func(n notification) bool {
		return n.Status == "firing" && n.Type == "reachability" && n.Severity == "page"
	})
	if len(n.Regions) < 2 {
		t.Errorf("paged with %v, fewer regions than the quorum", n.Regions)
	}
	// Every region loses the target: the open outages, together, name all
	// three (one check may still be between its failures somewhere).
	waitFor(t, "open outages naming all three regions", 30*time.Second, func() bool {
		seen := map[string]bool{}
		for _, a := range d.openAlerts() {
			if a.Type == alerting.TypeOutage {
				for _, r := range a.Regions {
					seen[r] = true
				}
			}
		}
		return len(seen) == 3
	})
	d.topo.links["target"].Set(linkemu.Conditions{})
	d.settle(45 * time.Second)
}

// primaryCollectorDown makes the primary address refuse for a while: the
// probers fail over to the secondary and come back, and afterwards the
// store holds exactly the results the probers made, no fewer and no more.
func primaryCollectorDown(t *testing.T, d *deployment) {
	coll := d.topo.nodes["collector"]
	rule := []string{"INPUT", "-d", collectorA, "-p", "tcp", "--dport", collectorPort, "-j", "REJECT", "--reject-with", "tcp-reset"}
	coll.Iptables(false, append([]string{"-A"}, rule...)...)
	time.Sleep(20 * time.Second)
	coll.Iptables(false, append([]string{"-D"}, rule...)...)
	for _, s := range sites {
		if got := d.proberMetric(s, "picket_prober_collector_requests_total", collectorB); got == 0 {
			t.Errorf("%s never used the secondary collector", s.id)
		}
	}

	// Stop probing, let the spools drain, then count. The collector
	// accepts results only for registered checks: what is still spooled
	// when the endpoints are deleted, and what runs that had started
	// make, is rejected on delivery and dropped by the probers.
	empty := filepath.Join(d.dir, "empty.yaml")
	write(t, empty, "endpoints: []\n")
	base := "http://" + collectorA + ":" + collectorPort
	cli(t, coll, d.dir, "endpoints", "apply", "-f", empty, "--collector", base, "--token", d.teamTok)
	for _, s := range sites {
		waitFor(t, s.id+" idle and drained", 60*time.Second, func() bool {
			return d.proberMetric(s, "picket_prober_checks_assigned") == 0 &&
				d.proberMetric(s, "picket_prober_spool_records") == 0
		})
	}
	time.Sleep(3 * time.Second) // a run that started before the unassignment
	for _, s := range sites {
		if d.restarted[s.id] {
			continue
		}
		made := d.proberMetric(s, "picket_prober_checks_run_total")
		stored := d.storedResults(s.id)
		rejected := d.proberMetric(s, "picket_prober_results_dropped_total", `reason="rejected"`)
		t.Logf("%s: %v results made, %v stored, %v rejected after the endpoints were deleted", s.id, made, stored, rejected)
		if made == 0 || stored+rejected != made {
			t.Errorf("%s: made %v results, the collector stored %v and rejected %v", s.id, made, stored, rejected)
		}
	}
}

// openAlerts lists the team's open alerts through the API.
func (d *deployment) openAlerts() []alerting.Alert {
	d.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+collectorA+":"+collectorPort+"/v1/alerts", nil)
	req.Header.Set("Authorization", "Bearer "+d.teamTok)
	resp, err := d.api.Do(req)
	if err != nil {
		d.t.Logf("GET /v1/alerts: %v", err)
		return nil
	}
	defer resp.Body.Close()
	var out struct {
		Alerts []alerting.Alert `json:"alerts"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		d.t.Logf("GET /v1/alerts: %v", err)
	}
	var open []alerting.Alert
	for _, a := range out.Alerts {
		if a.Open() {
			open = append(open, a)
		}
	}
	return open
}

// storedResults counts the results the collector stored for a vantage,
// from the availability report by vantage (rollup counts, which ingest
// updates once per new record id).
func (d *deployment) storedResults(vantage string) float64 {
	d.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+collectorA+":"+collectorPort+"/v1/reports/availability?by=vantage&since=2h", nil)
	req.Header.Set("Authorization", "Bearer "+d.teamTok)
	resp, err := d.api.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	var report struct {
		Rows []results.AvailabilityRow `json:"rows"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&report); err != nil {
		d.t.Fatal(err)
	}
	var n float64
	for _, r := range report.Rows {
		if r.Group == vantage {
			n += float64(r.Results)
		}
	}
	return n
}
