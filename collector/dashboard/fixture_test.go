package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/picketnet/picket/alerting"
	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/results/sqlite"
	"github.com/picketnet/picket/vantage"
)

// The fixed data set every test of this package reads. Its numbers are
// worked out by hand in the comments; the tests assert them.
//
// Regions and vantages:
//
//	eu-central: eu-a, eu-b, eu-c   us-east: us-a, us-b
//	ap-south:   ap-a               sa-east: sa-a (enrolled, never heard from)
//
// In the heat-map window (the last 5 minutes), three http results per
// vantage:
//
//	payments/checkout-api (all regions):
//	  eu-a fails connect/refused, eu-b and eu-c succeed -> eu-central degraded (1 of 3)
//	  us-a and us-b fail tls/cert_expired              -> us-east down (2 of 2)
//	  ap-a succeeds                                    -> ap-south up
//	  nothing from sa-a                                -> sa-east no data
//	payments/ledger (eu-central, us-east only):
//	  eu-* succeed -> up; us-a succeeds, us-b fails http/status -> us-east degraded (1 of 2)
//	  ap-south, sa-east: not probed
//	search/search-api (all regions): every vantage fails dns/nxdomain -> down
//
// History of checkout-api/http: from eu-b, us-a and ap-a, two successful
// results every 15 minutes (the second 80% slower) from 10 minutes to 22.75
// hours ago (182 each), and one failed result of us-a three days ago. With
// us-a's six successful traceroutes, us-east has over 24h 182+3+3+6 = 194
// results of which 6 failed: 96.91%; over 7d and 30d 195 results, 7
// failed: 96.41%.
//
// Traceroutes of checkout-api: eu-a crossed AS64500 AS3356 AS13335 five
// times, then (20 minutes ago) AS64500 * AS174 AS13335: a detour through
// AS174. us-a crossed AS64501 AS3356 AS13335 five times, then AS64501 *
// AS13335: silent hops are no change, so no detour.
var fixtureNow = time.Date(2026, 11, 21, 12, 0, 30, 0, time.UTC)

const (
	adminToken    = "pka_admin-token-for-tests"
	paymentsToken = "pkt_payments-token-for-tests"
	searchToken   = "pkt_search-token-for-tests"
)

type fixture struct {
	store  *sqlite.Store
	dash   *Dashboard
	alerts *alerting.Service
}

// seeded is the fixture's database, seeded once per test binary; every
// test opens its own copy.
var seeded struct {
	once sync.Once
	dir  string
	ok   bool
}

