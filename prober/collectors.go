package prober

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// unavailableError says that no collector can be tried before Until.
type unavailableError struct {
	Until time.Time
	Err   error
}

func (e *unavailableError) Error() string {
	return fmt.Sprintf("no collector available until %s; last failure: %v", e.Until.Format(time.RFC3339), e.Err)
}

func (e *unavailableError) Unwrap() error { return e.Err }

// collectors sends requests to the first collector, in the configured
// order, that is not backing off after a failure. Because the order is
// always walked from the primary, traffic returns to the primary as soon
// as its backoff expires and it answers.
type collectors struct {
	urls      []string
	token     atomic.Pointer[string]
	tokenFile string // read again when a collector refuses the token
	log       *slog.Logger
	ua        string
	hc        *http.Client
	timeout   time.Duration
	min, max  time.Duration
	observe   func(collector, path, outcome string)

	mu    sync.Mutex
	state []collectorState

	// offset is how far this host's clock is ahead of the last collector
	// that answered (negative: behind), from its Date header; offsetKnown
	// says whether one has.
	offset      atomic.Int64 // time.Duration
	offsetKnown atomic.Bool
}

// clockOffset returns the latest measured offset of this host's clock
// from the collectors', and whether there is one.
func (c *collectors) clockOffset() (time.Duration, bool) {
	return time.Duration(c.offset.Load()), c.offsetKnown.Load()
}

type collectorState struct {
	failures int
	retryAt  time.Time
	lastErr  error
}

func newCollectors(cfg Config, hc *http.Client, ua string, log *slog.Logger, observe func(collector, path, outcome string)) *collectors {
	urls := make([]string, len(cfg.Collectors))
	for i, u := range cfg.Collectors {
		urls[i] = strings.TrimRight(u, "/")
	}
	c := &collectors{
		urls: urls, tokenFile: cfg.TokenFile, log: log, ua: ua, hc: hc, timeout: cfg.RequestTimeout,
		min: cfg.BackoffMin, max: cfg.BackoffMax, observe: observe,
		state: make([]collectorState, len(urls)),
	}
	tok := cfg.Token
	c.token.Store(&tok)
	return c
}

// maxTokenFileBytes bounds what is read of the token file.
const maxTokenFileBytes = 4 << 10

// reloadToken reads the token file again after a collector refused the
// token: an operator who replaced the vantage's token (picket vantages
// token) and wrote the new one to the file needs no restart. It reports
// whether the token changed.
func (c *collectors) reloadToken() bool {
	if c.tokenFile == "" {
		return false
	}
	f, err := os.Open(c.tokenFile)
	if err != nil {
		c.log.Warn("token refused; cannot read token_file again", "err", err)
		return false
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFileBytes))
	tok := strings.TrimSpace(string(b))
	if err != nil || tok == "" || tok == *c.token.Load() {
		return false
	}
	c.token.Store(&tok)
	c.log.Info("token refused; using the new token found in token_file", "file", c.tokenFile)
	return true
}

// backoff is the wait after the n-th consecutive failure: exponential
// from min, capped at max, with "equal jitter" (half fixed, half random)
// so that probers that lost a collector together do not return together.
func (c *collectors) backoff(n int) time.Duration {
	d := c.min
	for i := 1; i < n && d < c.max; i++ {
		d *= 2
	}
	d = min(d, c.max)
	return d/2 + rand.N(d/2+1)
}

// answer is a collector's response with its body read (bounded).
type answer struct {
	collector string // its base URL, as configured
	status    int
	header    http.Header
	body      []byte
}

// maxAnswerBytes bounds what is read from a collector's answer.
const maxAnswerBytes = 8 << 20

// do sends the request. It returns the first answer that is not a server
// failure (5xx or 429); network errors and server failures put that
// collector in backoff and move on to the next. When every collector is
// backing off it returns an *unavailableError.
func (c *collectors) do(ctx context.Context, method, path string, body []byte, hdr http.Header) (answer, error) {
	var errs []error
	for i, base := range c.urls {
		c.mu.Lock()
		wait := time.Until(c.state[i].retryAt)
		c.mu.Unlock()
		if wait > 0 {
			continue
		}
		a, err := c.once(ctx, base+path, method, body, hdr)
		if err == nil && (a.status == http.StatusUnauthorized || a.status == http.StatusForbidden) && c.reloadToken() {
			a, err = c.once(ctx, base+path, method, body, hdr)
		}
		if ctx.Err() != nil {
			return answer{}, ctx.Err()
		}
		if err == nil && a.status < 500 && a.status != http.StatusTooManyRequests {
			c.mu.Lock()
			c.state[i] = collectorState{}
			c.mu.Unlock()
			// The collector answered, so it is not backed off; but a
			// refusal (401 for a revoked token, 413, ...) is no success,
			// and an operator alerting on outcome!="ok" must see it.
			outcome := "ok"
			if a.status/100 != 2 && a.status != http.StatusNotModified {
				outcome = fmt.Sprintf("status_%d", a.status)
			}
			c.observe(base, path, outcome)
			a.collector = base
			return a, nil
		}
		outcome := "network"
		if err == nil {
			outcome = fmt.Sprintf("status_%d", a.status)
			err = fmt.Errorf("%s %s: %s: %s", method, base+path, http.StatusText(a.status), bytes.TrimSpace(a.body[:min(len(a.body), 200)]))
		}
		c.observe(base, path, outcome)
		c.mu.Lock()
		st := &c.state[i]
		st.failures++
		st.retryAt = time.Now().Add(c.backoff(st.failures))
		st.lastErr = err
		c.mu.Unlock()
		errs = append(errs, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	until := time.Time{}
	for _, st := range c.state {
		if until.IsZero() || st.retryAt.Before(until) {
			until = st.retryAt
		}
		if len(errs) == 0 && st.lastErr != nil {
			errs = append(errs, st.lastErr)
		}
	}
	return answer{}, &unavailableError{Until: until, Err: errors.Join(errs...)}
}

func (c *collectors) once(ctx context.Context, url, method string, body []byte, hdr http.Header) (answer, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return answer{}, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+*c.token.Load())
	req.Header.Set("User-Agent", c.ua)
	sent := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		// Date is truncated to the second: the collector's clock read
		// d+0.5s ± 0.5s when it answered, about halfway through.
		mid := sent.Add(time.Since(sent) / 2)
		c.offset.Store(int64(mid.Sub(d.Add(500 * time.Millisecond))))
		c.offsetKnown.Store(true)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	if err != nil {
		return answer{}, fmt.Errorf("read answer of %s: %w", url, err)
	}
	if len(b) > maxAnswerBytes {
		return answer{}, fmt.Errorf("answer of %s is larger than %d bytes", url, maxAnswerBytes)
	}
	return answer{collector: url, status: resp.StatusCode, header: resp.Header, body: b}, nil
}
