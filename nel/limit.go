package nel

import (
	"math"
	"sync"
	"time"
)

// limiter is a token bucket per client network. The table is bounded:
// when full, buckets that have refilled are forgotten first (forgetting a
// full bucket changes nothing), then arbitrary ones, so a flood from many
// networks cannot grow memory, at worst it resets someone's budget.
type limiter struct {
	rate  float64 // tokens per second
	burst float64
	max   int

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(rate, burst float64, max int) *limiter {
	return &limiter{rate: rate, burst: burst, max: max, buckets: make(map[string]*bucket)}
}

// take removes n tokens from key's bucket. When there are fewer it takes
// none and says how long until there would be enough.
func (l *limiter) take(key string, n float64, now time.Time) (ok bool, retry time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= l.max {
			l.evict(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	if d := now.Sub(b.at); d > 0 {
		b.tokens = math.Min(l.burst, b.tokens+d.Seconds()*l.rate)
		b.at = now
	}
	if b.tokens >= n {
		b.tokens -= n
		return true, 0
	}
	if n > l.burst {
		// Never satisfiable; the caller caps requests below the burst.
		return false, time.Duration(l.burst / l.rate * float64(time.Second))
	}
	return false, time.Duration((n - b.tokens) / l.rate * float64(time.Second))
}

func (l *limiter) evict(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
	for k := range l.buckets {
		if len(l.buckets) < l.max {
			return
		}
		delete(l.buckets, k)
	}
}
