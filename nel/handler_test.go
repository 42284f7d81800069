package nel

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/picketnet/picket/netpath"
	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/results/sqlite"
	"github.com/picketnet/picket/results/sqlite/sqlitetest"
)

type fixture struct {
	store *sqlite.Store
	h     *Handler
	now   time.Time
}

func newFixture(t *testing.T, opt Options) *fixture {
	t.Helper()
	f := &fixture{store: sqlitetest.Open(t), now: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)}
	register(t, f.store, "pay", "checkout-api", "https://api.example.com/health")
	register(t, f.store, "pay", "checkout-web", "https://www.example.com")
	register(t, f.store, "ops", "resolver", "dns.example.net")
	opt.Store, opt.Endpoints = f.store, f.store
	if opt.ASN == nil {
		opt.ASN = &netpath.Resolver{Table: asnTable(t)}
	}
	opt.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	opt.Now = func() time.Time { return f.now }
	h, err := NewHandler(opt)
	if err != nil {
		t.Fatal(err)
	}
	f.h = h
	return f
}

// post sends body as client and returns the status and decoded answer.
func (f *fixture) post(t *testing.T, client, body string, hdr ...string) (int, map[string]any, http.Header) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "https://collector.picket-a.example/v1/reports/nel?endpoint=checkout-api", strings.NewReader(body))
	r.RemoteAddr = client
	r.Header.Set("Content-Type", "application/reports+json")
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	var ans map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &ans); err != nil {
		t.Fatalf("answer %d is not JSON: %q", w.Code, w.Body.String())
	}
	return w.Code, ans, w.Header()
}

func (f *fixture) stored(t *testing.T) []results.NELReport {
	t.Helper()
	rs, err := f.store.NELReports(context.Background(), results.NELQuery{})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// report is a valid report with the given body fields replaced.
func report(url string, body map[string]any) map[string]any {
	b := map[string]any{
		"elapsed_time": 48, "method": "GET", "phase": "connection", "protocol": "h2",
		"referrer": "", "sampling_fraction": 1.0, "server_ip": "192.0.2.10", "status_code": 0,
		"type": "tcp.timed_out",
	}
	for k, v := range body {
		if v == nil {
			delete(b, k)
		} else {
			b[k] = v
		}
	}
	return map[string]any{
		"age": 1500, "type": "network-error", "url": url, "body": b,
		"user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.86 Safari/537.36 Edg/131.0.2903.70",
	}
}

func envelope(t testing.TB, rs ...any) string {
	t.Helper()
	b, err := json.Marshal(rs)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A valid report is stored with the privacy rules applied: the client's
// address only as its AS, country and /24; the origin only for a
// connection-phase failure; the browser family and major version.
func TestStoresReportsPrivately(t *testing.T) {
	f := newFixture(t, Options{})
	body := envelope(t,
		report("https://user:pw@API.example.com:443/pay/card?number=4111#frag", nil),
		report("https://www.example.com/basket/items?id=7", map[string]any{
			"phase": "application", "type": "http.error", "status_code": 503, "sampling_fraction": 0.25,
		}))
	code, ans, hdr := f.post(t, "198.51.100.77:51234", body)
	if code != http.StatusOK || ans["accepted"] != 2.0 {
		t.Fatalf("got %d %v, want 200 with 2 accepted", code, ans)
	}
	if hdr.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("POST answer lacks CORS: %v", hdr)
	}
	got := f.stored(t)
	if len(got) != 2 {
		t.Fatalf("stored %d reports, want 2", len(got))
	}
	byEndpoint := map[string]results.NELReport{}
	for _, r := range got {
		byEndpoint[r.Endpoint] = r
	}
	want := results.NELReport{
		ReceivedAt: f.now, OccurredAt: f.now.Add(-1500 * time.Millisecond),
		Team: "pay", Endpoint: "checkout-api", URL: "https://api.example.com/",
		Phase: "connection", Type: "tcp.timed_out", SamplingFraction: 1, ElapsedMS: 48,
		ServerIP: "192.0.2.10", Protocol: "h2", Method: "GET",
		ClientASN: 3320, ClientCountry: "DE", ClientPrefix: "198.51.100.0/24", Browser: "Edge 131",
	}
	if byEndpoint["checkout-api"] != want {
		t.Errorf("stored\n %+v\nwant\n %+v", byEndpoint["checkout-api"], want)
	}
	web := byEndpoint["checkout-web"]
	if web.URL != "https://www.example.com/basket/items" || web.StatusCode != 503 || web.Team != "pay" || web.Weight() != 4 {
		t.Errorf("application report stored as %+v: want path kept, query dropped, status 503, weight 4", web)
	}
	for _, r := range got {
		for _, leak := range []string{"198.51.100.77", "4111", "number", "frag", "pw", "Windows", "6778"} {
			if strings.Contains(fmt.Sprintf("%+v", r), leak) {
				t.Errorf("stored report keeps %q: %+v", leak, r)
			}
		}
	}
}

func TestClientNetwork(t *testing.T) {
	tests := []struct {
		name, remote, xff string
		trusted           []netip.Prefix
		prefix            string
		asn               uint32
	}{
		{"ipv4", "203.0.113.9:443", "", nil, "203.0.113.0/24", 7922},
		{"ipv6", "[2001:db8:1234:5678::1]:443", "", nil, "2001:db8:1234::/48", 3320},
		{"mapped", "[::ffff:198.51.100.1]:1", "", nil, "198.51.100.0/24", 3320},
		{"untrusted proxy header ignored", "203.0.113.9:443", "198.51.100.1", nil, "203.0.113.0/24", 7922},
		{"trusted proxy", "10.0.0.2:443", "198.51.100.1, 10.0.0.3", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, "198.51.100.0/24", 3320},
		{"unannounced", "192.0.2.1:443", "", nil, "192.0.2.0/24", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Options{TrustedProxies: tt.trusted})
			var hdr []string
			if tt.xff != "" {
				hdr = []string{"X-Forwarded-For", tt.xff}
			}
			if code, ans, _ := f.post(t, tt.remote, envelope(t, report("https://api.example.com/", nil)), hdr...); code != http.StatusOK {
				t.Fatalf("got %d %v", code, ans)
			}
			r := f.stored(t)[0]
			if r.ClientPrefix != tt.prefix || r.ClientASN != tt.asn {
				t.Errorf("client network %s AS%d, want %s AS%d", r.ClientPrefix, r.ClientASN, tt.prefix, tt.asn)
			}
		})
	}
}

