package tlstest

import (
	"os"
	"runtime"
	"testing"
	"time"
)

// NoLeaks runs fn and fails the test when the process's goroutines or
// open file descriptors do not settle back to their count before fn.
// The count before is taken once it has stopped changing, so that what an
// earlier test left winding down is not mistaken for room to leak; the
// count after may take up to ten seconds to come down, because closed
// connections and finished goroutines take a moment to disappear.
func NoLeaks(t testing.TB, fn func()) {
	t.Helper()
	g0, fd0 := steady(t)
	fn()
	deadline := time.Now().Add(10 * time.Second)
	for {
		g, fd := runtime.NumGoroutine(), OpenFDs(t)
		if g <= g0 && fd <= fd0 {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("leak: %d goroutines and %d fds before, %d and %d after\n%s", g0, fd0, g, fd, buf)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// steady returns the goroutine and open file counts once they have not
// changed for 100ms, or after five seconds.
func steady(t testing.TB) (goroutines, fds int) {
	t.Helper()
	g, f := runtime.NumGoroutine(), OpenFDs(t)
	for same, tries := 0, 0; same < 5 && tries < 250; tries++ {
		time.Sleep(20 * time.Millisecond)
		g2, f2 := runtime.NumGoroutine(), OpenFDs(t)
		if g2 == g && f2 == f {
			same++
		} else {
			same, g, f = 0, g2, f2
		}
	}
	return g, f
}

// OpenFDs counts the process's open file descriptors.
func OpenFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("count fds: %v", err)
	}
	return len(ents)
}
