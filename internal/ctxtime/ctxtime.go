package ctxtime

import (
	"context"
	"time"
)

// SleepUntil waits until t or until ctx ends, whichever comes first, and
// reports whether ctx is still alive. A t in the past returns at once.
func SleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}
