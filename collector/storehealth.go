package collector

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// storeHealth turns the store's failures into one log line per outage
// rather than one per request. When PostgreSQL restarts or is unreachable,
// every batch, heartbeat, token lookup and readiness probe fails: at a
// hundred probers that was hundreds of identical error lines a second,
// which buried what an operator needs, when it started, what the error
// was and when it ended. The first failure after a success is logged with
// its error; later ones are counted, and the next success logs how long
// the outage lasted and how many requests it failed.
type storeHealth struct {
	log  *slog.Logger
	now  func() time.Time
	down atomic.Bool // fast path of ok, which runs on every success

	mu     sync.Mutex
	since  time.Time
	failed int
}

// fail records a failed store operation and logs it when it starts an
// outage.
func (h *storeHealth) fail(op string, err error, attrs ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down.Load() {
		h.failed++
		h.log.Debug("store still failing", append([]any{"op", op, "err", err}, attrs...)...)
		return
	}
	h.down.Store(true)
	h.since, h.failed = h.now(), 1
	h.log.Error("store failing; requests that need it are answered 5xx until it answers again (further failures are counted, not logged)",
		append([]any{"op", op, "err", err}, attrs...)...)
}

// ok records a store operation that succeeded, and logs the end of an
// outage.
func (h *storeHealth) ok() {
	if !h.down.Load() {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.down.Load() {
		return
	}
	h.down.Store(false)
	h.log.Info("store answering again", "failing_for", h.now().Sub(h.since).Round(time.Millisecond), "failed_requests", h.failed)
}