// Bad input answers 4xx with a JSON error naming the field, and stores
// nothing, also when only one report of many is wrong.
func TestRejectsInvalid(t *testing.T) {
	good := report("https://api.example.com/", nil)
	tests := []struct {
		name  string
		body  string
		ctype string
		code  int
		field string
	}{
		{"not json", `[{"age":`, "", 400, ""},
		{"object not array", `{"age":1}`, "", 400, ""},
		{"empty", `[]`, "", 400, ""},
		{"wrong report type", envelope(t, good, map[string]any{"age": 1, "type": "csp-violation", "url": "https://api.example.com/", "body": map[string]any{}}), "", 400, "reports[1].type"},
		{"missing body", envelope(t, map[string]any{"age": 1, "type": "network-error", "url": "https://api.example.com/"}), "", 400, "reports[0].body"},
		{"negative age", envelope(t, func() any { r := report("https://api.example.com/", nil); r["age"] = -5; return r }()), "", 400, "reports[0].age"},
		{"age as string", envelope(t, func() any { r := report("https://api.example.com/", nil); r["age"] = "5"; return r }()), "", 400, "reports[0].age"},
		{"ancient", envelope(t, func() any { r := report("https://api.example.com/", nil); r["age"] = 8 * 24 * 3600 * 1000; return r }()), "", 400, "reports[0].age"},
		{"ftp url", envelope(t, report("ftp://api.example.com/", nil)), "", 400, "reports[0].url"},
		{"relative url", envelope(t, report("/health", nil)), "", 400, "reports[0].url"},
		{"bad phase", envelope(t, report("https://api.example.com/", map[string]any{"phase": "tcp"})), "", 400, "reports[0].body.phase"},
		{"missing phase", envelope(t, report("https://api.example.com/", map[string]any{"phase": nil})), "", 400, "reports[0].body.phase"},
		{"unknown type", envelope(t, report("https://api.example.com/", map[string]any{"type": "tcp.exploded"})), "", 400, "reports[0].body.type"},
		{"type in wrong phase", envelope(t, report("https://api.example.com/", map[string]any{"type": "dns.name_not_resolved"})), "", 400, "reports[0].body.type"},
		{"sampling zero", envelope(t, report("https://api.example.com/", map[string]any{"sampling_fraction": 0})), "", 400, "reports[0].body.sampling_fraction"},
		{"sampling above one", envelope(t, report("https://api.example.com/", map[string]any{"sampling_fraction": 1.5})), "", 400, "reports[0].body.sampling_fraction"},
		{"missing sampling", envelope(t, report("https://api.example.com/", map[string]any{"sampling_fraction": nil})), "", 400, "reports[0].body.sampling_fraction"},
		{"elapsed negative", envelope(t, report("https://api.example.com/", map[string]any{"elapsed_time": -1})), "", 400, "reports[0].body.elapsed_time"},
		{"server ip", envelope(t, report("https://api.example.com/", map[string]any{"server_ip": "example.com"})), "", 400, "reports[0].body.server_ip"},
		{"protocol", envelope(t, report("https://api.example.com/", map[string]any{"protocol": "HTTP 1.1 <script>"})), "", 400, "reports[0].body.protocol"},
		{"status fraction", envelope(t, report("https://api.example.com/", map[string]any{"phase": "application", "type": "http.error", "status_code": 500.5})), "", 400, "reports[0].body.status_code"},
		{"status out of range", envelope(t, report("https://api.example.com/", map[string]any{"status_code": 700})), "", 400, "reports[0].body.status_code"},
		{"http.error without status", envelope(t, report("https://api.example.com/", map[string]any{"phase": "application", "type": "http.error", "status_code": 200})), "", 400, "reports[0].body.status_code"},
		{"method", envelope(t, report("https://api.example.com/", map[string]any{"method": "get me"})), "", 400, "reports[0].body.method"},
		{"headers not object", envelope(t, report("https://api.example.com/", map[string]any{"request_headers": "x"})), "", 400, "reports[0].body.request_headers"},
		{"content type", envelope(t, good), "text/plain", 415, ""},
	}
	// One collector for all: none of the requests may store anything.
	f := newFixture(t, Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.ctype != "" {
				hdr = []string{"Content-Type", tt.ctype}
			}
			code, ans, _ := f.post(t, "198.51.100.1:1", tt.body, hdr...)
			if code != tt.code {
				t.Fatalf("got %d %v, want %d", code, ans, tt.code)
			}
			if msg, _ := ans["error"].(string); msg == "" || strings.Contains(msg, "\n") {
				t.Errorf("error %q is not one line", msg)
			}
			if field, _ := ans["field"].(string); field != tt.field {
				t.Errorf("field %q, want %q (error %v)", field, tt.field, ans["error"])
			}
			if n := len(f.stored(t)); n != 0 {
				t.Errorf("stored %d reports from a rejected request", n)
			}
		})
	}
}

