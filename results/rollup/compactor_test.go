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
		c.Start(func(context.Context) (func(), error) { ran <- struct{}{}; return nil, nil })
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
		c.Start(func(context.Context) (func(), error) {
			ran <- struct{}{}
			if calls.Add(1) == 1 {
				return nil, errors.New("database away")
			}
			return nil, nil
		})
		defer c.Stop()
		c.Added()
		wait(t, ran, "first compaction")
		wait(t, ran, "compaction retried")
	})
	t.Run("stop waits for a compaction", func(t *testing.T) {
		started, finished := make(chan struct{}), atomic.Bool{}
		c := Compactor{KickAfter: 1, Every: time.Hour}
		c.Start(func(ctx context.Context) (func(), error) {
			close(started)
			<-ctx.Done()
			time.Sleep(50 * time.Millisecond)
			finished.Store(true)
			return nil, ctx.Err()
		})
		c.Added()
		wait(t, started, "compaction")
		c.Stop()
		if !finished.Load() {
			t.Error("Stop returned while a compaction was under way")
		}
	})
}

// After a compaction the loop rests as long as it took, never more than
// MaxRest, and batches added meanwhile start the next one as soon as the
// rest ends.
func TestCompactorRests(t *testing.T) {
	const took = 20 * time.Millisecond
	for _, tc := range []struct {
		name    string
		maxRest time.Duration
		least   time.Duration // the rest is at least this
	}{
		{"as long as the compaction", time.Hour, took},
		{"bounded by MaxRest", time.Millisecond, time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ran := make(chan struct{}, 16)
			rests := make(chan time.Duration, 16)
			c := Compactor{KickAfter: 2, Every: time.Hour, MaxRest: tc.maxRest}
			c.rest = func(ctx context.Context, d time.Duration) bool {
				if len(rests) == 0 {
					// Batches committed while resting.
					c.Added()
					c.Added()
				}
				rests <- d
				return true
			}
			c.Start(func(context.Context) (func(), error) {
				time.Sleep(took)
				ran <- struct{}{}
				return nil, nil
			})
			defer c.Stop()
			c.Added()
			c.Added()
			wait(t, ran, "a compaction")
			// Every is an hour: only the kick of the batches added during
			// the rest can start this one.
			wait(t, ran, "a compaction of the batches added during the rest")
			d := <-rests
			if d < tc.least || d > tc.maxRest {
				t.Errorf("rested %v after a compaction of %v or more; want %v to %v", d, took, tc.least, tc.maxRest)
			}
		})
	}
	// A store's lock among replicas, released once the rest is over,
	// however it ends.
	for _, tc := range []struct {
		name string
		stop bool // Stop ends the rest
	}{
		{"released after the rest", false},
		{"released when stop ends the rest", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var resting, released atomic.Bool
			restEnded := make(chan struct{}, 16)
			c := Compactor{KickAfter: 1, Every: time.Hour}
			c.rest = func(ctx context.Context, _ time.Duration) bool {
				resting.Store(true)
				defer resting.Store(false)
				if released.Load() {
					t.Error("lock released before the rest")
				}
				if tc.stop {
					restEnded <- struct{}{}
					<-ctx.Done()
					return false
				}
				defer func() { restEnded <- struct{}{} }()
				return true
			}
			c.Start(func(context.Context) (func(), error) {
				released.Store(false)
				return func() {
					if resting.Load() {
						t.Error("lock released during the rest")
					}
					released.Store(true)
				}, nil
			})
			c.Added()
			wait(t, restEnded, "rest")
			c.Stop() // returns, or the test times out
			if !released.Load() {
				t.Error("lock not released")
			}
		})
	}
}