func TestMain(m *testing.M) {
	code := m.Run()
	if seeded.dir != "" {
		os.RemoveAll(seeded.dir)
	}
	os.Exit(code)
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	seeded.once.Do(func() {
		dir, err := os.MkdirTemp("", "picket-dashboard-fixture-")
		must(t, err)
		seeded.dir = dir
		st, err := sqlite.Open(ctx, filepath.Join(dir, "picket.db"))
		must(t, err)
		seed(t, st)
		seedAlerts(t, st)
		seedNEL(t, st)
		must(t, st.Close())
		seeded.ok = true
	})
	if !seeded.ok {
		t.Fatal("seeding the fixture failed in an earlier test")
	}
	path := filepath.Join(t.TempDir(), "picket.db")
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(filepath.Join(seeded.dir, "picket.db"+suffix))
		if errors.Is(err, fs.ErrNotExist) && suffix != "" {
			continue
		}
		must(t, err)
		must(t, os.WriteFile(path+suffix, b, 0o600))
	}
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	al := alerting.NewService(st, alerting.Config{}, nil, alerting.Options{Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return fixtureNow }})
	d, err := New(Options{Store: st, Alerts: al, AdminToken: adminToken, HeartbeatEvery: 30 * time.Second,
		Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return fixtureNow }})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{store: st, dash: d, alerts: al}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func seed(t testing.TB, st *sqlite.Store) {
	ctx := context.Background()
	now := fixtureNow
	for name, token := range map[string]string{"payments": paymentsToken, "search": searchToken} {
		must(t, st.CreateTeam(ctx, results.Team{Name: name, TokenHash: vantage.HashToken(token), CreatedAt: now.Add(-48 * time.Hour)}))
	}
	type vt struct {
		id, region, provider string
		asn                  uint32
		heartbeat            time.Duration // how long ago; 0 = never
	}
	vts := []vt{
		{"eu-a", "eu-central", "hetzner", 24940, 10 * time.Second},
		{"eu-b", "eu-central", "ovh", 16276, 10 * time.Second},
		{"eu-c", "eu-central", "aws", 16509, 12 * time.Minute}, // stale: 3 × 30 s without heartbeat
		{"us-a", "us-east", "aws", 14618, 5 * time.Second},
		{"us-b", "us-east", "gcp", 15169, 20 * time.Second},
		{"ap-a", "ap-south", "vultr", 20473, 15 * time.Second},
		{"sa-a", "sa-east", "aws", 16509, 0},
	}
	region := map[string]vt{}
	for i, v := range vts {
		must(t, st.CreateVantage(ctx, results.Vantage{ID: v.id, Region: v.region, Provider: v.provider, ASN: v.asn,
			TokenHash: vantage.HashToken(fmt.Sprintf("pkv_%d", i)), CreatedAt: now.Add(-72 * time.Hour)}))
		if v.heartbeat > 0 {
			must(t, st.RecordHeartbeat(ctx, results.Heartbeat{Vantage: v.id, At: now.Add(-v.heartbeat), Every: 30 * time.Second,
				Version: "v1.2." + fmt.Sprint(i), SpoolDepth: int64(i * 7), Running: 3}))
		}
		region[v.id] = v
	}
	endpoint := func(team, name, target string, regions []string, kinds ...string) {
		var checks []json.RawMessage
		for _, k := range kinds {
			checks = append(checks, json.RawMessage(fmt.Sprintf(`{"kind":%q,"interval":"30s"}`, k)))
		}
		must(t, st.PutEndpoint(ctx, results.Endpoint{Team: team, Name: name, Target: target, Checks: checks, Regions: regions, UpdatedAt: now}))
	}
	endpoint("payments", "checkout-api", "https://checkout.example.com/health", []string{"all"}, "http", "traceroute")
	endpoint("payments", "ledger", "https://ledger.example.com/", []string{"eu-central", "us-east"}, "http")
	endpoint("search", "search-api", "https://search.example.net/", []string{"all"}, "http")

	var rs []results.Result
	add := func(team, ep, kind, v string, at time.Time, fail *results.Error, dur float64, details any) {
		id, err := uuid.NewV7()
		must(t, err)
		r := results.Result{ID: id.String(), Team: team, Endpoint: ep, Check: ep + "/" + kind, Kind: kind, Vantage: v,
			Region: region[v].region, Provider: region[v].provider, ASN: region[v].asn, Target: "https://" + ep + ".example/",
			StartedAt: at, DurationMS: dur, OK: fail == nil, Error: fail}
		if kind == "http" && fail == nil {
			r.Phases = results.Phases{DNSMS: dur * 0.1, ConnectMS: dur * 0.2, TLSMS: dur * 0.3, TTFBMS: dur * 0.35, TransferMS: dur * 0.05}
		}
		if details != nil {
			must(t, r.SetDetails(details))
		}
		must(t, r.Validate())
		rs = append(rs, r)
	}
	fail := func(l results.Layer, c results.Code) *results.Error {
		return &results.Error{Layer: l, Code: c, Message: fmt.Sprintf("%s failed: %s", l, c)}
	}
	for i := 1; i <= 3; i++ {
		at := now.Add(-time.Duration(i) * time.Minute)
		for _, v := range []string{"eu-a", "eu-b", "eu-c", "us-a", "us-b", "ap-a"} {
			var f *results.Error
			switch v {
			case "eu-a":
				f = fail(results.LayerConnect, results.CodeRefused)
			case "us-a", "us-b":
				f = fail(results.LayerTLS, results.CodeCertExpired)
			}
			add("payments", "checkout-api", "http", v, at, f, 120, nil)
			add("search", "search-api", "http", v, at, fail(results.LayerDNS, results.CodeNXDomain), 30, nil)
		}
		for _, v := range []string{"eu-a", "eu-b", "eu-c", "us-a", "us-b"} {
			var f *results.Error
			if v == "us-b" {
				f = fail(results.LayerHTTP, results.CodeStatus)
			}
			add("payments", "ledger", "http", v, at, f, 80, nil)
		}
	}
	for i := 0; i <= 90; i++ {
		at := now.Add(-10*time.Minute - time.Duration(i)*15*time.Minute)
		for j, v := range []string{"eu-b", "us-a", "ap-a"} {
			add("payments", "checkout-api", "http", v, at, nil, float64(40+20*j+i%7), nil)
			add("payments", "checkout-api", "http", v, at.Add(-5*time.Minute), nil, float64(40+20*j+i%7)*1.8, nil)
		}
	}
	add("payments", "checkout-api", "http", "us-a", now.Add(-72*time.Hour), fail(results.LayerConnect, results.CodeTimeout), 10000, nil)

	names := map[uint32]string{64500: "EXAMPLE-HOSTING", 64501: "EXAMPLE-CLOUD", 3356: "LEVEL3", 13335: "CLOUDFLARENET", 174: "COGENT-174"}
	trace := func(v string, at time.Time, rtt float64, path ...uint32) {
		det := results.TracerouteDetails{Mode: "udp", Reached: true, ASPath: path, RTTMS: rtt}
		for i, a := range path {
			h := results.Hop{TTL: i + 1, Sent: 3}
			if a != 0 {
				h.Addr = fmt.Sprintf("192.0.2.%d", i+1)
				h.RTTMS = []float64{rtt * float64(i+1) / float64(len(path))}
				h.ASN, h.ASName = a, names[a]
			}
			det.Hops = append(det.Hops, h)
		}
		add("payments", "checkout-api", "traceroute", v, at, nil, rtt*3, det)
	}
	for i := 2; i <= 6; i++ {
		trace("eu-a", now.Add(-time.Duration(i)*time.Hour), 20, 64500, 3356, 13335)
		trace("us-a", now.Add(-time.Duration(i)*time.Hour), 30, 64501, 3356, 13335)
	}
	trace("eu-a", now.Add(-20*time.Minute), 48, 64500, 0, 174, 13335)
	trace("us-a", now.Add(-20*time.Minute), 31, 64501, 0, 13335)

	out, err := st.Ingest(ctx, rs)
	must(t, err)
	if len(out.Accepted) != len(rs) {
		t.Fatalf("ingested %d of %d results", len(out.Accepted), len(rs))
	}
}

