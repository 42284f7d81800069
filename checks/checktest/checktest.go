package checktest

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/picketnet/picket/checks"
)

// WantFieldError fails the test unless err is a *checks.FieldError whose
// message is one line, as every refusal of a spec must be so that the
// YAML front end can point at the field and print it; it returns it.
func WantFieldError(t testing.TB, err error) *checks.FieldError {
	t.Helper()
	var fe *checks.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T) is not a *checks.FieldError", err, err)
	}
	if strings.ContainsAny(err.Error(), "\r\n") {
		t.Fatalf("error spans lines: %q", err)
	}
	return fe
}

// CPUTime is the process's user and system CPU time so far.
func CPUTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchRun runs c once per iteration, each run bounded by timeout, fails
// on a run that does not pass, and reports allocations and cpu-ns/op: the
// process's CPU time per run, which counts a server in the same process.
func BenchRun(b *testing.B, c checks.Check, env checks.Env, timeout time.Duration) {
	b.Helper()
	b.ReportAllocs()
	cpu0 := CPUTime(b)
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		r := c.Run(ctx, env)
		cancel()
		if !r.OK {
			b.Fatalf("run failed: %v", r.Error)
		}
	}
	b.ReportMetric(float64(CPUTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
}
