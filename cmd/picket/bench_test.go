package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/picketnet/picket/collector/loadgen"
)

// TestBenchIngest runs `picket bench ingest` twice against one collector,
// as the reviewer did: each run offers rate × duration results, all of
// them acknowledged, and the second finds the bench team and its
// endpoints already registered.
func TestBenchIngest(t *testing.T) {
	hs := startCollector(t)
	env := map[string]string{"PICKET_COLLECTOR": hs.URL, "PICKET_TOKEN": cliAdmin}
	tests := []struct {
		args []string
		want int64
	}{
		{[]string{"--vantages", "2", "--rate", "50", "--duration", "2s", "--checks", "40", "--json"}, 100},
		{[]string{"--vantages", "3", "--rate", "100", "--duration", "1500ms", "--checks", "40", "--batch-every", "500ms", "--json"}, 150},
	}
	for i, tc := range tests {
		code, out, errs := cli(t, env, append([]string{"bench", "ingest"}, tc.args...)...)
		if code != 0 {
			t.Fatalf("run %d: exit %d: %s", i, code, errs)
		}
		var rep loadgen.Report
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("run %d: %v in %q", i, err, out)
		}
		if rep.Sent != tc.want || rep.Accepted != tc.want || rep.Rejected != 0 || rep.Failed != 0 || rep.Unsent != 0 {
			t.Errorf("run %d: %v: sent %d, accepted %d, rejected %d, failed %d, unsent %d; want %d sent and accepted",
				i, tc.args, rep.Sent, rep.Accepted, rep.Rejected, rep.Failed, rep.Unsent, tc.want)
		}
		if want := float64(rep.Accepted) / rep.Elapsed.Seconds(); rep.PerSecond != want || rep.Elapsed < rep.Duration {
			t.Errorf("run %d: %v results/s over %s (duration %s), want acknowledged/elapsed = %v over at least the duration", i, rep.PerSecond, rep.Elapsed, rep.Duration, want)
		}
	}
	// The human report says what was offered, sent and acknowledged.
	code, out, errs := cli(t, env, "bench", "ingest", "--vantages", "2", "--rate", "50", "--duration", "1s", "--checks", "40")
	if code != 0 || !strings.Contains(out, "2 vantages offered 50/s for 1s: 50 results sent, 50 acknowledged (0 rejected, 0 duplicate, 0 failed batches) in ") {
		t.Errorf("bench ingest: %d %q %q", code, out, errs)
	}
	code, out, _ = cli(t, env, "endpoints", "list", "--team", "bench")
	if code != 0 || strings.Count(out, "bench-") < 40 {
		t.Errorf("the bench team's endpoints: %d\n%s", code, out)
	}
	// Its help says what it does to the collector.
	_, _, errs = cli(t, env, "bench", "ingest", "-h")
	for _, want := range []string{`team named "bench"`, "enrols the vantages", "test collector, not a production one"} {
		if !strings.Contains(errs, want) {
			t.Errorf("bench ingest -h lacks %q:\n%s", want, errs)
		}
	}
}
