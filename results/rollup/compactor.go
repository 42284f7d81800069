package rollup

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Compactor runs a store's compaction in the background: after every
// KickAfter batches added, and every Every otherwise, so that pending
// deltas stay few and reads cheap. The zero value is ready to Start.
type Compactor struct {
	// KickAfter is how many added batches wake the loop early (default 8).
	KickAfter int64
	// Every is the longest wait between compactions while batches are
	// pending (default 1 s).
	Every time.Duration

	pending atomic.Int64
	kick    chan struct{}
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// Start runs compact in a goroutine until Stop.
func (c *Compactor) Start(compact func(context.Context) error) {
	if c.KickAfter <= 0 {
		c.KickAfter = 8
	}
	if c.Every <= 0 {
		c.Every = time.Second
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
			if err := compact(ctx); err != nil && ctx.Err() == nil {
				c.pending.Add(1) // retry at the next tick
				slog.Error("rollup compaction failed; retrying", "err", err)
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
