package collector

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/picketnet/picket/results"
)

// TestCommitterMerges: concurrent ingests with overlapping ids, merged into
// shared transactions however they happen to group: every id is reported
// new exactly once, every other copy as a duplicate, and each caller hears
// only about its own records.
func TestCommitterMerges(t *testing.T) {
	st := openSQLite(t)
	var mu sync.Mutex
	var groups []int
	c := newCommitter(st, 1, 250, func(n int, _ time.Duration) {
		mu.Lock()
		groups = append(groups, n)
		mu.Unlock()
	})
	at := time.Now().UTC()
	const callers = 16
	batches := make([][]results.Result, callers)
	for i := range callers {
		// Caller i sends ids i*40 .. i*40+49: ten shared with caller i+1.
		for j := i * 40; j < i*40+50; j++ {
			batches[i] = append(batches[i], record(fmt.Sprintf("id-%04d", j), "t", "web", "v", at, true, 1))
		}
	}
	outs := make([]results.IngestOutcome, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() { outs[i], errs[i] = c.ingest(context.Background(), batches[i]) })
	}
	wg.Wait()
	fresh := map[string]int{}
	for i, out := range outs {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if len(out.Accepted)+len(out.Duplicate) != len(batches[i]) {
			t.Errorf("caller %d: %d accepted + %d duplicate, want %d", i, len(out.Accepted), len(out.Duplicate), len(batches[i]))
		}
		mine := map[string]bool{}
		for _, r := range batches[i] {
			mine[r.ID] = true
		}
		for _, id := range append(append([]string{}, out.Accepted...), out.Duplicate...) {
			if !mine[id] {
				t.Errorf("caller %d told about id %s it did not send", i, id)
			}
		}
		for _, id := range out.Accepted {
			fresh[id]++
		}
	}
	const distinct = callers*40 + 10
	if len(fresh) != distinct {
		t.Errorf("%d ids reported new, want %d", len(fresh), distinct)
	}
	for id, n := range fresh {
		if n != 1 {
			t.Errorf("id %s reported new %d times", id, n)
		}
	}
	stored, err := st.Query(context.Background(), results.ResultQuery{Limit: 10000})
	if err != nil || len(stored) != distinct {
		t.Errorf("stored %d (%v), want %d", len(stored), err, distinct)
	}
	total := 0
	for _, n := range groups {
		if n > 250 {
			t.Errorf("a transaction of %d records exceeds the group bound", n)
		}
		total += n
	}
	if total < distinct || total > callers*50 {
		t.Errorf("transactions carried %d records, want %d..%d", total, distinct, callers*50)
	}
}
