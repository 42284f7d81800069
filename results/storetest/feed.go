package storetest

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/picketnet/picket/results"
)

// testFeed: ResultsAfter hands out each stored result exactly once, in
// pages, with duplicates and late results, and while batches commit
// concurrently.
func testFeed(t *testing.T, s results.Store) {
	ctx := context.Background()
	_, cur, err := s.ResultsAfter(ctx, nil, "", 100)
	if err != nil {
		t.Fatalf("head: %v", err)
	}
	// read passes the memory of its last page back, as the alert
	// evaluator does, behind a result of its own that must stay first.
	var page []results.Result
	mark := results.Result{ID: "not-from-the-store"}
	read := func(limit int) []results.Result {
		t.Helper()
		rs, next, err := s.ResultsAfter(ctx, append(page[:0], mark), cur, limit)
		if err != nil {
			t.Fatalf("ResultsAfter(%q): %v", cur, err)
		}
		if len(rs) == 0 || rs[0].ID != mark.ID {
			t.Fatalf("ResultsAfter(%q) did not append to dst: %d results", cur, len(rs))
		}
		cur, page = next, rs
		return slices.Clone(rs[1:])
	}
	if rs := read(100); len(rs) != 0 {
		t.Fatalf("empty feed gave %d results", len(rs))
	}

	batch := simpleBatch("feed-a", 3, t0)
	ingest(t, s, batch)
	got := read(100)
	if len(got) != 3 {
		t.Fatalf("after one batch of 3: %d results", len(got))
	}
	byID := map[string]results.Result{}
	for _, r := range got {
		byID[r.ID] = r
	}
	for _, want := range batch {
		if !reflect.DeepEqual(byID[want.ID], want) {
			t.Errorf("fed %+v\nwant %+v", byID[want.ID], want)
		}
	}
	if rs := read(100); len(rs) != 0 {
		t.Fatalf("read again: %d results, want none", len(rs))
	}
	ingest(t, s, batch) // duplicates are not stored again, nor fed
	if rs := read(100); len(rs) != 0 {
		t.Fatalf("after a duplicate batch: %d results, want none", len(rs))
	}

	// Pages: 5 batches of 10, one of them late by a day, read 15 at a time.
	var want []string
	for b := range 5 {
		at := t0.Add(time.Hour)
		if b == 2 {
			at = t0.Add(-24 * time.Hour)
		}
		rs := simpleBatch(fmt.Sprintf("feed-p%d", b), 10, at)
		ingest(t, s, rs)
		for _, r := range rs {
			want = append(want, r.ID)
		}
	}
	seen := map[string]int{}
	for range 10 {
		rs := read(15)
		if len(rs) == 0 {
			break
		}
		for _, r := range rs {
			seen[r.ID]++
		}
	}
	checkOnce(t, seen, want)

	// Batches committing concurrently while the feed is read.
	const writers, batches = 4, 15
	var wg sync.WaitGroup
	var mu sync.Mutex
	want = want[:0]
	for w := range writers {
		wg.Go(func() {
			for b := range batches {
				rs := simpleBatch(fmt.Sprintf("feed-c%d-%02d", w, b), 20, t0.Add(time.Duration(b)*time.Minute))
				if _, err := s.Ingest(ctx, rs); err != nil {
					t.Errorf("ingest: %v", err)
					return
				}
				mu.Lock()
				for _, r := range rs {
					want = append(want, r.ID)
				}
				mu.Unlock()
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	// A batch can show in the feed a little after its commit, once no
	// older transaction is still running (a store may hold it back until
	// then), so the reader keeps reading for a while after the writers end.
	seen = map[string]int{}
	var deadline <-chan time.Time
	for fed := 0; ; {
		select {
		case <-done:
			if deadline == nil {
				deadline = time.After(10 * time.Second)
			}
		case <-deadline:
			t.Errorf("the feed gave %d of %d results 10 s after the last commit", fed, len(want))
		default:
		}
		rs := read(50)
		for _, r := range rs {
			seen[r.ID]++
		}
		fed += len(rs)
		if deadline != nil && fed >= len(want) || t.Failed() {
			break
		}
		if len(rs) == 0 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	checkOnce(t, seen, want)
}

// checkOnce fails unless seen holds each of want exactly once, and nothing else.
func checkOnce(t *testing.T, seen map[string]int, want []string) {
	t.Helper()
	for _, id := range want {
		if seen[id] != 1 {
			t.Errorf("result %s fed %d times, want once", id, seen[id])
		}
		delete(seen, id)
	}
	for id, n := range seen {
		t.Errorf("fed %s (%d times), which was not stored in this step", id, n)
	}
}
