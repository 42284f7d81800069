package reporting

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Version is the agent's version, sent in the user agent.
const Version = "1"

// Config configures an Agent. Nothing happens unless Enabled is true.
type Config struct {
	// Enabled turns reporting on. It is off by default: an application
	// asks its users before reporting their network failures.
	Enabled bool
	// Collectors are the collectors' report URLs
	// (https://collector.picket-a.example/v1/reports/nel?endpoint=NAME, as
	// `picket nel headers` prints them) or base URLs, tried in order. Put
	// them in different domains.
	Collectors []string
	// Endpoint is the registered endpoint name added to base URLs as
	// ?endpoint=; it helps the collector when several endpoints share an
	// origin.
	Endpoint string
	// QueueDir holds reports no collector has accepted yet. Required.
	QueueDir string
	// MaxQueueBytes bounds the queue on disk (default 4 MiB); the oldest
	// reports are dropped first.
	MaxQueueBytes int64
	// SuccessFraction and FailureFraction are the sampling rates of
	// successful and failed requests, as in a NEL policy. Successes
	// default to 0 (none); FailureFraction 0 means 1 (every failure).
	SuccessFraction float64
	FailureFraction float64
	// Product names the application in the user agent
	// ("picket-reporting/1 (Product)").
	Product string
	// FlushEvery is how often queued reports are written to disk and sent
	// (default 10s); after failed uploads the interval backs off up to
	// MaxBackoff (default 5m).
	FlushEvery time.Duration
	MaxBackoff time.Duration
	// Client sends the uploads (default: a client with a 15s timeout on
	// http.DefaultTransport). It must not be a client wrapped by this
	// agent.
	Client *http.Client
	Logger *slog.Logger
	// Now and Rand are replaced by tests.
	Now  func() time.Time
	Rand func() float64
}

// Agent classifies an application's requests and ships NEL reports.
type Agent struct {
	cfg        Config
	collectors []string
	hosts      map[string]bool // the collectors' hosts: never reported on
	ua         string
	queue      *queue
	log        *slog.Logger
	wake       chan struct{}

	flushMu sync.Mutex // one Flush at a time: a segment is sent once

	mu      sync.Mutex
	pending []item
	dropped int64
	next    int // index of the collector that answered last
}

// maxPending bounds the reports kept in memory between flushes.
const maxPending = 1000

// New returns an agent. A disabled agent is valid and does nothing.
func New(cfg Config) (*Agent, error) {
	a := &Agent{cfg: cfg, wake: make(chan struct{}, 1)}
	if !cfg.Enabled {
		return a, nil
	}
	if len(cfg.Collectors) == 0 {
		return nil, errors.New("reporting: enabled without collectors")
	}
	if cfg.QueueDir == "" {
		return nil, errors.New("reporting: enabled without a queue directory")
	}
	if cfg.SuccessFraction < 0 || cfg.SuccessFraction > 1 || cfg.FailureFraction < 0 || cfg.FailureFraction > 1 {
		return nil, fmt.Errorf("reporting: sampling fractions must be in [0, 1]")
	}
	if a.cfg.FailureFraction == 0 {
		a.cfg.FailureFraction = 1
	}
	if a.cfg.MaxQueueBytes <= 0 {
		a.cfg.MaxQueueBytes = 4 << 20
	}
	if a.cfg.FlushEvery <= 0 {
		a.cfg.FlushEvery = 10 * time.Second
	}
	if a.cfg.MaxBackoff <= 0 {
		a.cfg.MaxBackoff = 5 * time.Minute
	}
	if a.cfg.Client == nil {
		a.cfg.Client = &http.Client{Timeout: 15 * time.Second}
	}
	if a.cfg.Logger == nil {
		a.cfg.Logger = slog.Default()
	}
	if a.cfg.Now == nil {
		a.cfg.Now = time.Now
	}
	if a.cfg.Rand == nil {
		a.cfg.Rand = rand.Float64
	}
	a.log = a.cfg.Logger
	a.hosts = map[string]bool{}
	for _, c := range cfg.Collectors {
		u, err := reportURL(c, cfg.Endpoint)
		if err != nil {
			return nil, err
		}
		a.collectors = append(a.collectors, u.String())
		a.hosts[strings.ToLower(u.Host)] = true
	}
	a.ua = "picket-reporting/" + Version
	if cfg.Product != "" {
		a.ua += " (" + strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f || r == '(' || r == ')' {
				return -1
			}
			return r
		}, cfg.Product) + ")"
	}
	q, err := openQueue(cfg.QueueDir, a.cfg.MaxQueueBytes)
	if err != nil {
		return nil, err
	}
	a.queue = q
	return a, nil
}

func reportURL(c, endpoint string) (*url.URL, error) {
	u, err := url.Parse(c)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("reporting: collector %q is not an http(s) URL", c)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/reports/nel"
	}
	if endpoint != "" && u.Query().Get("endpoint") == "" {
		q := u.Query()
		q.Set("endpoint", endpoint)
		u.RawQuery = q.Encode()
	}
	return u, nil
}

