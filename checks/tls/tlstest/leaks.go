package tlstest

import (
	"os"
	"runtime"
	"testing"
	"time"
)

// NoLeaks runs fn and fails the test when the process's goroutines or
// open file descriptors do not settle back to their count before fn. It
// waits up to ten seconds for them to settle, because closed connections
// and finished goroutines take a moment to disappear.
func NoLeaks(t testing.TB, fn func()) {
	t.Helper()
	g0, fd0 := runtime.NumGoroutine(), OpenFDs(t)
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

// OpenFDs counts the process's open file descriptors.
func OpenFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("count fds: %v", err)
	}
	return len(ents)
}
