package rollup

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/picketnet/picket/internal/ctxtime"
)

// Compactor runs a store's compaction in the background: after every
// KickAfter batches added, and every Every otherwise, so that pending
// deltas stay few and reads cheap. The zero value is ready to Start.
//
// After each compaction the loop rests as long as the compaction took
// (up to MaxRest), so that compaction takes at most half of the time.
// A compaction's cost is mostly the rollup rows it rewrites, one minute
// and one hour row per series it touches, however many results each
// series gained. Under load, back-to-back compactions rewrite every
// series' rows again and again for a few results each, with CPU that
// ingest needs. Resting makes each one fold more results per row: at
// 100,000 series, sustained ingest into PostgreSQL rose by an eighth
// (docs/stores.md, "Ninth round"). A store whose replicas compact in
// turn keeps its turn through the rest (see Start), or another replica
// would compact meanwhile and the rest would be for nothing.
type Compactor struct {
	// KickAfter is how many added batches wake the loop early (default 8).
	KickAfter int64
	// Every is the longest wait between compactions while batches are
	// pending (default 1 s).
	Every time.Duration
	// MaxRest bounds the rest after a compaction (default 10 s), and with
	// it how long batches wait pending, which reads add to what they read.
	MaxRest time.Duration

	pending atomic.Int64
	kick    chan struct{}
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	// rest waits d unless ctx ends first, and reports whether it waited;
	// tests replace it.
	rest func(ctx context.Context, d time.Duration) bool
}

// Start runs compact in a goroutine until Stop. The release compact
// returns, when not nil, is called once the rest after it ends (or the
// loop stops): a store keeps its lock among replicas until then.
func (c *Compactor) Start(compact func(context.Context) (release func(), err error)) {
	if c.KickAfter <= 0 {
		c.KickAfter = 8
	}
	if c.Every <= 0 {
		c.Every = time.Second
	}
	if c.MaxRest <= 0 {
		c.MaxRest = 10 * time.Second
	}
	if c.rest == nil {
		c.rest = func(ctx context.Context, d time.Duration) bool {
			return ctxtime.SleepUntil(ctx, time.Now().Add(d))
		}
	}
	c.kick = make(chan struct{}, 1)
	c.pending.Store(1) // what an earlier process left pending
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.wg.Go(func() {
		t := time.NewTicker(c.Every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-c.kick:
			case <-t.C:
				if c.pending.Load() == 0 {
					continue
				}
			}
			c.pending.Store(0)
			start := time.Now()
			release, err := compact(ctx)
			if err != nil && ctx.Err() == nil {
				c.pending.Add(1) // retry at the next tick
				slog.Error("rollup compaction failed; retrying", "err", err)
			}
			// Batches added meanwhile kick the loop again at once.
			rested := c.rest(ctx, min(time.Since(start), c.MaxRest))
			if release != nil {
				release()
			}
			if !rested {
				return
			}
		}
	})
}

// Added records that a batch of deltas was committed.
func (c *Compactor) Added() {
	if c.pending.Add(1) >= c.KickAfter && c.kick != nil {
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}
}

// Stop ends the loop and waits for a compaction under way to end.
func (c *Compactor) Stop() {
	if c.cancel != nil {
		c.cancel()
		c.wg.Wait()
	}
}
