package ctxtime

import (
	"context"
	"testing"
	"time"
)

func TestSleepUntil(t *testing.T) {
	live := context.Background()
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		at   time.Time
		want bool
	}{
		{"past, context alive", live, time.Now().Add(-time.Second), true},
		{"future, context alive", live, time.Now().Add(10 * time.Millisecond), true},
		{"past, context ended", ended, time.Now().Add(-time.Second), false},
		{"far future, context ended", ended, time.Now().Add(time.Hour), false},
	} {
		if got := SleepUntil(tc.ctx, tc.at); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
