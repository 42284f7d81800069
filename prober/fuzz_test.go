package prober

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/picketnet/picket/vantage"
)

// FuzzApplyAssignment feeds arbitrary assignment bodies, as a collector
// (or an attacker in its place) could send them, through decoding and
// apply: nothing may panic, no check can stop the others from being
// scheduled, and only checks that parse are scheduled.
func FuzzApplyAssignment(f *testing.F) {
	f.Add([]byte(`{"vantage":"hel1-test-a","checks":[{"id":"a/dial","endpoint":"a","team":"t","target":"127.0.0.1:1","spec":{"kind":"dial","interval":"1s"}}]}`))
	f.Add([]byte(`{"checks":[{"id":"a/dial","spec":{"kind":"dial"}},{"id":"a/dial","spec":{"kind":"hold","hold":"1s"}}],"policy":{"deny_private":true,"allow":["10.0.0.0/8"]}}`))
	f.Add([]byte(`{"checks":[{"id":"x","spec":{"kind":"nope","interval":"-1s"}}],"heartbeat_every_ns":-5}`))
	f.Add([]byte(`{"checks":[{"id":"","target":"127.0.0.1:1","spec":{"kind":"dial"}},{"id":"a/dial","target":"127.0.0.1:1","spec":{"kind":"dial"}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var a vantage.Assignment
		if json.Unmarshal(body, &a) != nil {
			return
		}
		p, err := New(Config{Identity: testIdentity, Collectors: []string{"http://127.0.0.1:1"}, Token: "t", SpoolDir: t.TempDir()},
			WithChecks(registry(newTracker())))
		if err != nil {
			t.Fatal(err)
		}
		defer p.sched.Stop(context.Background())
		if err := p.apply(a); err != nil {
			t.Fatalf("one bad check failed the whole assignment: %v", err)
		}
		if n := p.sched.Len(); n > len(a.Checks) {
			t.Fatalf("%d jobs from %d checks", n, len(a.Checks))
		}
	})
}
