package rollup

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// wait waits for a value on ch, failing the test after a generous while.
func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s", what)
	}
}

// Enough batches added wake the loop at once, long before Every; a
// compaction that fails is tried again at the next tick; Stop waits for
// the one under way.
func TestCompactorRuns(t *testing.T) {
	t.Run("kicked by added batches", func(t *testing.T) {
		ran := make(chan struct{}, 16)
		c := Compactor{KickAfter: 3, Every: time.Hour}
		c.Start(func(context.Context) error { ran <- struct{}{}; return nil })
		defer c.Stop()
		for range 3 {
			c.Added()
		}
		wait(t, ran, "compaction after 3 batches")
	})
	t.Run("retried after failing", func(t *testing.T) {
		ran := make(chan struct{}, 16)
		var calls atomic.Int32
		c := Compactor{KickAfter: 1, Every: 10 * time.Millisecond}
		c.Start(func(context.Context) error {
			ran <- struct{}{}
			if calls.Add(1) == 1 {
				return errors.New("database away")
			}
			return nil
		})
		defer c.Stop()
		c.Added()
		wait(t, ran, "first compaction")
		wait(t, ran, "compaction retried")
	})
	t.Run("stop waits for a compaction", func(t *testing.T) {
		started, finished := make(chan struct{}), atomic.Bool{}
		c := Compactor{KickAfter: 1, Every: time.Hour}
		c.Start(func(ctx context.Context) error {
			close(started)
			<-ctx.Done()
			time.Sleep(50 * time.Millisecond)
			finished.Store(true)
			return ctx.Err()
		})
		c.Added()
		wait(t, started, "compaction")
		c.Stop()
		if !finished.Load() {
			t.Error("Stop returned while a compaction was under way")
		}
	})
}