// Enabled reports whether the agent reports anything.
func (a *Agent) Enabled() bool { return a.cfg.Enabled }

// Wrap returns rt (http.DefaultTransport when nil) wrapped so that every
// request through it is classified and reported. A disabled agent returns
// rt itself.
func (a *Agent) Wrap(rt http.RoundTripper) http.RoundTripper {
	if rt == nil {
		rt = http.DefaultTransport
	}
	if !a.cfg.Enabled {
		return rt
	}
	return &transport{a: a, next: rt}
}

type transport struct {
	a    *Agent
	next http.RoundTripper
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.a.hosts[strings.ToLower(req.URL.Host)] {
		// Reports about reporting would loop.
		return t.next.RoundTrip(req)
	}
	var (
		mu       sync.Mutex
		p        progress
		serverIP string
		proto    string
	)
	setIP := func(addr net.Addr) {
		if addr == nil {
			return
		}
		if h, _, err := net.SplitHostPort(addr.String()); err == nil {
			serverIP = h
		}
	}
	trace := &httptrace.ClientTrace{
		ConnectDone: func(_, addr string, _ error) {
			mu.Lock()
			defer mu.Unlock()
			if h, _, err := net.SplitHostPort(addr); err == nil {
				serverIP = h
			}
		},
		TLSHandshakeDone: func(cs tls.ConnectionState, _ error) {
			mu.Lock()
			defer mu.Unlock()
			if cs.NegotiatedProtocol != "" {
				proto = cs.NegotiatedProtocol
			}
		},
		GotConn: func(info httptrace.GotConnInfo) {
			mu.Lock()
			defer mu.Unlock()
			p.connected = true
			setIP(info.Conn.RemoteAddr())
		},
		GotFirstResponseByte: func() {
			mu.Lock()
			defer mu.Unlock()
			p.firstByte = true
		},
	}
	start := time.Now()
	resp, err := t.next.RoundTrip(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
	elapsed := time.Since(start)
	mu.Lock()
	defer mu.Unlock()
	r := wireBody{Method: req.Method, ServerIP: serverIP, Protocol: proto, ElapsedMS: elapsed.Milliseconds()}
	switch {
	case err != nil:
		if errors.Is(req.Context().Err(), context.Canceled) {
			// The application gave up; nothing failed on the network.
			return resp, err
		}
		cerr := err
		if d, ok := req.Context().Deadline(); ok && !time.Now().Before(d) {
			// The application's deadline passed: whatever error the
			// transport surfaced (http.Client cancels through
			// Request.Cancel as well as the context), it timed out.
			cerr = fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
		}
		r.Phase, r.Type = classify(cerr, p)
	case resp.StatusCode >= 400:
		r.Phase, r.Type, r.StatusCode = PhaseApplication, "http.error", resp.StatusCode
	default:
		r.Phase, r.Type, r.StatusCode = PhaseApplication, "ok", resp.StatusCode
	}
	if resp != nil && r.Protocol == "" {
		r.Protocol = protocolID(resp)
	}
	if r.Protocol == "" && req.URL.Scheme == "http" {
		r.Protocol = "http/1.1"
	}
	t.a.record(req.URL, r)
	return resp, err
}

// protocolID is the ALPN id of the response's protocol.
func protocolID(resp *http.Response) string {
	switch resp.ProtoMajor {
	case 1:
		return fmt.Sprintf("http/1.%d", resp.ProtoMinor)
	case 2:
		return "h2"
	case 3:
		return "h3"
	}
	return ""
}

// record samples a report and queues it in memory.
func (a *Agent) record(u *url.URL, b wireBody) {
	frac := a.cfg.FailureFraction
	if b.Type == "ok" {
		frac = a.cfg.SuccessFraction
	}
	if frac <= 0 || a.cfg.Rand() >= frac {
		return
	}
	b.SamplingFraction = frac
	it := item{At: a.cfg.Now().UnixMilli(), Report: wireReport{
		Type:      "network-error",
		URL:       safeURL(u, b.Phase),
		UserAgent: a.ua,
		Body:      b,
	}}
	a.mu.Lock()
	if len(a.pending) >= maxPending {
		a.pending = a.pending[1:]
		a.dropped++
	}
	a.pending = append(a.pending, it)
	full := len(a.pending) >= maxBatch
	a.mu.Unlock()
	if full {
		select {
		case a.wake <- struct{}{}:
		default:
		}
	}
}

// safeURL is the URL as reported: never user info, query or fragment;
// only the origin for dns and connection failures.
func safeURL(u *url.URL, phase string) string {
	out := url.URL{Scheme: strings.ToLower(u.Scheme), Host: strings.ToLower(u.Host), Path: "/"}
	if phase == PhaseApplication && u.Path != "" {
		out.Path = u.Path
		out.RawPath = u.RawPath
	}
	return out.String()
}

// Run flushes the queue every FlushEvery (backing off while no collector
// accepts reports) until ctx is done, then writes what is pending to disk.
func (a *Agent) Run(ctx context.Context) {
	if !a.cfg.Enabled {
		return
	}
	wait := a.cfg.FlushEvery
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			if err := a.persist(); err != nil {
				a.log.Warn("reporting: save queued reports", "err", err)
			}
			return
		case <-a.wake:
			t.Stop()
		case <-t.C:
		}
		if err := a.Flush(ctx); err != nil {
			a.log.Debug("reporting: flush", "err", err)
			wait = min(2*wait, a.cfg.MaxBackoff)
			// Jitter keeps many clients from returning at once.
			wait = time.Duration(float64(wait) * (0.75 + 0.5*a.cfg.Rand()))
		} else {
			wait = a.cfg.FlushEvery
		}
	}
}

