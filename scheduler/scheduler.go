package scheduler

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/google/uuid"
)

// ErrStopped is the cause of the context of a run cut short by Stop.
var ErrStopped = errors.New("scheduler stopped")

// ErrTimeout is the cause of the context of a run that reached its
// job's timeout.
var ErrTimeout = errors.New("run timed out")

// Job is one periodic task.
type Job struct {
	// Key identifies the job and, with the seed, fixes its phase.
	Key string
	// Version changes when the job's definition changes; Set leaves a job
	// whose key and version are both unchanged running as it is.
	Version  string
	Interval time.Duration
	// Timeout bounds each run; 0 means Interval.
	Timeout time.Duration
	// Run performs one run. Its context ends at the timeout (cause
	// ErrTimeout) or when Stop gives up waiting (cause ErrStopped).
	Run func(ctx context.Context)
}

// Hooks observe the scheduler; every field is optional. They are called
// from run goroutines and must be safe for concurrent use.
type Hooks struct {
	// Started is called as a run starts, with how late it is relative to
	// its slot.
	Started func(key string, lag time.Duration)
	// Skipped is called when a run is due while the previous one of the
	// same job is still going.
	Skipped func(key string)
}

// Options configure a scheduler.
type Options struct {
	// Seed shifts every phase; use the vantage id.
	Seed string
	// Concurrency caps simultaneous runs; 0 means 256.
	Concurrency int
	Hooks       Hooks
	// Now is the clock used for phases; nil means time.Now. Tests only.
	Now func() time.Time
}

// Scheduler runs jobs. Create one with New, then Start it.
type Scheduler struct {
	opts    Options
	cron    gocron.Scheduler
	sem     chan struct{}
	base    context.Context
	cancel  context.CancelCauseFunc
	running atomic.Int64

	// gate orders run starts against Stop, so that no run joins wg after
	// Stop began waiting on it.
	gate   sync.RWMutex
	closed bool
	wg     sync.WaitGroup

	mu      sync.Mutex
	jobs    map[string]*entry
	stopped bool
	// stopping is closed when Stop begins, so that a run still waiting for
	// a concurrency slot gives up rather than start after Stop.
	stopping chan struct{}
}

type entry struct {
	job Job
	id  uuid.UUID
	// busy is shared by every version of a key, so that a changed job
	// does not start while a run of its previous version is still going.
	busy *atomic.Bool
}

// New returns a scheduler that is not started yet.
func New(opts Options) (*Scheduler, error) {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 256
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	// gocron's own wait for running jobs is kept short: Stop does the
	// waiting that matters, bounded by its context.
	cron, err := gocron.NewScheduler(gocron.WithStopTimeout(50 * time.Millisecond))
	if err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	base, cancel := context.WithCancelCause(context.Background())
	return &Scheduler{
		opts: opts, cron: cron, sem: make(chan struct{}, opts.Concurrency),
		base: base, cancel: cancel, jobs: map[string]*entry{}, stopping: make(chan struct{}),
	}, nil
}

// Start begins running jobs.
func (s *Scheduler) Start() { s.cron.Start() }

// Offset is the phase of key under seed within interval.
func Offset(seed, key string, interval time.Duration) time.Duration {
	h := fnv.New64a()
	h.Write([]byte(seed))
	h.Write([]byte{0})
	h.Write([]byte(key))
	return time.Duration(h.Sum64() % uint64(interval))
}

// slot returns the start of the slot of a job with the given interval and
// offset nearest to t.
func slot(t time.Time, interval, offset time.Duration) time.Time {
	since := t.Sub(time.Unix(0, 0)) - offset
	k := (since + interval/2) / interval
	return time.Unix(0, 0).Add(offset + k*interval)
}

// next returns the first slot strictly after t.
func next(t time.Time, interval, offset time.Duration) time.Time {
	since := t.Sub(time.Unix(0, 0)) - offset
	k := since/interval + 1
	return time.Unix(0, 0).Add(offset + k*interval)
}

// Changes says what Set did.
type Changes struct {
	Added, Changed, Removed, Kept int
}

