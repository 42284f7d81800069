package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/results/storetest"
)

func TestAlertStore(t *testing.T) {
	storetest.RunAlerts(t, func(t *testing.T) results.AlertStore {
		s, err := Open(context.Background(), filepath.Join(t.TempDir(), "picket.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestHoldsLock(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "picket.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if held, err := s.HoldsLock(ctx, "alerting"); err != nil || held {
		t.Fatalf("HoldsLock before TryLock: %v %v", held, err)
	}
	unlock, ok, err := s.TryLock(ctx, "alerting")
	if err != nil || !ok {
		t.Fatalf("TryLock: %v %v", ok, err)
	}
	if held, err := s.HoldsLock(ctx, "alerting"); err != nil || !held {
		t.Fatalf("HoldsLock after TryLock: %v %v", held, err)
	}
	unlock()
	if held, err := s.HoldsLock(ctx, "alerting"); err != nil || held {
		t.Fatalf("HoldsLock after unlock: %v %v", held, err)
	}
}

func BenchmarkAlertCycle(b *testing.B) {
	s, err := Open(context.Background(), filepath.Join(b.TempDir(), "picket.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchAlertCycle(b, s)
}
