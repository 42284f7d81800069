package dashboard

import (
	"context"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/picketnet/picket/internal/testenv"
)

// TestBrowser drives headless Chromium through the dashboard over the
// fixed data set: it signs in with a token in the URL, reads the heat map
// as rendered (states, labels, colours), follows a cell to the region's
// vantages, opens the endpoint page and checks that its charts have
// points, and watches the live part refresh without a page reload.
// Screenshots of the overview and the endpoint page are saved in
// $PICKET_ARTIFACTS (or a temporary directory) for a human to look at.
func TestBrowser(t *testing.T) {
	chromium := testenv.RequireCommand(t, "chromium")
	f := newFixture(t)
	f.dash.opt.Refresh = time.Second
	srv := httptest.NewServer(f.dash)
	defer srv.Close()

	artifacts := os.Getenv("PICKET_ARTIFACTS")
	if artifacts == "" {
		artifacts = t.TempDir()
	}
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	actx, acancel := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer bcancel()

	// The viewer is in Tokyo: times must be shown there, UTC on hover.
	tokyo := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Asia/Tokyo"})
		return err
	})
	// Without a session the login form shows; a wrong token is refused.
	for i, step := range []chromedp.Action[chromedp.Void]{
		tokyo,
		chromedp.Navigate(srv.URL + "/vantages"),
		chromedp.WaitVisible(`#token`),
		chromedp.SendKeys(`#token`, "pkt_not-a-token"),
		chromedp.Click(`form.login button`),
		chromedp.WaitVisible(`form.login p.error`),
		// The form signs in and returns to the page asked for.
		chromedp.SetValue(`#token`, searchToken),
		chromedp.Click(`form.login button`),
		chromedp.WaitVisible(`tr[data-vantage="eu-c"].stale`),
	} {
		if err := chromedp.Do(bctx, step); err != nil {
			t.Fatalf("sign in with the form, step %d: %v", i, err)
		}
	}
	if loc := run(t, bctx, chromedp.Location()); !strings.HasSuffix(loc, "/vantages") {
		t.Errorf("after signing in at %s, want /vantages", loc)
	}
	// A token in a link signs in as that token's team, and leaves the
	// address bar.
	if err := chromedp.Do(bctx,
		chromedp.Navigate(srv.URL+"/?token="+url.QueryEscape(paymentsToken)),
		chromedp.WaitVisible(`table.heat`),
		chromedp.WaitReady(`html[data-ready="1"]`),
	); err != nil {
		t.Fatalf("open the overview: %v", err)
	}
	if loc := run(t, bctx, chromedp.Location()); strings.Contains(loc, "token=") {
		t.Errorf("the token stayed in the address bar: %s", loc)
	}
	if who := run(t, bctx, chromedp.Text(`.who`)); who != "signed in as team payments" {
		t.Errorf("header says %q", who)
	}

	type cellSeen struct {
		Endpoint, Region, State, Text, Background string
	}
	cells := run(t, bctx, chromedp.Evaluate[[]cellSeen](`Array.from(document.querySelectorAll("tr[data-endpoint] td.cell")).map(td => ({
		Endpoint: td.closest("tr").dataset.endpoint, Region: td.dataset.region, State: td.dataset.state,
		Text: td.innerText.trim().replace(/\s+/g, " "), Background: getComputedStyle(td).backgroundColor}))`))
	got := map[string]cellSeen{}
	for _, c := range cells {
		got[c.Endpoint+"/"+c.Region] = c
	}
	// Okabe–Ito: blue, orange, vermillion, grey.
	want := map[string]cellSeen{
		"checkout-api/eu-central": {State: "degraded", Text: "◐ deg", Background: "rgb(230, 159, 0)"},
		"checkout-api/us-east":    {State: "down", Text: "✕ down", Background: "rgb(213, 94, 0)"},
		"checkout-api/ap-south":   {State: "up", Text: "✓ up", Background: "rgb(0, 114, 178)"},
		"checkout-api/sa-east":    {State: "nodata", Text: "? n/d", Background: "rgb(187, 187, 187)"},
		"ledger/us-east":          {State: "degraded", Text: "◐ deg", Background: "rgb(230, 159, 0)"},
		"ledger/ap-south":         {State: "none", Text: "·", Background: "rgb(244, 244, 244)"},
	}
	if len(cells) != 8 {
		t.Errorf("%d cells rendered, want 8 (2 endpoints × 4 regions)", len(cells))
	}
	for k, w := range want {
		g := got[k]
		if g.State != w.State || g.Text != w.Text || g.Background != w.Background {
			t.Errorf("cell %s: state %q text %q colour %s; want %q %q %s", k, g.State, g.Text, g.Background, w.State, w.Text, w.Background)
		}
	}

	footer := run(t, bctx, chromedp.Text(`footer time`))
	footerTitle := run(t, bctx, chromedp.AttributeValue(`footer time`, "title"))
	// 12:00:30 UTC is 21:00:30 in Tokyo.
	if !strings.Contains(footer, "GMT+9") || !strings.Contains(footer, "9:00:30") || footerTitle.Value != "2026-11-21 12:00:30 UTC" {
		t.Errorf("time shown as %q (title %q), want Tokyo time with UTC in the title", footer, footerTitle.Value)
	}

	// The live part refreshes in place: a mark left on the old table
	// disappears with it, while a mark on the window (which a reload would
	// lose) stays.
	run(t, bctx, chromedp.Evaluate[bool](`window.picketMark = 1; document.querySelector("#live table").dataset.old = "1"; true`))
	if err := chromedp.Do(bctx, chromedp.WaitReady(`#live table.heat:not([data-old])`)); err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if !run(t, bctx, chromedp.Evaluate[bool](`window.picketMark === 1 && document.querySelectorAll("#live td.cell").length === 8`)) {
		t.Error("the refresh reloaded the page or lost cells")
	}

	shot(t, bctx, filepath.Join(artifacts, "dashboard-overview.png"))

	// Drill down from the degraded cell to the region's vantages.
	if err := chromedp.Do(bctx,
		chromedp.Click(`tr[data-endpoint="checkout-api"] td[data-region="eu-central"] a`, chromedp.NodeVisible),
		chromedp.WaitVisible(`p.regionstate`),
	); err != nil {
		t.Fatalf("drill down: %v", err)
	}
	if loc := run(t, bctx, chromedp.Location()); !strings.HasSuffix(loc, "/endpoints/payments/checkout-api/regions/eu-central") {
		t.Errorf("drill-down went to %s", loc)
	}
	failing := run(t, bctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('tr[data-failing="true"]')).map(tr => tr.dataset.vantage)`))
	if len(failing) != 1 || failing[0] != "eu-a" {
		t.Errorf("failing vantages of eu-central: %v, want [eu-a]", failing)
	}

	// On to the endpoint page: every chart has points the browser drew.
	type panelSeen struct {
		Region string
		Charts int
		Points int
		Width  float64
	}
	if err := chromedp.Do(bctx,
		chromedp.Click(`p.meta a`, chromedp.NodeVisible),
		chromedp.WaitVisible(`#latency svg.chart`),
	); err != nil {
		t.Fatalf("endpoint page: %v", err)
	}
	panels := run(t, bctx, chromedp.Evaluate[[]panelSeen](`Array.from(document.querySelectorAll("figure.panel")).map(f => ({
		Region: f.dataset.region,
		Charts: f.querySelectorAll("svg.chart").length,
		Points: Array.from(f.querySelectorAll("polyline")).reduce((n, p) => n + p.points.numberOfItems, 0),
		Width: Math.max(0, ...Array.from(f.querySelectorAll("polyline")).map(p => p.getBBox().width))}))`))
	if len(panels) != 3 {
		t.Errorf("%d region panels, want 3", len(panels))
	}
	for _, p := range panels {
		// Two charts: p50/p95 (2 series) and phases (4 series), about 92
		// points each.
		if p.Charts != 2 || p.Points < 6*90 || p.Width < 100 {
			t.Errorf("panel %s: %d charts, %d points, widest line %.0f", p.Region, p.Charts, p.Points, p.Width)
		}
	}
	if detour := run(t, bctx, chromedp.Text(`tr[data-vantage="eu-a"].detour li.new`)); !strings.Contains(detour, "AS174") {
		t.Errorf("detour hop reads %q", detour)
	}
	// The client-side reports: the network with the most failures first.
	if top := run(t, bctx, chromedp.Text(`#client table.clientnets tbody tr th`)); top != "AS7922" {
		t.Errorf("client-side networks start with %q, want AS7922", top)
	}
	shot(t, bctx, filepath.Join(artifacts, "dashboard-endpoint.png"))
}

// run runs one browser action and fails the test on error.
func run[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func shot(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	png := run(t, ctx, chromedp.FullScreenshot(100))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d KB)", path, len(png)/1024)
}
