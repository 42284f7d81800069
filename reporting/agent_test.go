package reporting

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/picketnet/picket/nel"
	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/results/sqlite"
	"github.com/picketnet/picket/results/sqlite/sqlitetest"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// world is what an application meets: a DNS server that knows no names,
// a port that refuses, a server with a certificate nobody trusts, a
// server answering 503 and one answering 200.
type world struct {
	transport                  *http.Transport
	refused, badCert, down, ok string
	unresolvable               string
	origins                    []string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dnsSrv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeNameError)
		w.WriteMsg(m) //nolint:errcheck // the client times out if lost
	})}
	go dnsSrv.ActivateAndServe() //nolint:errcheck // ends with Shutdown
	t.Cleanup(func() { dnsSrv.Shutdown() })
	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", pc.LocalAddr().String())
	}}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String()
	ln.Close()

	badCert := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	badCert.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshakes fail on purpose
	badCert.StartTLS()
	t.Cleanup(badCert.Close)
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
	}))
	t.Cleanup(down.Close)
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) //nolint:errcheck // the test's body
		io.WriteString(w, "ok")
	}))
	t.Cleanup(ok.Close)

	return &world{
		transport: &http.Transport{
			DialContext:       (&net.Dialer{Resolver: resolver, Timeout: 5 * time.Second}).DialContext,
			ForceAttemptHTTP2: true,
		},
		refused: refused, badCert: badCert.URL, down: down.URL, ok: ok.URL,
		unresolvable: "https://api.broken.test",
		origins:      []string{refused, badCert.URL, down.URL, ok.URL, "https://api.broken.test"},
	}
}

// collector is a real collector's NEL handler and store, on a fixed
// address, that can be down (nothing listening: connections refused) or
// up.
type collector struct {
	t     *testing.T
	addr  string
	store *sqlite.Store
	h     http.Handler
	srv   *http.Server

	mu     sync.Mutex
	bodies [][]byte
}

func newCollector(t *testing.T, store *sqlite.Store, now func() time.Time) *collector {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{t: t, addr: ln.Addr().String(), store: store}
	ln.Close()
	h, err := nel.NewHandler(nel.Options{Store: store, Endpoints: store, Logger: quiet, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	c.h = h
	return c
}

func (c *collector) URL() string { return "http://" + c.addr }

func (c *collector) up() {
	c.t.Helper()
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		c.t.Fatalf("collector back on %s: %v", c.addr, err)
	}
	c.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.bodies = append(c.bodies, body)
		c.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		c.h.ServeHTTP(w, r)
	}), ReadHeaderTimeout: 5 * time.Second}
	go c.srv.Serve(ln) //nolint:errcheck // ends with Close
	c.t.Cleanup(func() { c.srv.Close() })
}

func (c *collector) posts() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]byte(nil), c.bodies...)
}

