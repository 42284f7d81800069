package scheduler

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func start(t *testing.T, opts Options) *Scheduler {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Stop(ctx)
	})
	return s
}

// highWater counts runs in progress and remembers the most at once.
type highWater struct{ cur, max atomic.Int64 }

// enter counts a run in; the function it returns counts it out.
func (h *highWater) enter() (exit func()) {
	n := h.cur.Add(1)
	for {
		m := h.max.Load()
		if n <= m || h.max.CompareAndSwap(m, n) {
			return func() { h.cur.Add(-1) }
		}
	}
}

// waitFor polls cond; the test's own deadline bounds it.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestOffsetsSpreadEvenlyAndAreStable(t *testing.T) {
	const n, buckets = 10000, 10
	interval := 10 * time.Second
	var count [buckets]int
	for i := range n {
		key := fmt.Sprintf("endpoint-%d/http", i)
		off := Offset("hel1-a", key, interval)
		if off < 0 || off >= interval {
			t.Fatalf("offset %s outside [0, %s)", off, interval)
		}
		if again := Offset("hel1-a", key, interval); again != off {
			t.Fatalf("offset of %s changed from %s to %s between calls", key, off, again)
		}
		count[off*buckets/interval]++
	}
	for b, c := range count {
		// A uniform spread puts n/buckets = 1000 in each second; allow 15%.
		if c < 850 || c > 1150 {
			t.Fatalf("second %d of the interval has %d of %d checks: %v", b, c, n, count)
		}
	}
	same := 0
	for i := range 100 {
		key := fmt.Sprintf("endpoint-%d/http", i)
		if Offset("hel1-a", key, interval) == Offset("fra1-b", key, interval) {
			same++
		}
	}
	if same > 2 {
		t.Fatalf("%d of 100 checks have the same phase on two vantages", same)
	}
}

func TestRunsNeverStartBeforeTheirSlot(t *testing.T) {
	t.Parallel()
	const interval = 2 * time.Second
	var mu sync.Mutex
	first := map[string]time.Time{}
	s := start(t, Options{Seed: "v1"})
	added := time.Now()
	var jobs []Job
	for i := range 8 {
		key := fmt.Sprintf("c%d", i)
		jobs = append(jobs, Job{Key: key, Interval: interval, Run: func(context.Context) {
			mu.Lock()
			defer mu.Unlock()
			if _, ok := first[key]; !ok {
				first[key] = time.Now()
			}
		}})
	}
	if _, err := s.Set(jobs); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every job to run", func() bool { mu.Lock(); defer mu.Unlock(); return len(first) == 8 })
	mu.Lock()
	defer mu.Unlock()
	for key, at := range first {
		// Never before its own slot. (How late is measured by the
		// benchmarks, not asserted here.)
		slot := next(added.Add(10*time.Millisecond), interval, Offset("v1", key, interval))
		if at.Before(slot) {
			t.Errorf("%s first ran at %s, before its slot at %s", key, at.Format(time.StampMilli), slot.Format(time.StampMilli))
		}
	}
}

func TestNoOverlappingRunsAndSkipsCounted(t *testing.T) {
	t.Parallel()
	var skipped, runs atomic.Int64
	var active highWater
	release := make(chan struct{})
	s := start(t, Options{Seed: "v", Hooks: Hooks{Skipped: func(string) { skipped.Add(1) }}})
	_, err := s.Set([]Job{{Key: "slow", Interval: time.Second, Run: func(context.Context) {
		runs.Add(1)
		defer active.enter()()
		<-release // outlives its interval (and ignores its timeout) on purpose
	}}})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "two skipped runs", func() bool { return skipped.Load() >= 2 })
	close(release)
	waitFor(t, "a run after the slow one", func() bool { return runs.Load() >= 2 })
	if m := active.max.Load(); m != 1 {
		t.Fatalf("%d runs of one check overlapped", m)
	}
	if runs.Load() > 1+skipped.Load()+5 {
		t.Fatalf("implausible: %d runs, %d skips", runs.Load(), skipped.Load())
	}
}

func TestTimeoutAndConcurrencyCap(t *testing.T) {
	t.Parallel()
	var active highWater
	var mu sync.Mutex
	causes := map[string]error{}
	s := start(t, Options{Seed: "v", Concurrency: 3})
	var jobs []Job
	for i := range 12 {
		key := fmt.Sprintf("c%d", i)
		jobs = append(jobs, Job{Key: key, Interval: 5 * time.Second, Timeout: 300 * time.Millisecond, Run: func(ctx context.Context) {
			defer active.enter()()
			<-ctx.Done()
			mu.Lock()
			if _, ok := causes[key]; !ok {
				causes[key] = context.Cause(ctx)
			}
			mu.Unlock()
		}})
	}
	if _, err := s.Set(jobs); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every job to time out", func() bool { mu.Lock(); defer mu.Unlock(); return len(causes) == 12 })
	if m := active.max.Load(); m > 3 {
		t.Fatalf("%d runs at once with a cap of 3", m)
	}
	for key, c := range causes {
		if !errors.Is(c, ErrTimeout) {
			t.Fatalf("%s ended with %v, want the timeout", key, c)
		}
	}
}