// Set makes jobs the scheduler's job set. A job with the key and version
// of a current one is kept as it is (its runs and phase are not
// disturbed); other current jobs are removed (a run in progress finishes)
// and new or changed jobs are added. Keys must be unique.
func (s *Scheduler) Set(jobs []Job) (Changes, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return Changes{}, ErrStopped
	}
	want := make(map[string]Job, len(jobs))
	for _, j := range jobs {
		if j.Key == "" || j.Run == nil {
			return Changes{}, fmt.Errorf("scheduler: job %q: missing key or run function", j.Key)
		}
		if j.Interval <= 0 {
			return Changes{}, fmt.Errorf("scheduler: job %q: interval %s is not positive", j.Key, j.Interval)
		}
		if _, dup := want[j.Key]; dup {
			return Changes{}, fmt.Errorf("scheduler: job %q given twice", j.Key)
		}
		if j.Timeout <= 0 || j.Timeout > j.Interval {
			j.Timeout = j.Interval
		}
		want[j.Key] = j
	}
	var ch Changes
	busy := map[string]*atomic.Bool{}
	for key, e := range s.jobs {
		if j, ok := want[key]; ok && j.Version == e.job.Version && j.Interval == e.job.Interval && j.Timeout == e.job.Timeout {
			ch.Kept++
			delete(want, key)
			continue
		}
		if err := s.cron.RemoveJob(e.id); err != nil && !errors.Is(err, gocron.ErrJobNotFound) {
			return ch, fmt.Errorf("scheduler: remove %q: %w", key, err)
		}
		delete(s.jobs, key)
		busy[key] = e.busy
	}
	for key, j := range want {
		e := &entry{job: j, busy: busy[key]}
		if e.busy == nil {
			e.busy = new(atomic.Bool)
		}
		offset := Offset(s.opts.Seed, key, j.Interval)
		first := next(s.opts.Now().Add(10*time.Millisecond), j.Interval, offset)
		cj, err := s.cron.NewJob(
			gocron.DurationJob(j.Interval),
			gocron.NewTask(func() { s.fire(e, offset) }),
			// The first slot may have passed by the time gocron looks at
			// it (a large Set on a busy machine): gocron then moves it on
			// by whole intervals, keeping the phase, where
			// WithStartDateTime would fail the whole Set.
			gocron.WithStartAt(gocron.WithStartDateTimePast(first)),
			gocron.WithName(key),
		)
		if err != nil {
			return ch, fmt.Errorf("scheduler: add %q: %w", key, err)
		}
		e.id = cj.ID()
		s.jobs[key] = e
		if busy[key] != nil {
			ch.Changed++
		} else {
			ch.Added++
		}
	}
	ch.Removed = len(busy) - ch.Changed
	return ch, nil
}

// fire is gocron's task: it enforces no-overlap, the concurrency cap and
// the timeout.
func (s *Scheduler) fire(e *entry, offset time.Duration) {
	due := slot(s.opts.Now(), e.job.Interval, offset)
	if !e.busy.CompareAndSwap(false, true) {
		if h := s.opts.Hooks.Skipped; h != nil {
			h(e.job.Key)
		}
		return
	}
	defer e.busy.Store(false)
	s.gate.RLock()
	if s.closed {
		s.gate.RUnlock()
		return
	}
	s.wg.Add(1)
	s.gate.RUnlock()
	defer s.wg.Done()
	select {
	case s.sem <- struct{}{}:
	case <-s.stopping:
		return
	}
	defer func() { <-s.sem }()
	select {
	case <-s.stopping:
		// The slot was freed by a run that Stop was waiting for.
		return
	default:
	}
	if h := s.opts.Hooks.Started; h != nil {
		h(e.job.Key, max(0, s.opts.Now().Sub(due)))
	}
	s.running.Add(1)
	defer s.running.Add(-1)
	ctx, cancel := context.WithTimeoutCause(s.base, e.job.Timeout, ErrTimeout)
	defer cancel()
	e.job.Run(ctx)
}

// Running is how many runs are in progress.
func (s *Scheduler) Running() int { return int(s.running.Load()) }

// Len is how many jobs are scheduled.
func (s *Scheduler) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.jobs)
}

// Stop stops starting runs, waits for the runs in progress until ctx is
// done, then cancels those still going (cause ErrStopped) and waits for
// them to return.
func (s *Scheduler) Stop(ctx context.Context) error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return nil
	}
	s.stopped = true
	close(s.stopping)
	s.mu.Unlock()
	// gocron's own wait is bounded by its stop timeout; the wait that
	// matters is below, on wg, bounded by ctx.
	err := s.cron.StopJobs()
	if errors.Is(err, gocron.ErrStopJobsTimedOut) {
		err = nil
	}
	s.gate.Lock()
	s.closed = true
	s.gate.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.cancel(ErrStopped)
		<-done
	}
	s.cancel(ErrStopped)
	if serr := s.cron.Shutdown(); serr != nil && !errors.Is(serr, gocron.ErrStopSchedulerTimedOut) {
		err = errors.Join(err, serr)
	}
	return err
}
