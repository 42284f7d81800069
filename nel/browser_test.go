package nel

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/picketnet/picket/internal/testenv"
	"github.com/picketnet/picket/netpath"
	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/results/sqlite/sqlitetest"
)

// origin is a team's HTTPS service that announces a NEL policy, and that
// the test then breaks: it stops listening (the browser's next connection
// is refused) or starts presenting a certificate the browser does not
// trust.
type origin struct {
	ln   net.Listener
	srv  *http.Server
	cert atomic.Pointer[tls.Certificate]
	port int
}

func startOrigin(t *testing.T, good tls.Certificate, hdr Headers) *origin {
	t.Helper()
	o := &origin{}
	o.cert.Store(&good)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o.port = ln.Addr().(*net.TCPAddr).Port
	o.ln = tls.NewListener(ln, &tls.Config{
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return o.cert.Load(), nil },
		// No resumption and no keep-alive: every navigation verifies
		// the certificate presented now.
		SessionTicketsDisabled: true,
		NextProtos:             []string{"http/1.1"},
	})
	o.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Report-To", hdr.ReportTo)
			w.Header().Set("NEL", hdr.NEL)
			w.Header().Set("Reporting-Endpoints", hdr.ReportingEndpoints)
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<!doctype html><title>ok</title><p>ok</p>")
		}),
		ReadHeaderTimeout: 10 * time.Second,
		// The broken phase makes handshakes fail on purpose.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	o.srv.SetKeepAlivesEnabled(false)
	go o.srv.Serve(o.ln) //nolint:errcheck // ends with Close
	t.Cleanup(func() { o.srv.Close() })
	return o
}