func TestSetKeepsUnchangedJobs(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	runs := map[string][]time.Time{}
	cancelled := map[string]bool{}
	inA := make(chan struct{})
	releaseA := make(chan struct{})
	var aOnce sync.Once
	job := func(key, version string) Job {
		return Job{Key: key, Version: version, Interval: time.Second, Run: func(ctx context.Context) {
			mu.Lock()
			runs[key+"@"+version] = append(runs[key+"@"+version], time.Now())
			mu.Unlock()
			if key == "a" {
				aOnce.Do(func() {
					close(inA)
					select {
					case <-releaseA:
					case <-ctx.Done():
						// Its own 1 s timeout may pass first on a loaded
						// machine; any other cause is the change.
						if !errors.Is(context.Cause(ctx), ErrTimeout) {
							mu.Lock()
							cancelled[key] = true
							mu.Unlock()
						}
					}
				})
			}
		}}
	}
	count := func(k string) int { mu.Lock(); defer mu.Unlock(); return len(runs[k]) }
	s := start(t, Options{Seed: "v"})
	if _, err := s.Set([]Job{job("a", "1"), job("b", "1"), job("c", "1")}); err != nil {
		t.Fatal(err)
	}
	<-inA // a run of a is in progress while the assignment changes
	s.mu.Lock()
	aID := s.jobs["a"].id
	s.mu.Unlock()
	waitFor(t, "b and c to run", func() bool { return count("b@1") > 0 && count("c@1") > 0 })
	ch, err := s.Set([]Job{job("a", "1"), job("b", "2"), job("d", "1")})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Changes{Added: 1, Changed: 1, Removed: 1, Kept: 1}); ch != want {
		t.Fatalf("changes %+v, want %+v", ch, want)
	}
	close(releaseA)
	cAfter, bOld := count("c@1"), count("b@1")
	waitFor(t, "a, b@2 and d to run twice more", func() bool {
		return count("a@1") >= 3 && count("b@2") >= 2 && count("d@1") >= 2
	})
	mu.Lock()
	defer mu.Unlock()
	if cancelled["a"] {
		t.Fatal("the unchanged job's run was cancelled by the change")
	}
	if len(runs["c@1"]) != cAfter || len(runs["b@1"]) != bOld {
		t.Fatalf("removed or replaced jobs kept running: c %d->%d, b@1 %d->%d", cAfter, len(runs["c@1"]), bOld, len(runs["b@1"]))
	}
	if s.Len() != 3 {
		t.Fatalf("%d jobs scheduled, want 3", s.Len())
	}
	// a kept its gocron job, hence its schedule and phase.
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.jobs["a"].id != aID {
		t.Fatal("the unchanged job was rescheduled")
	}
}

func TestStopCancelsRunsPastTheDeadline(t *testing.T) {
	t.Parallel()
	s, err := New(Options{Seed: "v"})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	started := make(chan struct{})
	cause := make(chan error, 1)
	_, err = s.Set([]Job{{Key: "k", Interval: time.Second, Run: func(ctx context.Context) {
		close(started)
		<-ctx.Done()
		cause <- context.Cause(ctx)
	}}})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if c := <-cause; !errors.Is(c, ErrStopped) {
		t.Fatalf("run ended with %v, want ErrStopped", c)
	}
	if _, err := s.Set(nil); !errors.Is(err, ErrStopped) {
		t.Fatalf("Set after Stop: %v", err)
	}
}

// A run that is due but waiting for a concurrency slot when Stop begins
// never starts: Stop stops starting runs, even when a slot frees up while
// it waits for the runs in progress.
func TestStopStartsNoWaitingRun(t *testing.T) {
	t.Parallel()
	s := start(t, Options{Seed: "v", Concurrency: 1})
	hold, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	var ranB atomic.Int64
	_, err := s.Set([]Job{
		// hold takes the only slot and keeps it until released.
		{Key: "hold", Interval: 20 * time.Millisecond, Run: func(context.Context) {
			once.Do(func() { close(hold) })
			<-release
		}},
		{Key: "b", Interval: 20 * time.Millisecond, Run: func(context.Context) { ranB.Add(1) }},
	})
	if err != nil {
		t.Fatal(err)
	}
	<-hold
	// b falls due several times while hold runs: a run of b is left
	// waiting for the slot.
	time.Sleep(100 * time.Millisecond)
	before := ranB.Load()
	stopped := make(chan error, 1)
	go func() { stopped <- s.Stop(context.Background()) }()
	waitFor(t, "Stop to begin", func() bool {
		_, err := s.Set(nil)
		return errors.Is(err, ErrStopped)
	})
	close(release)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if after := ranB.Load(); after != before {
		t.Fatalf("b ran %d times after Stop began", after-before)
	}
}

// A job whose first slot has already passed when it is added (a large
// Set on a busy machine; here a clock that runs behind) still runs, on its
// phase, rather than failing the whole Set.
func TestSetWithFirstSlotPassed(t *testing.T) {
	t.Parallel()
	s := start(t, Options{Seed: "v", Now: func() time.Time { return time.Now().Add(-time.Minute) }})
	var ran atomic.Int64
	if _, err := s.Set([]Job{{Key: "late", Interval: 50 * time.Millisecond, Run: func(context.Context) { ran.Add(1) }}}); err != nil {
		t.Fatalf("Set: %v", err)
	}
	waitFor(t, "the job to run", func() bool { return ran.Load() > 0 })
}
