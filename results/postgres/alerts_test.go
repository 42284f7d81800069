package postgres

import (
	"context"
	"testing"

	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/results/storetest"
)

func TestAlertStore(t *testing.T) {
	storetest.RunAlerts(t, func(t *testing.T) results.AlertStore {
		s := open(t)
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// A lock whose session ended without an unlock (a partition, a server
// restart) is reported lost, and another store can take it; TryLock takes
// it again on a new session.
func TestHoldsLockAfterSessionEnds(t *testing.T) {
	ctx := context.Background()
	stores := replicas(t, 2)
	a, b := stores[0], stores[1]

	if held, err := a.HoldsLock(ctx, "alerting"); err != nil || held {
		t.Fatalf("HoldsLock before TryLock: %v %v", held, err)
	}
	unlock, ok, err := a.TryLock(ctx, "alerting")
	if err != nil || !ok {
		t.Fatalf("TryLock: %v %v", ok, err)
	}
	if held, err := a.HoldsLock(ctx, "alerting"); err != nil || !held {
		t.Fatalf("HoldsLock after TryLock: %v %v", held, err)
	}
	if _, ok, _ := b.TryLock(ctx, "alerting"); ok {
		t.Fatal("b took a lock a holds")
	}

	var pid uint32
	a.lmu.Lock()
	pid = a.lconn.PgConn().PID()
	a.lmu.Unlock()
	if _, err := b.pool.Exec(ctx, `SELECT pg_terminate_backend($1)`, int64(pid)); err != nil {
		t.Fatal(err)
	}
	if held, _ := a.HoldsLock(ctx, "alerting"); held {
		t.Fatal("HoldsLock true after the lock session was terminated")
	}
	unlock() // a no-op now: the session and its lock are gone
	ub := awaitLock(t, b, "alerting")
	if held, err := b.HoldsLock(ctx, "alerting"); err != nil || !held {
		t.Fatalf("b HoldsLock: %v %v", held, err)
	}
	ub()
	if held, err := b.HoldsLock(ctx, "alerting"); err != nil || held {
		t.Fatalf("b HoldsLock after unlock: %v %v", held, err)
	}
	if ua, ok, err := a.TryLock(ctx, "alerting"); err != nil || !ok {
		t.Fatalf("a TryLock on a new session: %v %v", ok, err)
	} else {
		if held, err := a.HoldsLock(ctx, "alerting"); err != nil || !held {
			t.Fatalf("a HoldsLock on its new session: %v %v", held, err)
		}
		ua()
	}
}

func BenchmarkAlertCycle(b *testing.B) {
	s := open(b)
	defer s.Close()
	storetest.BenchAlertCycle(b, s)
}
