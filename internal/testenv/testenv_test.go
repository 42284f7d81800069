package testenv_test

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/picketnet/picket/internal/testenv"
)

// recorder is a testing.TB that records a skip or a failure instead of
// ending the test, so that both outcomes can be checked. Like the real
// ones, Skip and Fatalf end the goroutine that calls them: run the code
// under test with call.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Skip(args ...any) {
	r.skipped = fmt.Sprint(args...)
	runtime.Goexit()
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// call runs fn on its own goroutine, which Skip and Fatalf may end.
func (r *recorder) call(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	<-done
}

// A missing requirement skips on a developer machine and fails under
// CI=true, so CI never counts a skip as a pass.
func TestRequireCommand(t *testing.T) {
	tests := []struct {
		ci, command      string
		skipped, failed  bool
		wantPathContains string
	}{
		{ci: "", command: "sh", wantPathContains: "sh"},
		{ci: "true", command: "sh", wantPathContains: "sh"},
		{ci: "", command: "picket-no-such-command", skipped: true},
		{ci: "true", command: "picket-no-such-command", failed: true},
		{ci: "false", command: "picket-no-such-command", skipped: true},
	}
	for _, tt := range tests {
		t.Run(tt.ci+"/"+tt.command, func(t *testing.T) {
			t.Setenv("CI", tt.ci)
			r := &recorder{TB: t}
			var path string
			r.call(func() { path = testenv.RequireCommand(r, tt.command) })
			if (r.skipped != "") != tt.skipped || (r.failed != "") != tt.failed {
				t.Fatalf("skipped %q, failed %q; want skip=%v fail=%v", r.skipped, r.failed, tt.skipped, tt.failed)
			}
			if msg := r.skipped + r.failed; msg != "" && !strings.Contains(msg, tt.command) {
				t.Errorf("reason %q does not name the command", msg)
			}
			if !strings.Contains(path, tt.wantPathContains) {
				t.Errorf("path %q", path)
			}
		})
	}
}

func TestRequireRoot(t *testing.T) {
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		r := &recorder{TB: t}
		r.call(func() { testenv.RequireRoot(r) })
		root := os.Geteuid() == 0
		switch {
		case root && (r.skipped != "" || r.failed != ""):
			t.Errorf("CI=%q as root: skipped %q, failed %q", ci, r.skipped, r.failed)
		case !root && ci == "true" && r.failed == "":
			t.Errorf("CI=true, not root: did not fail")
		case !root && ci == "" && r.skipped == "":
			t.Errorf("not root: did not skip")
		}
		if testenv.InCI() != (ci == "true") {
			t.Errorf("InCI() = %v with CI=%q", testenv.InCI(), ci)
		}
	}
}
