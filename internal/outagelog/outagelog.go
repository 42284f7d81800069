package outagelog

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Log is one kind of failure. Set its fields before first use; it is safe
// for concurrent use.
type Log struct {
	Logger *slog.Logger
	// Level is that of the first line and of the reminders.
	Level slog.Level
	// Failed is the first line's message: what fails, and what that
	// means for the user. Back is the last line's: it works again.
	Failed, Back string
	// Remind, when not 0, repeats the first line at most this often
	// while the failure lasts, with how often it recurred meanwhile.
	Remind time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	failing atomic.Bool // the fast path of OK, which runs on every success

	mu     sync.Mutex
	since  time.Time // of the first failure
	logged time.Time // of the last line at Level
	total  int       // failures since the first
	quiet  int       // failures not logged since the last line
}

func (l *Log) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// Fail counts n failures; err and attrs describe the latest. The first
// failure after a success is logged at Level, later ones at debug level,
// or as a reminder when Remind has passed since the last line.
func (l *Log) Fail(n int, err error, attrs ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	args := append([]any{"err", err, "count", n}, attrs...)
	switch {
	case !l.failing.Load():
		l.failing.Store(true)
		l.since, l.logged, l.total, l.quiet = now, now, n, 0
		l.Logger.Log(context.Background(), l.Level, l.Failed, args...)
	case l.Remind > 0 && now.Sub(l.logged) >= l.Remind:
		l.total += n
		args = append(args, "more_since_last_report", l.quiet, "since", l.since.UTC().Format(time.RFC3339))
		l.logged, l.quiet = now, 0
		l.Logger.Log(context.Background(), l.Level, l.Failed, args...)
	default:
		l.total += n
		l.quiet += n
		l.Logger.Debug(l.Failed+" (still)", args...)
	}
}

// OK ends the failure, if there is one, with a line saying how long it
// lasted and how many failures it cost.
func (l *Log) OK() {
	if !l.failing.Load() {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.failing.Load() {
		return
	}
	l.failing.Store(false)
	l.Logger.Info(l.Back, "failures", l.total, "lasted", l.now().Sub(l.since).Round(time.Millisecond).String())
}