// The abuse limits of the public endpoint: body size, reports per
// request, the per-network rate limit, unregistered origins.
func TestAbuseLimits(t *testing.T) {
	one := report("https://api.example.com/", nil)
	many := func(n int) string {
		rs := make([]any, n)
		for i := range rs {
			rs[i] = one
		}
		return envelope(t, rs...)
	}

	t.Run("body size", func(t *testing.T) {
		f := newFixture(t, Options{MaxBodyBytes: 4096})
		body := many(20)
		if len(body) <= 4096 {
			t.Fatalf("test body of %d bytes is not over the limit", len(body))
		}
		code, ans, _ := f.post(t, "198.51.100.1:1", body)
		if code != http.StatusRequestEntityTooLarge || ans["code"] != "too_large" {
			t.Errorf("got %d %v, want 413 too_large", code, ans)
		}
		// Without a Content-Length the reader stops at the limit too.
		r := httptest.NewRequest(http.MethodPost, "/v1/reports/nel", io.MultiReader(strings.NewReader(body)))
		r.ContentLength = -1
		r.RemoteAddr = "198.51.100.1:1"
		r.Header.Set("Content-Type", "application/reports+json")
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, r)
		if w.Code != http.StatusRequestEntityTooLarge {
			t.Errorf("chunked oversize body: got %d %s", w.Code, w.Body)
		}
		if n := len(f.stored(t)); n != 0 {
			t.Errorf("stored %d", n)
		}
	})

	t.Run("reports per request", func(t *testing.T) {
		f := newFixture(t, Options{MaxReports: 10})
		code, ans, _ := f.post(t, "198.51.100.1:1", many(11))
		if code != http.StatusRequestEntityTooLarge || !strings.Contains(ans["error"].(string), "at most 10") {
			t.Errorf("got %d %v, want 413 naming the limit", code, ans)
		}
		if code, _, _ := f.post(t, "198.51.100.1:1", many(10)); code != http.StatusOK {
			t.Errorf("10 reports: got %d, want 200", code)
		}
	})

	t.Run("rate per client network", func(t *testing.T) {
		f := newFixture(t, Options{RatePerSecond: 1, Burst: 100, MaxReports: 50})
		for i := range 2 {
			if code, ans, _ := f.post(t, fmt.Sprintf("198.51.100.%d:1", 10+i), many(50)); code != http.StatusOK {
				t.Fatalf("request %d: %d %v", i, code, ans)
			}
		}
		// Another address of the same /24 shares the bucket.
		code, ans, hdr := f.post(t, "198.51.100.99:1", many(1))
		if code != http.StatusTooManyRequests || hdr.Get("Retry-After") == "" || ans["code"] != "rate_limited" {
			t.Fatalf("got %d %v %v, want 429 with Retry-After", code, ans, hdr)
		}
		// Another network is not affected.
		if code, _, _ := f.post(t, "203.0.113.1:1", many(1)); code != http.StatusOK {
			t.Errorf("other network: got %d, want 200", code)
		}
		// The bucket refills with time.
		f.now = f.now.Add(5 * time.Second)
		if code, ans, _ := f.post(t, "198.51.100.99:1", many(4)); code != http.StatusOK {
			t.Errorf("after refill: got %d %v", code, ans)
		}
		if n := len(f.stored(t)); n != 105 {
			t.Errorf("stored %d reports, want 105", n)
		}
	})

	t.Run("unregistered origin", func(t *testing.T) {
		f := newFixture(t, Options{})
		code, ans, _ := f.post(t, "198.51.100.1:1", envelope(t, report("https://evil.example.org/", nil)))
		if code != http.StatusForbidden || !strings.Contains(ans["error"].(string), "https://evil.example.org") {
			t.Errorf("got %d %v, want 403 naming the origin", code, ans)
		}
		// Same host, other port or scheme: another origin.
		for _, u := range []string{"https://api.example.com:8443/", "http://api.example.com/"} {
			if code, ans, _ := f.post(t, "198.51.100.1:1", envelope(t, report(u, nil))); code != http.StatusForbidden {
				t.Errorf("%s: got %d %v, want 403", u, code, ans)
			}
		}
		// A mixed request keeps the registered reports and names the rest.
		code, ans, _ = f.post(t, "198.51.100.1:1", envelope(t, report("https://evil.example.org/", nil), one))
		rej, _ := ans["rejected"].([]any)
		if code != http.StatusOK || ans["accepted"] != 1.0 || len(rej) != 1 || rej[0].(map[string]any)["index"] != 0.0 {
			t.Errorf("mixed: got %d %v", code, ans)
		}
		// A bare host target registers its https and http origins.
		if code, ans, _ := f.post(t, "198.51.100.1:1", envelope(t, report("http://dns.example.net/x", nil))); code != http.StatusOK {
			t.Errorf("bare host target: got %d %v", code, ans)
		}
		if n := len(f.stored(t)); n != 2 {
			t.Errorf("stored %d, want 2", n)
		}
	})

	t.Run("limiter table is bounded", func(t *testing.T) {
		l := newLimiter(1, 10, 100)
		now := time.Now()
		for i := range 1000 {
			l.take(fmt.Sprintf("net-%d", i), 5, now)
		}
		if len(l.buckets) > 100 {
			t.Errorf("limiter remembers %d networks, cap 100", len(l.buckets))
		}
	})
}