// Close writes the reports still in memory to the disk queue, where the
// next agent on the same directory finds them.
func (a *Agent) Close() error {
	if !a.cfg.Enabled {
		return nil
	}
	return a.persist()
}

// Stats are the agent's counters.
type Stats struct {
	Pending     int   // in memory, not yet on disk
	Queued      int   // reports on disk
	QueuedBytes int64 // size of the disk queue
	Dropped     int64 // reports dropped because a queue was full, too old or refused
}

// Stats returns the agent's counters.
func (a *Agent) Stats() Stats {
	if !a.cfg.Enabled {
		return Stats{}
	}
	a.mu.Lock()
	s := Stats{Pending: len(a.pending), Dropped: a.dropped}
	a.mu.Unlock()
	s.Queued, s.QueuedBytes, s.Dropped = a.queue.stats(s.Dropped)
	return s
}

// persist moves pending reports to the disk queue.
func (a *Agent) persist() error {
	a.mu.Lock()
	items := a.pending
	a.pending = nil
	a.mu.Unlock()
	for len(items) > 0 {
		n := min(len(items), maxBatch)
		if err := a.queue.push(items[:n]); err != nil {
			a.mu.Lock()
			a.pending = append(items, a.pending...)
			a.mu.Unlock()
			return err
		}
		items = items[n:]
	}
	return nil
}

// errRejected marks an upload a collector refused for its content:
// sending it again cannot help.
var errRejected = errors.New("collector rejected the reports")

// Flush writes pending reports to disk, then sends every queued segment,
// oldest first, each to the first collector that takes it. It stops at
// the first segment no collector takes, and returns that error.
func (a *Agent) Flush(ctx context.Context) error {
	if !a.cfg.Enabled {
		return nil
	}
	a.flushMu.Lock()
	defer a.flushMu.Unlock()
	if err := a.persist(); err != nil {
		return err
	}
	for _, seg := range a.queue.segments() {
		items, err := a.queue.read(seg)
		if err != nil {
			a.log.Warn("reporting: drop unreadable queue segment", "segment", seg, "err", err)
			n, _ := segmentCount(seg)
			a.queue.remove(seg, n)
			continue
		}
		err = a.upload(ctx, items)
		if errors.Is(err, errRejected) {
			a.log.Warn("reporting: collector refused reports; dropping them", "err", err)
			a.queue.remove(seg, len(items))
			continue
		}
		if err != nil {
			return err
		}
		a.queue.remove(seg, 0)
	}
	return nil
}

// upload sends one envelope, trying each collector in turn from the one
// that answered last.
func (a *Agent) upload(ctx context.Context, items []item) error {
	now := a.cfg.Now()
	env := make([]wireReport, 0, len(items))
	for _, it := range items {
		age := now.UnixMilli() - it.At
		if age < 0 {
			age = 0
		}
		if time.Duration(age)*time.Millisecond > maxAge {
			continue
		}
		r := it.Report
		r.Age = age
		env = append(env, r)
	}
	if len(env) == 0 {
		return nil
	}
	body, err := encodeEnvelope(env)
	if err != nil {
		return err
	}
	a.mu.Lock()
	first := a.next
	a.mu.Unlock()
	var errs []error
	for i := range a.collectors {
		idx := (first + i) % len(a.collectors)
		err := a.post(ctx, a.collectors[idx], body)
		if err == nil {
			a.mu.Lock()
			a.next = idx
			a.mu.Unlock()
			return nil
		}
		if errors.Is(err, errRejected) {
			return err
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("no collector took %d reports: %w", len(env), errors.Join(errs...))
}

func (a *Agent) post(ctx context.Context, collector string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, collector, strings.NewReader(string(body)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/reports+json")
	req.Header.Set("User-Agent", a.ua)
	resp, err := a.cfg.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var msg [512]byte
	n, _ := resp.Body.Read(msg[:])
	switch {
	case resp.StatusCode/100 == 2:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode >= 500:
		return fmt.Errorf("%s: %s", collector, resp.Status)
	}
	return fmt.Errorf("%w: %s: %s %s", errRejected, collector, resp.Status, strings.TrimSpace(string(msg[:n])))
}

// maxAge is how old a queued report may get; the collector refuses older.
const maxAge = 7 * 24 * time.Hour