func openStore(t *testing.T, origins []string) *sqlite.Store {
	t.Helper()
	s := sqlitetest.Open(t)
	if err := s.CreateTeam(context.Background(), results.Team{Name: "apps", TokenHash: []byte("h-apps")}); err != nil {
		t.Fatal(err)
	}
	for i, o := range origins {
		if err := s.PutEndpoint(context.Background(), results.Endpoint{Team: "apps", Name: fmt.Sprintf("ep%d", i), Target: o + "/health", Regions: []string{"all"}}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// The application's requests: one of each failure, one success, and one
// carrying secrets in its query, headers and body.
func (w *world) requests(t *testing.T, client *http.Client) {
	t.Helper()
	for _, u := range []string{w.refused + "/pay", w.badCert + "/pay", w.down + "/pay", w.ok + "/pay", w.unresolvable + "/pay"} {
		resp, err := client.Get(u)
		if err == nil {
			resp.Body.Close()
		}
	}
	req, _ := http.NewRequest(http.MethodPost, w.refused+"/login?token=querysecret", strings.NewReader("bodysecret"))
	req.Header.Set("Authorization", "Bearer headersecret")
	if resp, err := client.Do(req); err == nil {
		resp.Body.Close()
	}
}

// TestDownThenBack: while no collector answers, reports wait on disk,
// also across a restart of the application; when a collector is back
// every report arrives once, with the age that puts it at the time of the
// failure, and without the request's secrets.
func TestDownThenBack(t *testing.T) {
	w := newWorld(t)
	clk := &clock{t: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)}
	store := openStore(t, w.origins)
	a, b := newCollector(t, store, clk.Now), newCollector(t, store, clk.Now)
	dir := filepath.Join(t.TempDir(), "queue")
	cfg := Config{
		Enabled: true, Collectors: []string{a.URL(), b.URL()}, QueueDir: dir,
		SuccessFraction: 1, Product: "checkout-cli", Logger: quiet, Now: clk.Now,
	}
	agent, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: agent.Wrap(w.transport), Timeout: 10 * time.Second}
	failedAt := clk.Now()
	w.requests(t, client)
	if err := agent.Flush(context.Background()); err == nil {
		t.Fatal("flush succeeded with every collector down")
	}
	if st := agent.Stats(); st.Queued != 6 || st.Pending != 0 || st.Dropped != 0 {
		t.Fatalf("stats while down: %+v, want 6 queued on disk", st)
	}
	if err := agent.Close(); err != nil {
		t.Fatal(err)
	}

	// The application restarts ten minutes later; collector b is back.
	clk.Advance(10 * time.Minute)
	agent, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if st := agent.Stats(); st.Queued != 6 {
		t.Fatalf("after restart the queue holds %d reports, want 6", st.Queued)
	}
	b.up()
	if err := agent.Flush(context.Background()); err != nil {
		t.Fatalf("flush with b up: %v", err)
	}
	if st := agent.Stats(); st.Queued != 0 || st.Dropped != 0 {
		t.Errorf("stats after delivery: %+v", st)
	}
	// A second flush sends nothing again.
	if err := agent.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}

	got, err := store.NELReports(context.Background(), results.NELQuery{})
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]int{}
	for _, r := range got {
		types[r.Phase+" "+r.Type]++
		if !r.OccurredAt.Equal(failedAt) {
			t.Errorf("%s occurred at %v, want %v (the age must cover the wait)", r.Type, r.OccurredAt, failedAt)
		}
		if r.Browser != "picket-reporting 1" {
			t.Errorf("browser %q", r.Browser)
		}
	}
	want := map[string]int{
		"connection tcp.refused":                2,
		"connection tls.cert.authority_invalid": 1,
		"application http.error":                1,
		"application ok":                        1,
		"dns dns.name_not_resolved":             1,
	}
	if fmt.Sprint(types) != fmt.Sprint(want) {
		t.Errorf("stored %v, want %v", types, want)
	}
	posts := b.posts()
	if len(posts) != 1 {
		t.Errorf("collector b got %d uploads, want 1", len(posts))
	}
	for _, p := range posts {
		for _, secret := range []string{"querysecret", "headersecret", "bodysecret", "/login", "Bearer"} {
			if bytes.Contains(p, []byte(secret)) {
				t.Errorf("upload carries %q: %s", secret, p)
			}
		}
		var env []map[string]any
		if err := json.Unmarshal(p, &env); err != nil {
			t.Fatal(err)
		}
		for _, r := range env {
			if age := r["age"].(float64); age != float64((10 * time.Minute).Milliseconds()) {
				t.Errorf("age %v ms, want 600000", age)
			}
		}
	}
}