func TestCORSPreflight(t *testing.T) {
	f := newFixture(t, Options{})
	r := httptest.NewRequest(http.MethodOptions, "/v1/reports/nel", nil)
	r.Header.Set("Origin", "https://www.example.com")
	r.Header.Set("Access-Control-Request-Method", "POST")
	r.Header.Set("Access-Control-Request-Headers", "content-type")
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	h := w.Header()
	if w.Code != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), "content-type") {
		t.Errorf("preflight answered %d %v", w.Code, h)
	}
	r = httptest.NewRequest(http.MethodGet, "/v1/reports/nel", nil)
	w = httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	if w.Code != http.StatusMethodNotAllowed || !strings.Contains(w.Body.String(), `"error"`) {
		t.Errorf("GET answered %d %s", w.Code, w.Body)
	}
}

// Envelopes recorded from Chromium 156 (see TestChromiumReports) are
// accepted as they are.
func TestRecordedChromiumEnvelopes(t *testing.T) {
	files, _ := filepath.Glob("testdata/chromium-*.json")
	if len(files) == 0 {
		t.Fatal("no recorded envelopes in testdata")
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		reports, err := Parse(data, 100)
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		for _, r := range reports {
			if r.UserAgent == "" || r.Body.SamplingFraction != 1 || !r.Body.ServerIP.IsValid() || r.Body.Protocol != "http/1.1" {
				t.Errorf("%s: parsed %+v", file, r)
			}
		}
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := newFixture(t, Options{Metrics: reg})
	f.post(t, "198.51.100.1:1", envelope(t, report("https://api.example.com/", nil)))
	f.post(t, "198.51.100.1:1", `[`)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			got[mf.GetName()+"/"+m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	if got["picket_nel_reports_total/stored"] != 1 || got["picket_nel_requests_rejected_total/invalid"] != 1 {
		t.Errorf("metrics %v", got)
	}
}

// A team that registers an endpoint on another team's origin must not
// receive that team's client reports: when several teams registered an
// origin, a report goes to the endpoint its URL names (?endpoint=), and
// is refused when it names none of theirs. Before, it went to the team
// whose name sorts first.
func TestSharedOriginNotGivenToAnotherTeam(t *testing.T) {
	f := newFixture(t, Options{})
	register(t, f.store, "aaa", "squat", "https://api.example.com/other") // pay's checkout-api origin
	tests := []struct {
		query      string
		url        string
		status     int
		team, name string // where it is stored
	}{
		{"?endpoint=checkout-api", "https://api.example.com/health", http.StatusOK, "pay", "checkout-api"},
		{"", "https://api.example.com/health", http.StatusForbidden, "", ""},
		{"?endpoint=nope", "https://api.example.com/health", http.StatusForbidden, "", ""},
		{"?endpoint=checkout-web", "https://api.example.com/health", http.StatusForbidden, "", ""}, // pay's, but on another origin
		{"?endpoint=squat", "https://api.example.com/x", http.StatusOK, "aaa", "squat"},
		{"", "https://www.example.com/", http.StatusOK, "pay", "checkout-web"}, // one team's origin: no name needed
	}
	for i, tt := range tests {
		t.Run(tt.query+" "+tt.url, func(t *testing.T) {
			count := func(rs []results.NELReport) int {
				n := 0
				for _, r := range rs {
					if r.Team == tt.team && r.Endpoint == tt.name {
						n++
					}
				}
				return n
			}
			all := f.stored(t)
			before, beforeHere := len(all), count(all)
			r := httptest.NewRequest(http.MethodPost, "https://collector.picket-a.example/v1/reports/nel"+tt.query,
				strings.NewReader(envelope(t, report(tt.url, nil))))
			r.RemoteAddr = fmt.Sprintf("192.0.2.%d:5000", 10+i)
			r.Header.Set("Content-Type", "application/reports+json")
			w := httptest.NewRecorder()
			f.h.ServeHTTP(w, r)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body.String())
			}
			rs := f.stored(t)
			if tt.team == "" {
				if len(rs) != before {
					t.Fatalf("refused, yet %d reports stored", len(rs)-before)
				}
				if !strings.Contains(w.Body.String(), "origin https://api.example.com") {
					t.Errorf("the refusal does not name the origin: %s", w.Body.String())
				}
				return
			}
			if len(rs) != before+1 || count(rs) != beforeHere+1 {
				t.Errorf("%d reports stored, %d of them for %s/%s; want 1 for it", len(rs)-before, count(rs)-beforeHere, tt.team, tt.name)
			}
		})
	}
}
