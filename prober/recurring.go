package prober

import (
	"log/slog"
	"sync"
	"time"
)

// recurring reports a failure that can repeat with every result (a full
// disk, a collector refusing records) as one log line when it starts, a
// reminder at most every period with how often it recurred meanwhile,
// and one line when it clears: one line per problem, not one per result,
// so that the line that says what is wrong is not buried.
type recurring struct {
	log    *slog.Logger
	msg    string
	period time.Duration

	mu      sync.Mutex
	failing bool
	since   time.Time // of the first failure
	logged  time.Time // of the last line
	quiet   int       // failures not logged since the last line
	total   int       // failures since the first
}

// fail counts n failures; err and attrs describe the latest.
func (r *recurring) fail(n int, err error, attrs ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if !r.failing {
		r.failing, r.since, r.total = true, now, 0
	}
	r.total += n
	if !r.logged.IsZero() && now.Sub(r.logged) < r.period {
		r.quiet += n
		return
	}
	args := append([]any{"err", err, "count", n}, attrs...)
	if r.quiet > 0 {
		args = append(args, "more_since_last_report", r.quiet, "since", r.since.UTC().Format(time.RFC3339))
	}
	r.log.Error(r.msg, args...)
	r.logged, r.quiet = now, 0
}

// ok ends the failure, if there was one, with a line saying how much it
// cost.
func (r *recurring) ok() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.failing {
		return
	}
	r.log.Info(r.msg+": resolved", "count", r.total, "lasted", time.Since(r.since).Round(time.Second).String())
	r.failing, r.logged, r.quiet, r.total = false, time.Time{}, 0, 0
}