// Run delivers on its own, and a collector that answers takes over from
// one that does not.
func TestRunDelivers(t *testing.T) {
	w := newWorld(t)
	store := openStore(t, w.origins)
	down, up := newCollector(t, store, time.Now), newCollector(t, store, time.Now)
	up.up()
	agent, err := New(Config{Enabled: true, Collectors: []string{down.URL(), up.URL()},
		QueueDir: t.TempDir(), FlushEvery: 20 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() { agent.Run(ctx); close(done) }()
	client := &http.Client{Transport: agent.Wrap(w.transport)}
	if resp, err := client.Get(w.down + "/"); err == nil {
		resp.Body.Close()
	}
	for {
		got, err := store.NELReports(ctx, results.NELQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 1 && got[0].Type == "http.error" && got[0].StatusCode == 503 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("not delivered: %+v, stats %+v", got, agent.Stats())
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	<-done
}

// Disabled, the agent wraps nothing, writes nothing and sends nothing.
func TestDisabledSendsNothing(t *testing.T) {
	w := newWorld(t)
	var posts int
	var mu sync.Mutex
	col := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { mu.Lock(); posts++; mu.Unlock() }))
	defer col.Close()
	dir := filepath.Join(t.TempDir(), "queue")
	agent, err := New(Config{Collectors: []string{col.URL}, QueueDir: dir, FlushEvery: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if agent.Wrap(w.transport) != http.RoundTripper(w.transport) {
		t.Error("a disabled agent wrapped the transport")
	}
	w.requests(t, &http.Client{Transport: agent.Wrap(w.transport)})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	agent.Run(ctx)
	if err := agent.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	agent.Close()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("disabled agent created its queue directory (%v)", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if posts != 0 {
		t.Errorf("disabled agent sent %d uploads", posts)
	}
}

func TestSampling(t *testing.T) {
	w := newWorld(t)
	i := 0
	agent, err := New(Config{Enabled: true, Collectors: []string{"http://127.0.0.1:1"}, QueueDir: t.TempDir(),
		FailureFraction: 0.5, Logger: quiet,
		Rand: func() float64 { i++; return []float64{0.2, 0.7}[i%2] }})
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: agent.Wrap(w.transport)}
	for range 10 {
		for _, u := range []string{w.down, w.ok} {
			if resp, err := client.Get(u); err == nil {
				resp.Body.Close()
			}
		}
	}
	agent.mu.Lock()
	defer agent.mu.Unlock()
	if len(agent.pending) != 5 {
		t.Fatalf("kept %d of 10 failures at fraction 0.5 (and no success), want 5", len(agent.pending))
	}
	for _, it := range agent.pending {
		if it.Report.Body.SamplingFraction != 0.5 || it.Report.Body.Type != "http.error" {
			t.Errorf("queued %+v", it.Report.Body)
		}
	}
}

// The disk queue stays under its size, dropping the oldest reports.
func TestQueueBound(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{t: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)}
	agent, err := New(Config{Enabled: true, Collectors: []string{"http://127.0.0.1:1"}, QueueDir: dir,
		MaxQueueBytes: 64 << 10, Logger: quiet, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	u := mustURL(t, "https://api.example.com/x")
	for range 10 {
		for range maxBatch {
			agent.record(u, wireBody{Phase: PhaseConnection, Type: "tcp.refused", Method: "GET"})
			clk.Advance(time.Millisecond)
		}
		if err := agent.persist(); err != nil {
			t.Fatal(err)
		}
	}
	st := agent.Stats()
	if st.QueuedBytes > 64<<10 || st.Dropped == 0 || st.Queued+int(st.Dropped) != 1000 {
		t.Fatalf("stats %+v: want at most 64 KiB queued and the rest counted as dropped", st)
	}
	// What is left is the newest.
	segs := agent.queue.segments()
	items, err := agent.queue.read(segs[len(segs)-1])
	if err != nil {
		t.Fatal(err)
	}
	if last := items[len(items)-1].At; last != clk.Now().Add(-time.Millisecond).UnixMilli() {
		t.Errorf("newest queued report at %d, want the last recorded", last)
	}
}

func TestClassifyTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c) // accepted, never answered
		}
	}()
	agent, err := New(Config{Enabled: true, Collectors: []string{"http://127.0.0.1:1"}, QueueDir: t.TempDir(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: agent.Wrap(&http.Transport{}), Timeout: 200 * time.Millisecond}
	if _, err := client.Get("http://" + ln.Addr().String() + "/slow?q=1"); err == nil {
		t.Fatal("no timeout")
	}
	agent.mu.Lock()
	defer agent.mu.Unlock()
	if len(agent.pending) != 1 {
		t.Fatalf("pending %d", len(agent.pending))
	}
	r := agent.pending[0].Report
	if r.Body.Phase != PhaseApplication || r.Body.Type != "tcp.timed_out" || r.URL != "http://"+ln.Addr().String()+"/slow" || r.Body.ServerIP != "127.0.0.1" {
		t.Errorf("timeout reported as %+v", r)
	}
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