// TestChromiumReports: headless Chromium visits two HTTPS origins that
// announce a NEL policy pointing at collectors in two domains, the first
// of which is down (Chromium must fail over to the second); then one
// origin refuses connections and the other presents an untrusted
// certificate. The collector must store the reports Chromium sends: the
// successes of the first visits and the two failures, with the privacy
// rules applied.
func TestChromiumReports(t *testing.T) {
	chromium := testenv.RequireCommand(t, "chromium")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	good, spki := testCert(t, "*.picket.test", "*.other.test")
	bad, _ := testCert(t, "*.picket.test", "*.other.test")

	store := sqlitetest.Open(t)
	h, err := NewHandler(Options{Store: store, Endpoints: store, ASN: &netpath.Resolver{Table: asnTable(t)},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	var preflights, posts atomic.Int64
	collectorLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	collector := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodOptions:
			preflights.Add(1)
		case http.MethodPost:
			posts.Add(1)
			if dir := os.Getenv("PICKET_NEL_RECORD"); dir != "" {
				body, _ := io.ReadAll(r.Body)
				os.WriteFile(filepath.Join(dir, fmt.Sprintf("chromium-%d.json", posts.Load())), body, 0o644) //nolint:errcheck // a debugging aid
				r.Body = io.NopCloser(bytes.NewReader(body))
			}
		}
		mux := http.NewServeMux()
		mux.Handle(ReportPath, h)
		mux.ServeHTTP(w, r)
	}), ReadHeaderTimeout: 10 * time.Second}
	go collector.Serve(tls.NewListener(collectorLn, &tls.Config{Certificates: []tls.Certificate{good}})) //nolint:errcheck // ends with Close
	defer collector.Close()
	cport := collectorLn.Addr().(*net.TCPAddr).Port
	// The first collector, in the first domain, is down: Chromium must
	// fail over to the second.
	deadLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadPort := deadLn.Addr().(*net.TCPAddr).Port
	deadLn.Close()

	one := 1.0
	hdr := func(endpoint string) Headers {
		hs, err := BuildHeaders(HeaderOptions{
			Collectors: []string{
				fmt.Sprintf("https://collector.picket.test:%d", deadPort),
				fmt.Sprintf("https://collector.other.test:%d", cport),
			},
			Endpoint:        endpoint,
			SuccessFraction: &one,
		})
		if err != nil {
			t.Fatal(err)
		}
		return hs
	}
	refusing := startOrigin(t, good, hdr("web"))
	untrusted := startOrigin(t, good, hdr("shop"))
	refusingURL := fmt.Sprintf("https://www.picket.test:%d/account?session=secret", refusing.port)
	untrustedURL := fmt.Sprintf("https://shop.picket.test:%d/cart?id=42", untrusted.port)
	register(t, store, "pay", "web", fmt.Sprintf("https://www.picket.test:%d/health", refusing.port))
	register(t, store, "pay", "shop", fmt.Sprintf("https://shop.picket.test:%d/", untrusted.port))

	actx, acancel := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("host-resolver-rules", "MAP *.picket.test 127.0.0.1, MAP *.other.test 127.0.0.1"),
		chromedp.Flag("ignore-certificate-errors-spki-list", spki),
		// Upload reports after 100ms instead of a minute.
		chromedp.Flag("short-reporting-delay", true),
		chromedp.Flag("enable-features", "Reporting,NetworkErrorLogging"),
	)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()

	for _, u := range []string{refusingURL, untrustedURL} {
		if err := chromedp.Do(bctx, chromedp.Navigate(u)); err != nil {
			t.Fatalf("first visit of %s: %v", u, err)
		}
	}
	// Break both origins, then visit again.
	refusing.srv.Close()
	untrusted.cert.Store(&bad)
	for _, u := range []string{refusingURL, untrustedURL} {
		err := chromedp.Do(bctx, chromedp.Navigate(u))
		t.Logf("broken visit of %s: %v", u, err)
	}

	want := map[string]bool{"web ok": false, "shop ok": false, "web tcp.refused": false, "shop tls.cert.authority_invalid": false}
	var got []results.NELReport
	for !allTrue(want) {
		select {
		case <-ctx.Done():
			t.Fatalf("Chromium's reports did not all arrive (preflights %d, posts %d); stored: %+v; want %v", preflights.Load(), posts.Load(), got, want)
		case <-time.After(200 * time.Millisecond):
		}
		got, err = store.NELReports(ctx, results.NELQuery{Team: "pay"})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range got {
			want[r.Endpoint+" "+r.Type] = true
		}
	}
	if preflights.Load() == 0 {
		t.Errorf("Chromium sent no CORS preflight to the cross-origin collector")
	}
	for _, r := range got {
		if strings.ContainsAny(r.URL, "?#") || strings.Contains(r.URL, "secret") {
			t.Errorf("stored URL %q keeps the query", r.URL)
		}
		if r.Phase != PhaseApplication && !strings.HasSuffix(r.URL, ".test:"+strconv.Itoa(map[string]int{"web": refusing.port, "shop": untrusted.port}[r.Endpoint])+"/") {
			t.Errorf("%s report stored URL %q, want only the origin", r.Phase, r.URL)
		}
		if !strings.HasPrefix(r.Browser, "HeadlessChrome ") || strings.ContainsAny(r.Browser, "();/") {
			t.Errorf("stored browser %q, want the family and major version only", r.Browser)
		}
		if r.ClientPrefix != "127.0.0.0/24" || r.ServerIP != "127.0.0.1" || r.SamplingFraction != 1 {
			t.Errorf("stored %+v: want client prefix 127.0.0.0/24, server 127.0.0.1, sampling 1", r)
		}
		switch r.Type {
		case "tcp.refused", "tls.cert.authority_invalid":
			if r.Phase != PhaseConnection || r.StatusCode != 0 {
				t.Errorf("%s stored in phase %s with status %d", r.Type, r.Phase, r.StatusCode)
			}
		case TypeOK:
			if r.StatusCode != 200 {
				t.Errorf("ok stored with status %d", r.StatusCode)
			}
		}
	}
}

func allTrue(m map[string]bool) bool {
	for _, v := range m {
		if !v {
			return false
		}
	}
	return true
}
