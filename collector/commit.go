package collector

import (
	"context"
	"sync"
	"time"

	"github.com/picketnet/picket/results"
)

// committer merges the batches that arrive while the store is busy into
// one Ingest call (group commit). A store pays a fixed price per
// transaction (a WAL fsync, a rollup read-modify-write, a COPY round trip),
// so under load a few large transactions sustain far more results per
// second than many small ones, and every batch is still acknowledged only
// after the transaction holding it has committed.
//
// There is no background goroutine: a request that finds a commit slot
// free becomes the leader, takes everything queued (up to maxRecords) and
// commits it on behalf of the others, who wait for their done channel.
type committer struct {
	store      results.ResultStore
	maxRecords int
	slots      chan struct{}
	timeout    time.Duration
	observe    func(records int, d time.Duration)

	mu    sync.Mutex
	queue []*commitReq
}

type commitReq struct {
	rs   []results.Result
	done chan struct{}
	out  results.IngestOutcome
	err  error
}

func newCommitter(st results.ResultStore, concurrency, maxRecords int, observe func(int, time.Duration)) *committer {
	return &committer{
		store:      st,
		maxRecords: maxRecords,
		slots:      make(chan struct{}, concurrency),
		timeout:    time.Minute,
		observe:    observe,
	}
}

// ingest stores rs durably, possibly together with other requests' records.
func (c *committer) ingest(ctx context.Context, rs []results.Result) (results.IngestOutcome, error) {
	req := &commitReq{rs: rs, done: make(chan struct{})}
	c.mu.Lock()
	c.queue = append(c.queue, req)
	c.mu.Unlock()
	for {
		select {
		case <-req.done:
			return req.out, req.err
		case c.slots <- struct{}{}:
			if group := c.take(); len(group) > 0 {
				c.commit(ctx, group)
			}
			<-c.slots
		case <-ctx.Done():
			c.mu.Lock()
			for i, q := range c.queue {
				if q == req {
					c.queue = append(c.queue[:i], c.queue[i+1:]...)
					break
				}
			}
			c.mu.Unlock()
			// If a leader already took the request, it may still commit;
			// ingest is idempotent, so the prober's retry is harmless.
			return results.IngestOutcome{}, ctx.Err()
		}
	}
}

// take removes from the queue the requests of the next group: at least
// one, then more while they fit in maxRecords.
func (c *committer) take() []*commitReq {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, total := 0, 0
	for _, q := range c.queue {
		if n > 0 && total+len(q.rs) > c.maxRecords {
			break
		}
		n++
		total += len(q.rs)
	}
	group := make([]*commitReq, n)
	copy(group, c.queue[:n])
	c.queue = c.queue[n:]
	return group
}

// commit ingests a group in one call and gives each request its outcome.
// An id present in several requests is stored once and reported as a
// duplicate to all but the first.
func (c *committer) commit(ctx context.Context, group []*commitReq) {
	all := group[0].rs
	if len(group) > 1 {
		total := 0
		for _, q := range group {
			total += len(q.rs)
		}
		all = make([]results.Result, 0, total)
		seen := make(map[string]struct{}, total)
		for _, q := range group {
			for i := range q.rs {
				if _, dup := seen[q.rs[i].ID]; !dup {
					seen[q.rs[i].ID] = struct{}{}
					all = append(all, q.rs[i])
				}
			}
		}
	}
	// The leader commits for others too: its own client going away must
	// not abort their transaction.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
	defer cancel()
	start := time.Now()
	out, err := c.store.Ingest(cctx, all)
	if c.observe != nil {
		c.observe(len(all), time.Since(start))
	}
	if len(group) == 1 {
		group[0].out, group[0].err = out, err
		close(group[0].done)
		return
	}
	fresh := make(map[string]struct{}, len(out.Accepted))
	for _, id := range out.Accepted {
		fresh[id] = struct{}{}
	}
	for _, q := range group {
		q.err = err
		if err == nil {
			q.out.Accepted = make([]string, 0, len(q.rs))
			for i := range q.rs {
				id := q.rs[i].ID
				if _, ok := fresh[id]; ok {
					q.out.Accepted = append(q.out.Accepted, id)
					delete(fresh, id) // later copies are duplicates
				} else {
					q.out.Duplicate = append(q.out.Duplicate, id)
				}
			}
		}
		close(q.done)
	}
}