// seedAlerts records the fixture's alerts in the store as the alerting
// service does, and adds its silences through the service.
func seedAlerts(t testing.TB, st *sqlite.Store) {
	ctx := context.Background()
	now := fixtureNow
	svc := alerting.NewService(st, alerting.Config{}, nil, alerting.Options{Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }})
	fx := struct {
		alerts   []alerting.Alert
		silences []alerting.Silence
	}{
		alerts: []alerting.Alert{
			{Key: "path_detour/payments/checkout-api/eu-a", Type: alerting.TypeDetour, Severity: "ticket", State: alerting.StateFiring,
				Team: "payments", Endpoint: "checkout-api", Check: "checkout-api/traceroute",
				Summary: "checkout-api: path from eu-a detours through AS174 (+28 ms)", Regions: []string{"eu-central"},
				ASNs: []uint32{24940}, Vantages: []string{"eu-a"}, NewASNs: []alerting.ASN{{Number: 174, Name: "COGENT-174"}}, ExtraMS: 28,
				StartsAt: now.Add(-15 * time.Minute), UpdatedAt: now.Add(-time.Minute)},
			{Key: "regional_reachability/payments/checkout-api/http", Type: alerting.TypeRegional, Severity: "ticket", State: alerting.StateFiring,
				Team: "payments", Endpoint: "checkout-api", Check: "checkout-api/http",
				Summary: "checkout-api unreachable from us-east: tls/cert_expired", Regions: []string{"us-east"}, Layer: "tls", Code: "cert_expired",
				StartsAt: now.Add(-3 * time.Minute), UpdatedAt: now.Add(-time.Minute)},
			{Key: "latency/payments/ledger/http/eu-b", Type: alerting.TypeLatency, Severity: "ticket", State: alerting.StateResolved,
				Team: "payments", Endpoint: "ledger", Summary: "ledger: p95 latency rose from eu-b (phase ttfb)", Phase: "ttfb",
				StartsAt: now.Add(-5 * time.Hour), ResolvedAt: now.Add(-4 * time.Hour), UpdatedAt: now.Add(-4 * time.Hour)},
			{Key: "reachability/search/search-api/http", Type: alerting.TypeOutage, Severity: "page", State: alerting.StateFiring,
				Team: "search", Endpoint: "search-api", Summary: "search-api down in 3 regions: dns/nxdomain", Regions: []string{"ap-south", "eu-central", "us-east"},
				Layer: "dns", Code: "nxdomain", StartsAt: now.Add(-2 * time.Minute), UpdatedAt: now.Add(-time.Minute)},
		},
		silences: []alerting.Silence{
			{Team: "payments", Endpoint: "ledger", StartsAt: now.Add(time.Hour), EndsAt: now.Add(3 * time.Hour), Reason: "database maintenance", Creator: "ops"},
			{Team: "search", StartsAt: now.Add(-time.Hour), EndsAt: now.Add(time.Hour), Reason: "search reindex", Creator: "search-oncall"},
		},
	}
	var recs []results.AlertRecord
	for _, a := range fx.alerts {
		body, err := json.Marshal(a)
		must(t, err)
		recs = append(recs, results.AlertRecord{Key: a.Key, StartsAt: a.StartsAt, Team: a.Team, Endpoint: a.Endpoint,
			Type: string(a.Type), Severity: string(a.Severity), State: string(a.State), UpdatedAt: a.UpdatedAt, Body: body})
	}
	must(t, st.RecordAlerts(ctx, recs, nil))
	for _, sil := range fx.silences {
		_, err := svc.AddSilence(ctx, sil.Team, sil)
		must(t, err)
	}
}
