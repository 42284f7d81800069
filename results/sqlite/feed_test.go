package sqlite

import (
	"fmt"
	"testing"

	"github.com/picketnet/picket/results"
)

// TestRecentFeed: the in-memory feed answers only for a cursor at the end
// of a commit it holds, with whole commits, and sends every other reader
// to the database.
func TestRecentFeed(t *testing.T) {
	commit := func(n int, tag string) []results.Result {
		rs := make([]results.Result, n)
		for i := range rs {
			rs[i].ID = fmt.Sprintf("%s-%d", tag, i)
		}
		return rs
	}
	f := recentFeed{from: 100}
	f.add(103, commit(3, "a")) // rows 101..103
	f.add(105, commit(2, "b")) // rows 104..105
	f.add(105, nil)            // a commit of duplicates only adds nothing
	tests := []struct {
		name     string
		cursor   int64
		limit    int
		wantIDs  int
		wantLast int64
		wantOK   bool
	}{
		{"inside the first commit", 101, 10, 0, 0, false},
		{"before what the feed holds", 99, 10, 0, 0, false},
		{"at its start, a page of one commit", 100, 2, 3, 103, true},
		{"at a commit's end", 103, 10, 2, 105, true},
		{"at the end", 105, 10, 0, 105, true},
		{"before, again, after the reader moved on", 100, 10, 0, 0, false},
	}
	for _, tc := range tests {
		rs, last, ok := f.after(nil, tc.cursor, tc.limit)
		if ok != tc.wantOK || len(rs) != tc.wantIDs || ok && last != tc.wantLast {
			t.Errorf("%s: after(%d, %d) = %d results, last %d, ok %v; want %d, %d, %v",
				tc.name, tc.cursor, tc.limit, len(rs), last, ok, tc.wantIDs, tc.wantLast, tc.wantOK)
		}
	}

	// Rowids that start again (retention emptied the table) reset it.
	f.add(2, commit(2, "c"))
	if _, _, ok := f.after(nil, 105, 10); ok {
		t.Error("after rowids started again, the feed still answered for the old cursor")
	}

	// Beyond its bound the feed forgets the oldest commits.
	g := recentFeed{}
	g.add(recentFeedMax, commit(recentFeedMax, "d"))
	g.add(recentFeedMax+1, commit(1, "e"))
	if _, _, ok := g.after(nil, 0, 10); ok {
		t.Error("a reader behind the bound was answered from memory")
	}
	if rs, _, ok := g.after(nil, recentFeedMax, 10); !ok || len(rs) != 1 {
		t.Errorf("after the bound: %d results, ok %v; want the last commit", len(rs), ok)
	}
}
