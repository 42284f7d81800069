package outagelog

import (
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/picketnet/picket/internal/syncbuf"
)

func TestOneLinePerOutage(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	boom := errors.New("connection refused")
	type step struct {
		at   time.Duration
		fail int // failures; 0: a success
	}
	tests := []struct {
		name   string
		remind time.Duration
		steps  []step
		want   []string // the lines at INFO and above, each as substrings
	}{
		{
			name:  "a success logs nothing",
			steps: []step{{0, 0}, {time.Second, 0}},
		},
		{
			name:  "one outage, one line each end",
			steps: []step{{0, 0}, {time.Second, 1}, {2 * time.Second, 3}, {3 * time.Second, 1}, {5 * time.Second, 0}, {6 * time.Second, 0}},
			want: []string{
				`level=ERROR msg="store failing" err="connection refused" count=1`,
				`level=INFO msg="store back" failures=5 lasted=4s`,
			},
		},
		{
			name:   "reminders while it lasts",
			remind: time.Minute,
			steps:  []step{{0, 2}, {30 * time.Second, 1}, {61 * time.Second, 1}, {90 * time.Second, 1}, {2 * time.Minute, 0}},
			want: []string{
				`level=ERROR msg="store failing" err="connection refused" count=2`,
				`level=ERROR msg="store failing" err="connection refused" count=1 more_since_last_report=1 since=2026-11-22T12:00:00Z`,
				`level=INFO msg="store back" failures=5 lasted=2m0s`,
			},
		},
		{
			name:  "two outages",
			steps: []step{{0, 1}, {time.Second, 0}, {2 * time.Second, 1}, {4 * time.Second, 0}},
			want: []string{
				`msg="store failing"`, `msg="store back" failures=1 lasted=1s`,
				`msg="store failing"`, `msg="store back" failures=1 lasted=2s`,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf syncbuf.Buffer
			now := t0
			l := &Log{Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), Level: slog.LevelError,
				Failed: "store failing", Back: "store back", Remind: tc.remind, Now: func() time.Time { return now }}
			for _, s := range tc.steps {
				now = t0.Add(s.at)
				if s.fail > 0 {
					l.Fail(s.fail, boom)
				} else {
					l.OK()
				}
			}
			var got []string
			for _, line := range buf.Lines("") {
				if !strings.Contains(line, "level=DEBUG") {
					got = append(got, line)
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("%d lines, want %d:\n%s", len(got), len(tc.want), strings.Join(got, "\n"))
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("line %d: %s\nwant it to contain %s", i, got[i], w)
				}
			}
		})
	}
}

// Requests fail and succeed on many goroutines at once.
func TestConcurrentUse(t *testing.T) {
	var buf syncbuf.Buffer
	l := &Log{Logger: slog.New(slog.NewTextHandler(&buf, nil)), Level: slog.LevelWarn, Failed: "failing", Back: "back"}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				l.Fail(1, errors.New("x"))
			}
		})
	}
	wg.Wait()
	l.OK()
	if got := buf.Lines(""); len(got) != 2 || !strings.Contains(got[1], "failures=800") {
		t.Errorf("lines %q, want one warning and one line with failures=800", got)
	}
}
