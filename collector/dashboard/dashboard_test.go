package dashboard

import (
	"encoding/csv"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// resp is a rendered answer with its parsed document.
type resp struct {
	code int
	hdr  http.Header
	body string
	doc  *html.Node
}

func (f *fixture) get(t *testing.T, target, token string) resp {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	if token != "" {
		req.AddCookie(&http.Cookie{Name: cookieName, Value: token})
	}
	return f.do(t, req)
}

func (f *fixture) do(t *testing.T, req *http.Request) resp {
	t.Helper()
	rec := httptest.NewRecorder()
	f.dash.ServeHTTP(rec, req)
	r := resp{code: rec.Code, hdr: rec.Header(), body: rec.Body.String()}
	if strings.HasPrefix(r.hdr.Get("Content-Type"), "text/html") {
		doc, err := html.Parse(strings.NewReader(r.body))
		if err != nil {
			t.Fatalf("%s: HTML does not parse: %v", req.URL, err)
		}
		r.doc = doc
	}
	return r
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasClass(n *html.Node, class string) bool {
	return slices.Contains(strings.Fields(attr(n, "class")), class)
}

// findAll returns the elements under n for which match is true, in
// document order.
func findAll(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && match(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func tagged(tag string, kv ...string) func(*html.Node) bool {
	return func(n *html.Node) bool {
		if n.Data != tag {
			return false
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if attr(n, kv[i]) != kv[i+1] {
				return false
			}
		}
		return true
	}
}

func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
			b.WriteByte(' ')
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

// heatCell finds the heat-map cell of endpoint and region.
func heatCell(t *testing.T, doc *html.Node, endpoint, region string) *html.Node {
	t.Helper()
	rows := findAll(doc, tagged("tr", "data-endpoint", endpoint))
	if len(rows) != 1 {
		t.Fatalf("%d heat-map rows for %s", len(rows), endpoint)
	}
	cells := findAll(rows[0], tagged("td", "data-region", region))
	if len(cells) != 1 {
		t.Fatalf("%d cells for %s in %s", len(cells), endpoint, region)
	}
	return cells[0]
}

func TestOverviewCells(t *testing.T) {
	f := newFixture(t)
	r := f.get(t, "/", paymentsToken)
	if r.code != http.StatusOK {
		t.Fatalf("GET / = %d\n%s", r.code, r.body)
	}
	tests := []struct {
		endpoint, region string
		state            State
		text             string // what the cell reads
		title            string // part of the hover text
	}{
		{"checkout-api", "eu-central", StateDegraded, "◐ deg", "1 of 3 vantages failing"},
		{"checkout-api", "us-east", StateDown, "✕ down", "2 of 2 vantages failing"},
		{"checkout-api", "ap-south", StateUp, "✓ up", "0 of 1 vantages failing; 100% ok (3 results)"},
		{"checkout-api", "sa-east", StateNoData, "? n/d", "no results in the window"},
		{"ledger", "eu-central", StateUp, "✓ up", "0 of 3 vantages failing"},
		{"ledger", "us-east", StateDegraded, "◐ deg", "1 of 2 vantages failing; 50.00% ok (6 results); top error http/status"},
		{"ledger", "ap-south", StateNotProbed, "·", "not probed"},
		{"ledger", "sa-east", StateNotProbed, "·", "not probed"},
	}
	for _, tt := range tests {
		t.Run(tt.endpoint+"/"+tt.region, func(t *testing.T) {
			c := heatCell(t, r.doc, tt.endpoint, tt.region)
			if got := State(attr(c, "data-state")); got != tt.state {
				t.Errorf("state %q, want %q", got, tt.state)
			}
			if !hasClass(c, "st-"+string(tt.state)) {
				t.Errorf("class %q lacks st-%s", attr(c, "class"), tt.state)
			}
			if got := text(c); got != tt.text {
				t.Errorf("cell reads %q, want %q", got, tt.text)
			}
			if !strings.Contains(attr(c, "title"), tt.title) {
				t.Errorf("title %q does not contain %q", attr(c, "title"), tt.title)
			}
			links := findAll(c, tagged("a"))
			if tt.state == StateNotProbed {
				if len(links) != 0 {
					t.Errorf("a not-probed cell links to %s", attr(links[0], "href"))
				}
				return
			}
			want := "/endpoints/payments/" + tt.endpoint + "/regions/" + tt.region
			if len(links) != 1 || attr(links[0], "href") != want {
				t.Errorf("cell links %v, want one link to %s", links, want)
			}
		})
	}
	// The team's token shows nothing of the other team.
	for _, leak := range []string{"search-api", "search.example.net", "team search"} {
		if strings.Contains(r.body, leak) {
			t.Errorf("the payments overview shows %q", leak)
		}
	}
	if got := findAll(r.doc, tagged("th", "scope", "col", "class", "rg")); len(got) != 4 {
		t.Errorf("%d region columns, want 4", len(got))
	}
	if got := text(findAll(r.doc, func(n *html.Node) bool { return hasClass(n, "summary") })[0]); !strings.Contains(got, "2 of 2 endpoints · 1 down · 2 degraded · 1 without data") {
		t.Errorf("summary %q", got)
	}
}

func TestAdminSeesEveryTeam(t *testing.T) {
	f := newFixture(t)
	r := f.get(t, "/", adminToken)
	if r.code != http.StatusOK {
		t.Fatalf("GET / = %d", r.code)
	}
	var teams []string
	for _, tb := range findAll(r.doc, tagged("tbody")) {
		teams = append(teams, attr(tb, "data-team"))
	}
	if !slices.Equal(teams, []string{"payments", "search"}) {
		t.Errorf("team groups %v, want payments and search", teams)
	}
	for _, region := range []string{"eu-central", "us-east", "ap-south"} {
		if c := heatCell(t, r.doc, "search-api", region); attr(c, "data-state") != "down" {
			t.Errorf("search-api in %s is %s, want down", region, attr(c, "data-state"))
		}
	}
	// The admin's team filter.
	r = f.get(t, "/?team=search", adminToken)
	if rows := findAll(r.doc, tagged("tr", "data-worst", "down")); len(rows) != 1 || attr(rows[0], "data-endpoint") != "search-api" {
		t.Errorf("?team=search shows rows %v", rows)
	}
	// A team token cannot widen its view with ?team=.
	r = f.get(t, "/?team=search", paymentsToken)
	if strings.Contains(r.body, "search-api") {
		t.Error("a payments token with ?team=search sees search-api")
	}
}

func TestOverviewFilterAndPaging(t *testing.T) {
	f := newFixture(t)
	f.dash.opt.PageSize = 1
	endpoints := func(r resp) []string {
		var out []string
		for _, tr := range findAll(r.doc, func(n *html.Node) bool { return n.Data == "tr" && attr(n, "data-endpoint") != "" }) {
			out = append(out, attr(tr, "data-endpoint"))
		}
		return out
	}
	tests := []struct {
		query string
		want  []string
		next  bool
	}{
		{"/", []string{"checkout-api"}, true},
		{"/?page=2", []string{"ledger"}, false},
		{"/?page=99", []string{"ledger"}, false},
		{"/?q=LEDGER", []string{"ledger"}, false},
		{"/?q=checkout.example", []string{"checkout-api"}, false},
		{"/?q=nothing-matches", nil, false},
	}
	for _, tt := range tests {
		r := f.get(t, tt.query, paymentsToken)
		if got := endpoints(r); !slices.Equal(got, tt.want) {
			t.Errorf("%s shows %v, want %v", tt.query, got, tt.want)
		}
		next := findAll(r.doc, tagged("a", "rel", "next"))
		if (len(next) == 1) != tt.next {
			t.Errorf("%s: next link %v, want %v", tt.query, len(next) == 1, tt.next)
		}
	}
	f.dash.opt.PageSize = 50
	// Only problems: the admin's search-api and both payments endpoints
	// have a degraded or down cell.
	if got := endpoints(f.get(t, "/?problems=1", adminToken)); !slices.Equal(got, []string{"checkout-api", "ledger", "search-api"}) {
		t.Errorf("problems=1 shows %v", got)
	}
}

func TestAuth(t *testing.T) {
	f := newFixture(t)
	t.Run("no token shows the login form", func(t *testing.T) {
		r := f.get(t, "/vantages", "")
		if r.code != http.StatusUnauthorized || len(findAll(r.doc, tagged("input", "name", "token"))) != 1 {
			t.Fatalf("got %d without a login form", r.code)
		}
		if next := findAll(r.doc, tagged("input", "name", "next")); attr(next[0], "value") != "/vantages" {
			t.Errorf("next = %q", attr(next[0], "value"))
		}
	})
	t.Run("unknown and vantage tokens are refused", func(t *testing.T) {
		for _, tok := range []string{"pkt_wrong", "pkv_0", strings.Repeat("x", 300)} {
			r := f.get(t, "/", tok)
			if r.code != http.StatusUnauthorized || !strings.Contains(r.body, "not a team token") {
				t.Errorf("token %.10s: %d", tok, r.code)
			}
		}
	})
	t.Run("token in the URL becomes a cookie", func(t *testing.T) {
		r := f.get(t, "/vantages?token="+url.QueryEscape(paymentsToken)+"&x=1", "")
		if r.code != http.StatusSeeOther || r.hdr.Get("Location") != "/vantages?x=1" {
			t.Fatalf("got %d to %q", r.code, r.hdr.Get("Location"))
		}
		checkCookie(t, r.hdr, paymentsToken)
		if r := f.get(t, "/?token=pkt_wrong", ""); r.code != http.StatusUnauthorized || strings.Contains(r.hdr.Get("Set-Cookie"), "pkt_wrong") {
			t.Errorf("a wrong ?token= answers %d and sets %q", r.code, r.hdr.Get("Set-Cookie"))
		}
	})
	t.Run("cookie Secure behind a TLS proxy", func(t *testing.T) {
		for _, tt := range []struct {
			proto  string
			secure bool
		}{{"", false}, {"http", false}, {"https", true}, {"HTTPS", true}} {
			form := url.Values{"token": {adminToken}, "next": {"/"}}
			req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tt.proto != "" {
				req.Header.Set("X-Forwarded-Proto", tt.proto)
			}
			r := f.do(t, req)
			checkCookie(t, r.hdr, adminToken)
			if c, _ := http.ParseSetCookie(r.hdr.Get("Set-Cookie")); c == nil || c.Secure != tt.secure {
				t.Errorf("X-Forwarded-Proto %q: Set-Cookie %q, want Secure=%v", tt.proto, r.hdr.Get("Set-Cookie"), tt.secure)
			}
		}
	})
	t.Run("login form", func(t *testing.T) {
		for _, tt := range []struct{ next, want string }{
			{"/report?by=asn", "/report?by=asn"},
			{"//evil.example/", "/"},
			{"https://evil.example/", "/"},
			{"/\\evil.example", "/"},
		} {
			form := url.Values{"token": {adminToken}, "next": {tt.next}}
			req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r := f.do(t, req)
			if r.code != http.StatusSeeOther || r.hdr.Get("Location") != tt.want {
				t.Errorf("next %q: %d to %q, want %q", tt.next, r.code, r.hdr.Get("Location"), tt.want)
			}
			checkCookie(t, r.hdr, adminToken)
		}
		form := url.Values{"token": {adminToken}, "next": {"/"}}
		req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "https://evil.example")
		if r := f.do(t, req); r.code != http.StatusForbidden || r.hdr.Get("Set-Cookie") != "" {
			t.Errorf("a login posted from another site: %d", r.code)
		}
		req = httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		req.Header.Set("Origin", "null")
		if r := f.do(t, req); r.code != http.StatusForbidden || r.hdr.Get("Set-Cookie") != "" {
			t.Errorf("a login posted from another site (Sec-Fetch-Site): %d", r.code)
		}
		form = url.Values{"token": {"pkt_wrong"}}
		req = httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if r := f.do(t, req); r.code != http.StatusUnauthorized || r.hdr.Get("Set-Cookie") != "" {
			t.Errorf("a wrong token logs in: %d", r.code)
		}
	})
	t.Run("bearer header", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Authorization", "Bearer "+searchToken)
		if r := f.do(t, req); r.code != http.StatusOK || !strings.Contains(r.body, "search-api") || strings.Contains(r.body, "checkout-api") {
			t.Errorf("bearer search token: %d", r.code)
		}
	})
	t.Run("another team's pages are not found", func(t *testing.T) {
		for _, p := range []string{"/endpoints/search/search-api", "/endpoints/search/search-api/regions/eu-central", "/endpoints/payments/nope"} {
			r := f.get(t, p, paymentsToken)
			if r.code != http.StatusNotFound || strings.Contains(r.body, "nxdomain") {
				t.Errorf("%s: %d", p, r.code)
			}
		}
	})
	t.Run("refresh without a session asks to sign in again", func(t *testing.T) {
		if r := f.get(t, "/?fragment=1", ""); r.code != http.StatusUnauthorized {
			t.Errorf("got %d", r.code)
		}
	})
	t.Run("logout clears the cookie", func(t *testing.T) {
		r := f.do(t, httptest.NewRequest(http.MethodPost, "/logout", nil))
		if r.code != http.StatusSeeOther || !strings.Contains(r.hdr.Get("Set-Cookie"), "Max-Age=0") {
			t.Errorf("logout: %d %q", r.code, r.hdr.Get("Set-Cookie"))
		}
	})
}

func checkCookie(t *testing.T, h http.Header, token string) {
	t.Helper()
	c, err := http.ParseSetCookie(h.Get("Set-Cookie"))
	if err != nil {
		t.Fatalf("Set-Cookie %q: %v", h.Get("Set-Cookie"), err)
	}
	if c.Name != cookieName || c.Value != token || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" {
		t.Errorf("cookie %+v: want %s=token, HttpOnly, SameSite=Strict, Path=/", c, cookieName)
	}
}

func TestEndpointPage(t *testing.T) {
	f := newFixture(t)
	r := f.get(t, "/endpoints/payments/checkout-api", paymentsToken)
	if r.code != http.StatusOK {
		t.Fatalf("GET = %d\n%s", r.code, r.body)
	}
	t.Run("availability per region and range", func(t *testing.T) {
		rows := findAll(r.doc, func(n *html.Node) bool { return n.Data == "tr" && attr(n, "data-region") == "us-east" })
		if len(rows) != 1 {
			t.Fatalf("%d us-east rows", len(rows))
		}
		var cells []string
		for _, td := range findAll(rows[0], tagged("td")) {
			cells = append(cells, text(td))
		}
		// 24h: 194 results, 6 failed; 7d and 30d: 195 results, 7 failed.
		if want := []string{"96.91%", "96.41%", "96.41%"}; !slices.Equal(cells[:3], want) {
			t.Errorf("us-east availability %v, want %v", cells[:3], want)
		}
		if cells[len(cells)-1] != "tls/cert_expired" {
			t.Errorf("us-east top error %q", cells[len(cells)-1])
		}
	})
	t.Run("charts have points", func(t *testing.T) {
		for _, region := range []string{"eu-central", "us-east", "ap-south"} {
			figs := findAll(r.doc, tagged("figure", "data-region", region))
			if len(figs) != 1 {
				t.Fatalf("%d panels for %s", len(figs), region)
			}
			svgs := findAll(figs[0], tagged("svg"))
			if len(svgs) != 2 {
				t.Fatalf("%s: %d charts", region, len(svgs))
			}
			series := map[string]int{}
			for _, pl := range findAll(figs[0], tagged("polyline")) {
				series[attr(pl, "data-series")] += len(strings.Fields(attr(pl, "points")))
			}
			// One point per 15-minute bucket holding results: the history
			// fills 92 buckets; the last one holds the recent results too.
			for _, s := range []string{"p50", "p95", "dns", "connect", "tls", "first byte"} {
				if series[s] < 90 {
					t.Errorf("%s: series %s has %d points", region, s, series[s])
				}
			}
		}
	})
	t.Run("recent failures", func(t *testing.T) {
		var rows []string
		for _, tr := range findAll(r.doc, tagged("table", "class", "list failures")) {
			for _, row := range findAll(tr, tagged("tr"))[1:] {
				rows = append(rows, text(row))
			}
		}
		// 3 rounds × (eu-a + us-a + us-b) in the last day; the 3-day-old
		// failure is older than the list's day.
		if len(rows) != 9 {
			t.Fatalf("%d failure rows, want 9: %v", len(rows), rows)
		}
		for _, want := range []string{"eu-central eu-a checkout-api/http connect refused", "us-east us-b checkout-api/http tls cert_expired"} {
			if !slices.ContainsFunc(rows, func(s string) bool { return strings.Contains(s, want) }) {
				t.Errorf("no failure row %q in %v", want, rows)
			}
		}
	})
	t.Run("AS paths and detour", func(t *testing.T) {
		eu := findAll(r.doc, tagged("tr", "data-vantage", "eu-a"))
		us := findAll(r.doc, tagged("tr", "data-vantage", "us-a"))
		if len(eu) != 1 || len(us) != 1 {
			t.Fatalf("path rows: eu-a %d, us-a %d", len(eu), len(us))
		}
		if attr(eu[0], "data-detour") != "true" || attr(us[0], "data-detour") != "false" {
			t.Errorf("detour: eu-a %s, us-a %s; want true, false", attr(eu[0], "data-detour"), attr(us[0], "data-detour"))
		}
		lists := findAll(eu[0], tagged("ol"))
		if got := text(lists[0]); got != "AS64500 EXAMPLE-HOSTING * AS174 COGENT-174 new AS13335 CLOUDFLARENET" {
			t.Errorf("eu-a current path %q", got)
		}
		if got := text(lists[1]); got != "AS64500 EXAMPLE-HOSTING AS3356 LEVEL3 AS13335 CLOUDFLARENET" {
			t.Errorf("eu-a usual path %q", got)
		}
		if n := findAll(eu[0], func(n *html.Node) bool { return n.Data == "li" && hasClass(n, "new") }); len(n) != 1 {
			t.Errorf("%d new ASes marked on eu-a, want 1", len(n))
		}
		if n := findAll(us[0], func(n *html.Node) bool { return n.Data == "li" && hasClass(n, "new") }); len(n) != 0 {
			t.Errorf("a silent hop marked as new on us-a")
		}
		if got := text(findAll(eu[0], tagged("td", "class", "num"))[0]); got != "48.0 ms (usual 20.0 ms)" {
			t.Errorf("eu-a RTT %q", got)
		}
	})
	t.Run("open alerts", func(t *testing.T) {
		sec := findAll(r.doc, tagged("section", "id", "alerts"))[0]
		got := text(sec)
		for _, want := range []string{"path from eu-a detours through AS174", "unreachable from us-east"} {
			if !strings.Contains(got, want) {
				t.Errorf("open alerts lack %q: %s", want, got)
			}
		}
		if strings.Contains(got, "ledger") {
			t.Error("another endpoint's alert is listed")
		}
	})
	t.Run("fragment is the live part only", func(t *testing.T) {
		fr := f.get(t, "/endpoints/payments/checkout-api?fragment=1&range=7d", paymentsToken)
		if fr.code != http.StatusOK || strings.Contains(fr.body, "<html") || strings.Contains(fr.body, "<nav") || !strings.Contains(fr.body, `id="paths"`) {
			t.Errorf("fragment: %d\n%.300s", fr.code, fr.body)
		}
	})
	t.Run("admin sees it too", func(t *testing.T) {
		if r := f.get(t, "/endpoints/payments/checkout-api?range=30d", adminToken); r.code != http.StatusOK {
			t.Errorf("admin: %d", r.code)
		}
	})
}

func TestRegionDrillDown(t *testing.T) {
	f := newFixture(t)
	r := f.get(t, "/endpoints/payments/checkout-api/regions/eu-central", paymentsToken)
	if r.code != http.StatusOK {
		t.Fatalf("GET = %d", r.code)
	}
	want := map[string]string{"eu-a": "true", "eu-b": "false", "eu-c": "false"}
	rows := findAll(r.doc, func(n *html.Node) bool { return n.Data == "tr" && attr(n, "data-vantage") != "" })
	if len(rows) != len(want) {
		t.Fatalf("%d vantage rows, want %d", len(rows), len(want))
	}
	for _, row := range rows {
		id := attr(row, "data-vantage")
		if attr(row, "data-failing") != want[id] {
			t.Errorf("%s failing=%s, want %s", id, attr(row, "data-failing"), want[id])
		}
		if stale := hasClass(row, "stale"); stale != (id == "eu-c") {
			t.Errorf("%s stale=%v", id, stale)
		}
	}
	if got := text(findAll(r.doc, tagged("p", "class", "regionstate"))[0]); !strings.Contains(got, "◐ degraded · 1 of 3 reporting vantages failing · 66.67% of 9 results ok") {
		t.Errorf("region state %q", got)
	}
	if !strings.Contains(text(rows[0]), "✕ checkout-api/http 120 ms connect/refused") {
		t.Errorf("eu-a latest %q", text(rows[0]))
	}
	// A region the endpoint names but no vantage serves: said plainly.
	r = f.get(t, "/endpoints/payments/checkout-api/regions/mars", paymentsToken)
	if r.code != http.StatusOK || !strings.Contains(r.body, "No vantage is enrolled in region mars") || !strings.Contains(r.body, `data-state="nodata"`) {
		t.Errorf("region without vantages: %d", r.code)
	}
}

func TestVantagesPage(t *testing.T) {
	f := newFixture(t)
	r := f.get(t, "/vantages", searchToken)
	tests := []struct {
		id, state, spool string
	}{
		{"eu-a", "live", "0"}, {"eu-c", "missing", "14"}, {"sa-a", "never", "0"}, {"ap-a", "live", "35"},
	}
	for _, tt := range tests {
		rows := findAll(r.doc, tagged("tr", "data-vantage", tt.id))
		if len(rows) != 1 {
			t.Fatalf("%d rows for %s", len(rows), tt.id)
		}
		if attr(rows[0], "data-state") != tt.state || hasClass(rows[0], "stale") != (tt.state != "live") {
			t.Errorf("%s: state %s class %q", tt.id, attr(rows[0], "data-state"), attr(rows[0], "class"))
		}
		tds := findAll(rows[0], tagged("td"))
		if got := text(tds[5]); got != tt.spool {
			t.Errorf("%s spool depth %q, want %s", tt.id, got, tt.spool)
		}
	}
	if got := text(findAll(r.doc, tagged("p", "class", "summary"))[0]); !strings.HasPrefix(got, "5 live · 2 stale") {
		t.Errorf("summary %q", got)
	}
}

func TestAlertsPage(t *testing.T) {
	f := newFixture(t)
	keys := func(r resp, section string) []string {
		var out []string
		for _, tr := range findAll(findAll(r.doc, tagged("section", "id", section))[0], func(n *html.Node) bool { return attr(n, "data-key") != "" }) {
			out = append(out, attr(tr, "data-key"))
		}
		slices.Sort(out)
		return out
	}
	r := f.get(t, "/alerts", paymentsToken)
	if got := keys(r, "open"); !slices.Equal(got, []string{"path_detour/payments/checkout-api/eu-a", "regional_reachability/payments/checkout-api/http"}) {
		t.Errorf("open %v", got)
	}
	if got := keys(r, "recent"); !slices.Equal(got, []string{"latency/payments/ledger/http/eu-b"}) {
		t.Errorf("recent %v", got)
	}
	if strings.Contains(r.body, "search") || !strings.Contains(r.body, "database maintenance") {
		t.Error("payments alerts page: wrong silences or another team's alert")
	}
	if !strings.Contains(r.body, "new AS174 COGENT-174") {
		t.Error("the detour's new ASN is not shown")
	}
	r = f.get(t, "/alerts", adminToken)
	if got := keys(r, "open"); len(got) != 3 || !strings.Contains(r.body, "search reindex") {
		t.Errorf("admin open %v", got)
	}
	f.dash.opt.Alerts = nil
	if r := f.get(t, "/alerts", adminToken); !strings.Contains(r.body, "Alerting is not running") {
		t.Error("no alerting: page does not say so")
	}
}

func TestReport(t *testing.T) {
	f := newFixture(t)
	r := f.get(t, "/report?by=region&since=24h&endpoint=checkout-api", paymentsToken)
	if r.code != http.StatusOK {
		t.Fatalf("report: %d", r.code)
	}
	row := findAll(r.doc, tagged("tr", "data-group", "us-east"))
	if len(row) != 1 || text(findAll(row[0], tagged("td", "class", "num avail"))[0]) != "96.91%" {
		t.Errorf("us-east report row: %v", row)
	}
	links := findAll(r.doc, func(n *html.Node) bool { return n.Data == "a" && strings.HasPrefix(attr(n, "href"), "/report.csv") })
	if len(links) != 1 {
		t.Fatalf("%d CSV links", len(links))
	}
	csvResp := f.get(t, attr(links[0], "href"), paymentsToken)
	if csvResp.code != http.StatusOK || csvResp.hdr.Get("Content-Type") != "text/csv; charset=utf-8" ||
		!strings.Contains(csvResp.hdr.Get("Content-Disposition"), "attachment") {
		t.Fatalf("CSV: %d %v", csvResp.code, csvResp.hdr)
	}
	recs, err := csv.NewReader(strings.NewReader(csvResp.body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(recs[0], ",") != "team,endpoint,region,results,failures,availability_pct,failed_rounds,downtime_minutes,p50_ms,p95_ms,p99_ms,top_error,top_error_count" {
		t.Errorf("CSV header %v", recs[0])
	}
	got := map[string][]string{}
	for _, rec := range recs[1:] {
		got[rec[2]] = rec
	}
	want := map[string][3]string{
		"us-east":    {"194", "6", "96.9072"},
		"ap-south":   {"185", "0", "100.0000"},
		"eu-central": {"197", "3", "98.4772"},
	}
	if len(got) != len(want) {
		t.Errorf("CSV regions %v", got)
	}
	for region, w := range want {
		rec := got[region]
		if rec == nil || rec[0] != "payments" || rec[1] != "checkout-api" || rec[3] != w[0] || rec[4] != w[1] || rec[5] != w[2] {
			t.Errorf("%s: %v, want results %s failures %s availability %s", region, rec, w[0], w[1], w[2])
		}
	}
	// A team token asking for another team gets its own team only.
	other := f.get(t, "/report.csv?by=vantage&since=7d&team=search", paymentsToken)
	if strings.Contains(other.body, "search") {
		t.Error("a payments token downloads the search team's report")
	}
	all := f.get(t, "/report.csv?by=provider&since=30d", adminToken)
	if !strings.Contains(all.body, "search,search-api,aws,") {
		t.Errorf("admin CSV lacks search rows:\n%s", all.body)
	}
	for _, bad := range []string{"/report?by=planet", "/report?since=forever", "/report.csv?since=-1h"} {
		if r := f.get(t, bad, paymentsToken); r.code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", bad, r.code)
		}
	}
}

func TestAssetsAndUnknownPaths(t *testing.T) {
	f := newFixture(t)
	for _, p := range []string{"/static/app.js", "/static/style.css"} {
		r := f.get(t, p, "")
		if r.code != http.StatusOK || len(r.body) < 100 {
			t.Errorf("%s: %d, %d bytes", p, r.code, len(r.body))
		}
	}
	r := f.get(t, "/v1/nope", adminToken)
	if r.code != http.StatusNotFound || r.hdr.Get("Content-Type") != "application/json" || !strings.Contains(r.body, `"code":"not_found"`) {
		t.Errorf("/v1/nope: %d %s", r.code, r.body)
	}
	if r := f.get(t, "/nope", adminToken); r.code != http.StatusNotFound {
		t.Errorf("/nope: %d", r.code)
	}
	if csp := r.hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
}

// FuzzPages feeds arbitrary paths and queries to the dashboard: whatever
// comes in, the answer is never a server error and HTML always parses.
func FuzzPages(f *testing.F) {
	fx := newFixture(f)
	for _, s := range []string{"/", "/?q=%00&page=-1", "/?page=999999999999999999999", "/endpoints/payments/checkout-api?range=1y&check=x",
		"/endpoints/payments/checkout-api/regions/%2F..", "/report?by=asn&since=1y", "/report.csv?since=9999999999h", "/alerts?team=search",
		"/?q=" + strings.Repeat("é", 300), "/login?next=//x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		u, err := url.Parse(target)
		if err != nil || u.Host != "" || !strings.HasPrefix(u.Path, "/") {
			return
		}
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL = u
		req.RequestURI = u.RequestURI()
		req.AddCookie(&http.Cookie{Name: cookieName, Value: paymentsToken})
		rec := httptest.NewRecorder()
		fx.dash.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%q: %d", target, rec.Code)
		}
		if strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
			if _, err := html.Parse(io.Reader(strings.NewReader(rec.Body.String()))); err != nil {
				t.Fatalf("%q: %v", target, err)
			}
			if strings.Contains(rec.Body.String(), "search-api") {
				t.Fatalf("%q shows another team's endpoint", target)
			}
		}
	})
}
