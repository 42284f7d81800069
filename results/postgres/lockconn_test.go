package postgres

import (
	"context"
	"testing"
)

// TestLockSessionNoticesDeadPeers: the session holding advisory locks
// asks the server to probe a silent peer and give up on it within about
// half a minute, so that a replica on a dead host does not keep its locks
// for the two hours of the operating system's keepalive defaults.
func TestLockSessionNoticesDeadPeers(t *testing.T) {
	s := open(t)
	defer s.Close()
	ctx := context.Background()
	unlock, ok, err := s.TryLock(ctx, "keepalive-test")
	if err != nil || !ok {
		t.Fatalf("TryLock: %v, %v", ok, err)
	}
	defer unlock()
	want := map[string]string{
		"tcp_keepalives_idle":     "10",
		"tcp_keepalives_interval": "5",
		"tcp_keepalives_count":    "3",
		"tcp_user_timeout":        "30000",
	}
	s.lmu.Lock()
	defer s.lmu.Unlock()
	for name, value := range want {
		var got string
		if err := s.lconn.QueryRow(ctx, "SHOW "+name).Scan(&got); err != nil {
			t.Fatalf("SHOW %s: %v", name, err)
		}
		if got != value {
			t.Errorf("%s = %s on the lock session, want %s", name, got, value)
		}
	}
}
