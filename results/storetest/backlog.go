package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/picketnet/picket/results"
)

// Backlog is a store that can count its compaction backlog, the batches
// of rollup deltas waiting to be folded, as both stores can.
type Backlog interface {
	results.Store
	PendingRollups(ctx context.Context) (int64, error)
	Compact(ctx context.Context) error
}

// RunBacklog checks PendingRollups on a store whose background
// compaction the caller has stopped: one pending batch per ingest that
// stored new results, none for a batch of duplicates only, and none once
// compacted.
func RunBacklog(t *testing.T, s Backlog) {
	ctx := context.Background()
	pending := func(want int64, after string) {
		t.Helper()
		n, err := s.PendingRollups(ctx)
		if err != nil {
			t.Fatalf("pending rollups: %v", err)
		}
		if n != want {
			t.Errorf("after %s: %d batches pending, want %d", after, n, want)
		}
	}
	pending(0, "opening an empty store")
	at := time.Now().UTC().Truncate(time.Minute).Add(-time.Hour)
	first := simpleBatch("backlog-a", 20, at)
	ingest(t, s, first)
	ingest(t, s, simpleBatch("backlog-b", 20, at.Add(time.Minute)))
	ingest(t, s, simpleBatch("backlog-c", 20, at.Add(2*time.Minute)))
	pending(3, "three batches of new results")
	if out := ingest(t, s, first); len(out.Accepted) != 0 {
		t.Fatalf("a batch sent again stored %d results again", len(out.Accepted))
	}
	pending(3, "a batch of duplicates")
	if err := s.Compact(ctx); err != nil {
		t.Fatalf("compact: %v", err)
	}
	pending(0, "compaction")
}
