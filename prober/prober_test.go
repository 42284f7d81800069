package prober

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/picketnet/picket/prober/spool"
	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/vantage"
)

// leftover opens a stopped prober's spool and returns the ids in it.
func leftover(t *testing.T, dir string) map[string]bool {
	t.Helper()
	s, err := spool.Open(spool.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ids := map[string]bool{}
	for {
		rs, err := s.Next(1000, 64<<20)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) == 0 {
			return ids
		}
		for _, r := range rs {
			ids[r.ID] = true
		}
	}
}

// accounted checks that every result the prober produced is either stored
// by one of the collectors or still in its spool, and stored only once.
func accounted(t *testing.T, produced int, dir string, cols ...*standin) {
	t.Helper()
	left := leftover(t, dir)
	stored := map[string]bool{}
	obs := map[string]string{} // (check, started_at) -> id
	for _, c := range cols {
		for _, r := range c.storedResults() {
			if stored[r.ID] {
				t.Errorf("result %s stored by two collectors", r.ID)
			}
			stored[r.ID] = true
			key := r.Check + "@" + r.StartedAt.Format(time.RFC3339Nano)
			if other, dup := obs[key]; dup {
				t.Errorf("one run of %s stored twice, as %s and %s", r.Check, other, r.ID)
			}
			obs[key] = r.ID
			if left[r.ID] {
				t.Errorf("result %s is stored and still spooled", r.ID)
			}
		}
	}
	if len(stored)+len(left) != produced {
		t.Fatalf("produced %d results: %d stored + %d spooled = %d", produced, len(stored), len(left), len(stored)+len(left))
	}
}

func TestResultsAreStampedAndShipped(t *testing.T) {
	t.Parallel()
	col := newStandin(t, testIdentity.ID, "vantage-token")
	up, down := listener(t), closedAddr(t)
	col.assign(
		check("up", "dial", up, ""),
		check("down", "dial", down, ""),
		check("real", "tcp", up, ""),
	)
	dir := t.TempDir()
	r := startProber(t, dir, newTracker(), nil, col.URL())
	waitFor(t, "two results of every check", func() bool {
		m := col.byCheck()
		return m["up/dial"] >= 2 && m["down/dial"] >= 2 && m["real/tcp"] >= 2
	})
	waitFor(t, "a heartbeat and an unchanged assignment", func() bool {
		_, ok := col.lastHeartbeat()
		col.mu.Lock()
		defer col.mu.Unlock()
		return ok && col.notMod > 0
	})
	r.shutdown(t)

	for _, res := range col.storedResults() {
		id, err := uuid.Parse(res.ID)
		if err != nil || id.Version() != 7 {
			t.Fatalf("result id %q is not a UUIDv7", res.ID)
		}
		if res.Vantage != testIdentity.ID || res.Region != testIdentity.Region || res.Provider != testIdentity.Provider || res.ASN != testIdentity.ASN {
			t.Fatalf("identity not stamped: %+v", res)
		}
		if res.Team != "payments" || res.Endpoint+"/"+res.Kind != res.Check {
			t.Fatalf("assignment fields not stamped: team %q endpoint %q check %q", res.Team, res.Endpoint, res.Check)
		}
		switch res.Endpoint {
		case "up", "real":
			// dial records host:port, the real tcp kind the address.
			if !res.OK || (res.Addr != up && res.Addr+":"+strings.Split(up, ":")[1] != up) {
				t.Fatalf("%s: ok=%v addr=%q error=%v, want success against %s", res.Check, res.OK, res.Addr, res.Error, up)
			}
		case "down":
			if res.OK || res.Error == nil || res.Error.Layer != results.LayerConnect {
				t.Fatalf("%s: ok=%v error=%v, want a connect failure", res.Check, res.OK, res.Error)
			}
		}
	}
	hb, _ := col.lastHeartbeat()
	if hb.Vantage != testIdentity.ID || hb.Version != "test-1.0" || hb.Every != time.Second || hb.ASN != testIdentity.ASN {
		t.Fatalf("heartbeat %+v", hb)
	}
	accounted(t, int(metric(t, r.p.Gatherer(), "picket_prober_checks_run_total")), dir, col)
	if f := metric(t, r.p.Gatherer(), "picket_prober_checks_failed_total"); f == 0 {
		t.Fatal("failed runs not counted")
	}
	if n := metric(t, r.p.Gatherer(), "picket_prober_scheduling_lag_seconds"); n == 0 {
		t.Fatal("scheduling lag not observed")
	}
}

func TestCollectorDownThenBack(t *testing.T) {
	t.Parallel()
	col := newStandin(t, testIdentity.ID, "vantage-token")
	target := listener(t)
	var cs []vantage.AssignedCheck
	for i := range 5 {
		cs = append(cs, check(fmt.Sprintf("ep%d", i), "dial", target, ""))
	}
	col.assign(cs...)
	dir := t.TempDir()
	r := startProber(t, dir, newTracker(), nil, col.URL())
	waitFor(t, "results to flow", func() bool { return col.storedCount() >= 5 })

	col.stop()
	downAt := time.Now()
	waitFor(t, "results to pile up in the spool", func() bool { return r.p.spoolStats().Records >= 20 })
	col.mu.Lock()
	col.failNext = 2 // back, but failing for a moment
	col.dropAck = 2  // and two acknowledgements lost on the way
	col.mu.Unlock()
	col.start()
	backAt := time.Now()
	waitFor(t, "the spool to drain", func() bool {
		col.mu.Lock()
		lost := col.dropAck
		col.mu.Unlock()
		return lost == 0 && r.p.spoolStats().Records == 0
	})
	r.shutdown(t)

	accounted(t, int(metric(t, r.p.Gatherer(), "picket_prober_checks_run_total")), dir, col)
	late := 0
	for _, res := range col.storedResults() {
		if res.StartedAt.After(downAt) && res.StartedAt.Before(backAt) {
			late++
		}
	}
	if late < 10 {
		t.Fatalf("only %d results from the outage were stored with their original started_at", late)
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	if col.received <= len(col.stored) {
		t.Fatalf("lost acknowledgements should have caused resends: received %d, stored %d", col.received, len(col.stored))
	}
}

func TestPrimaryDownSecondaryUp(t *testing.T) {
	t.Parallel()
	primary := newStandin(t, testIdentity.ID, "vantage-token")
	secondary := newStandin(t, testIdentity.ID, "vantage-token")
	primary.stop()
	target := listener(t)
	for _, c := range []*standin{primary, secondary} {
		c.assign(check("a", "dial", target, ""), check("b", "dial", target, ""))
	}
	dir := t.TempDir()
	r := startProber(t, dir, newTracker(), nil, primary.URL(), secondary.URL())
	waitFor(t, "results at the secondary", func() bool { return secondary.storedCount() >= 6 })
	if _, ok := secondary.lastHeartbeat(); !ok {
		waitFor(t, "heartbeats at the secondary", func() bool { _, ok := secondary.lastHeartbeat(); return ok })
	}
	primary.start()
	waitFor(t, "results back at the primary", func() bool { return primary.storedCount() >= 6 })
	before := secondary.storedCount()
	waitFor(t, "more results at the primary", func() bool { return primary.storedCount() >= 12 })
	if after := secondary.storedCount(); after != before {
		t.Fatalf("the secondary still got results (%d -> %d) after the primary came back", before, after)
	}
	r.shutdown(t)
	accounted(t, int(metric(t, r.p.Gatherer(), "picket_prober_checks_run_total")), dir, primary, secondary)
}

func TestFullSpoolDropsOldest(t *testing.T) {
	t.Parallel()
	col := newStandin(t, testIdentity.ID, "vantage-token")
	target := listener(t)
	var cs []vantage.AssignedCheck
	for i := range 20 {
		cs = append(cs, check(fmt.Sprintf("ep%02d", i), "dial", target, ""))
	}
	col.assign(cs...)
	dir := t.TempDir()
	r := startProber(t, dir, newTracker(), func(c *Config) { c.SpoolMaxBytes = 24 << 10 }, col.URL())
	waitFor(t, "checks to be assigned", func() bool { return metric(t, r.p.Gatherer(), "picket_prober_checks_assigned") == 20 })
	col.stop()
	waitFor(t, "the spool to overflow", func() bool { return metric(t, r.p.Gatherer(), "picket_prober_spool_dropped_total") > 0 })
	if b := r.p.spoolStats().Bytes; b > 24<<10 {
		t.Fatalf("spool holds %d bytes, bound %d", b, 24<<10)
	}
	col.start()
	waitFor(t, "the spool to drain", func() bool { return r.p.spoolStats().Records == 0 })
	r.shutdown(t)
	produced := int(metric(t, r.p.Gatherer(), "picket_prober_checks_run_total"))
	dropped := int(metric(t, r.p.Gatherer(), "picket_prober_spool_dropped_total"))
	left := leftover(t, dir)
	if got := col.storedCount() + dropped + len(left); got != produced {
		t.Fatalf("produced %d: stored %d + dropped %d + spooled %d = %d", produced, col.storedCount(), dropped, len(left), got)
	}
	// That the oldest go first is proven by the spool's own tests.
}

func TestCorruptSpoolFileIsSkipped(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// A previous run left two segments: a damaged one and a good one.
	mk := func(i int) spool.Record {
		id, _ := uuid.NewV7()
		res := results.Result{ID: id.String(), Endpoint: "old", Team: "payments", Check: "old/dial", Kind: "dial",
			Vantage: testIdentity.ID, Region: testIdentity.Region, Target: "127.0.0.1:1",
			StartedAt: time.Now().Add(-time.Hour + time.Duration(i)*time.Second).UTC(), OK: true}
		b, _ := json.Marshal(res)
		return spool.Record{ID: res.ID, Data: b}
	}
	var damaged, good []spool.Record
	for i := range 10 {
		damaged = append(damaged, mk(i))
		good = append(good, mk(100+i))
	}
	s, err := spool.Open(spool.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	s.Append(damaged...)
	s.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	s, _ = spool.Open(spool.Options{Dir: dir})
	s.Append(good...)
	s.Close()
	b, _ := os.ReadFile(segs[0])
	b[len(b)/2] ^= 0x5a // damage in the middle of the first file
	os.WriteFile(segs[0], b, 0o600)

	col := newStandin(t, testIdentity.ID, "vantage-token")
	col.assign()
	r := startProber(t, dir, newTracker(), nil, col.URL())
	waitFor(t, "the good file to be delivered", func() bool {
		col.mu.Lock()
		defer col.mu.Unlock()
		for _, rec := range good {
			if _, ok := col.stored[rec.ID]; !ok {
				return false
			}
		}
		return true
	})
	waitFor(t, "the spool to drain", func() bool { return r.p.spoolStats().Records == 0 })
	r.shutdown(t)
	if n := metric(t, r.p.Gatherer(), "picket_prober_spool_corrupt_files_total"); n != 1 {
		t.Fatalf("corrupt files counted: %v", n)
	}
	if n := metric(t, r.p.Gatherer(), "picket_prober_spool_lost_total"); n < 1 {
		t.Fatalf("records lost to the damage counted: %v, want at least 1", n)
	}
	if !strings.Contains(r.logs.String(), "level=ERROR") || !strings.Contains(r.logs.String(), filepath.Base(segs[0])) {
		t.Fatalf("no error naming %s in the log", filepath.Base(segs[0]))
	}
	// The records before the damage are delivered too.
	col.mu.Lock()
	defer col.mu.Unlock()
	if _, ok := col.stored[damaged[0].ID]; !ok {
		t.Fatal("the records before the damage were not delivered")
	}
}

func TestAssignmentChangeKeepsUnchangedChecks(t *testing.T) {
	t.Parallel()
	col := newStandin(t, testIdentity.ID, "vantage-token")
	target := listener(t)
	tr := newTracker()
	keep := check("keep", "hold", "keep", `,"hold":"100ms"`)
	col.assign(keep, check("change", "dial", target, ""), check("gone", "dial", target, ""))
	dir := t.TempDir()
	r := startProber(t, dir, tr, nil, col.URL())
	waitFor(t, "every check to report", func() bool {
		m := col.byCheck()
		return m["keep/hold"] >= 2 && m["change/dial"] >= 2 && m["gone/dial"] >= 2
	})
	other := listener(t)
	col.assign(keep, check("change", "dial", other, ""), check("new", "dial", target, ""))
	waitFor(t, "the change to be applied", func() bool { return strings.Contains(r.logs.String(), "kept=1") })
	changedTarget := func() bool {
		for _, res := range col.storedResults() {
			if res.Check == "change/dial" && res.Target == other {
				return true
			}
		}
		return false
	}
	waitFor(t, "the new check and the changed check to report", func() bool {
		return col.byCheck()["new/dial"] >= 2 && changedTarget()
	})
	// The spool is delivered in order, so everything produced before the
	// change is stored by now.
	snapshot := col.byCheck()
	before := len(col.storedResults())
	waitFor(t, "three more rounds", func() bool {
		m := col.byCheck()
		return m["new/dial"] >= snapshot["new/dial"]+3 && m["keep/hold"] >= snapshot["keep/hold"]+3
	})
	r.shutdown(t)
	if !strings.Contains(r.logs.String(), "added=1 changed=1 removed=1 kept=1") {
		t.Fatalf("the change was not applied as one added, one changed, one removed, one kept:\n%s", r.logs.String())
	}
	if n := col.byCheck()["gone/dial"]; n != snapshot["gone/dial"] {
		t.Fatalf("the removed check still ran: %d results, %d at the snapshot", n, snapshot["gone/dial"])
	}
	for _, res := range col.storedResults()[before:] {
		if res.Check == "change/dial" && res.Target != other {
			t.Fatalf("the changed check still runs its old definition: target %s", res.Target)
		}
	}
	// The cached assignment lets a restart probe before any collector
	// answers.
	col.stop()
	r2 := startProber(t, dir, tr, nil, col.URL())
	waitFor(t, "the cached checks to run", func() bool {
		return metric(t, r2.p.Gatherer(), "picket_prober_checks_run_total") >= 3
	})
}

func TestNoOverlappingRuns(t *testing.T) {
	t.Parallel()
	col := newStandin(t, testIdentity.ID, "vantage-token")
	tr := newTracker()
	// Runs of 2.5s every second, ignoring their 1s timeout: each run
	// outlives two of its slots.
	col.assign(vantage.AssignedCheck{ID: "slow/hold", Endpoint: "slow", Team: "t", Target: "slow",
		Spec: json.RawMessage(`{"kind":"hold","interval":"1s","timeout":"1s","hold":"2500ms","stubborn":true}`)})
	r := startProber(t, t.TempDir(), tr, nil, col.URL())
	waitFor(t, "two runs to start", func() bool {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		return tr.runs["slow"] >= 2
	})
	r.shutdown(t)
	if n := metric(t, r.p.Gatherer(), "picket_prober_runs_skipped_total"); n < 2 {
		t.Fatalf("%v skipped runs counted, want at least 2", n)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.most["slow"] != 1 {
		t.Fatalf("%d runs of one check overlapped", tr.most["slow"])
	}
}

// metricWith sums a metric family's series whose labels include want.
func metricWith(t *testing.T, r *proberRun, name string, want map[string]string) float64 {
	t.Helper()
	return metricLabelled(t, r.p.Gatherer(), name, want)
}

// TestRefusals covers the answers that must not be retried as they are.
func TestRefusals(t *testing.T) {
	t.Parallel()
	t.Run("rejected records are dropped and counted, the rest delivered", func(t *testing.T) {
		t.Parallel()
		col := newStandin(t, testIdentity.ID, "vantage-token")
		col.assign(check("ok", "dial", listener(t), ""), check("broken", "bad", "x", ""))
		r := startProber(t, t.TempDir(), newTracker(), nil, col.URL())
		waitFor(t, "good results stored and bad ones rejected", func() bool {
			return col.byCheck()["ok/dial"] >= 3 &&
				metricWith(t, r, "picket_prober_results_dropped_total", map[string]string{"reason": "rejected"}) >= 3
		})
		waitFor(t, "the spool to drain", func() bool { return r.p.spoolStats().Records == 0 })
		if n := col.byCheck()["broken/bad"]; n != 0 {
			t.Fatalf("%d invalid records stored", n)
		}
	})
	t.Run("a batch too large is split", func(t *testing.T) {
		t.Parallel()
		col := newStandin(t, testIdentity.ID, "vantage-token")
		target := listener(t)
		var cs []vantage.AssignedCheck
		for i := range 12 {
			cs = append(cs, check(fmt.Sprintf("ep%02d", i), "dial", target, ""))
		}
		col.assign(cs...)
		col.mu.Lock()
		col.maxRecords = 5
		col.mu.Unlock()
		dir := t.TempDir()
		r := startProber(t, dir, newTracker(), func(c *Config) { c.BatchLinger = time.Second }, col.URL())
		waitFor(t, "a refused batch", func() bool {
			return metricWith(t, r, "picket_prober_ship_failures_total", map[string]string{"reason": "status_413"}) > 0
		})
		waitFor(t, "36 results stored", func() bool { return col.storedCount() >= 36 })
		r.shutdown(t)
		accounted(t, int(metric(t, r.p.Gatherer(), "picket_prober_checks_run_total")), dir, col)
	})
	t.Run("an unreadable record is isolated and dropped", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		sp, err := spool.Open(spool.Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		var good []string
		for i := range 9 {
			id, _ := uuid.NewV7()
			res := results.Result{ID: id.String(), Endpoint: "old", Check: "old/dial", Kind: "dial", Vantage: testIdentity.ID,
				StartedAt: time.Now().Add(time.Duration(i) * time.Millisecond).UTC(), OK: true}
			b, _ := json.Marshal(res)
			sp.Append(spool.Record{ID: res.ID, Data: b})
			good = append(good, res.ID)
			if i == 4 {
				// Intact on disk, but not a record: the collector answers
				// 400 to any batch that holds it.
				sp.Append(spool.Record{ID: "poison", Data: []byte(`{"id":`)})
			}
		}
		sp.Close()
		col := newStandin(t, testIdentity.ID, "vantage-token")
		col.assign()
		r := startProber(t, dir, newTracker(), nil, col.URL())
		waitFor(t, "the spool to drain", func() bool { return col.storedCount() == 9 && r.p.spoolStats().Records == 0 })
		r.shutdown(t)
		col.mu.Lock()
		defer col.mu.Unlock()
		for _, id := range good {
			if _, ok := col.stored[id]; !ok {
				t.Fatalf("good record %s not delivered", id)
			}
		}
		if d := metricWith(t, r, "picket_prober_results_dropped_total", map[string]string{"reason": "refused"}); d != 1 {
			t.Fatalf("%v records dropped as refused, want 1", d)
		}
	})
	t.Run("a refused token keeps everything", func(t *testing.T) {
		t.Parallel()
		col := newStandin(t, testIdentity.ID, "vantage-token")
		col.assign(check("ok", "dial", listener(t), ""))
		dir := t.TempDir()
		// The assignment comes from the cache: the collector refuses the
		// token for everything.
		b, _ := json.Marshal(vantage.Assignment{Vantage: testIdentity.ID, Checks: []vantage.AssignedCheck{check("ok", "dial", listener(t), "")}})
		os.WriteFile(filepath.Join(dir, assignmentFile), b, 0o600)
		r := startProber(t, dir, newTracker(), func(c *Config) { c.Token = "revoked" }, col.URL())
		waitFor(t, "refusals and a backlog", func() bool {
			return metricWith(t, r, "picket_prober_ship_failures_total", map[string]string{"reason": "status_401"}) > 0 &&
				r.p.spoolStats().Records >= 3
		})
		r.shutdown(t)
		if d := metric(t, r.p.Gatherer(), "picket_prober_results_dropped_total"); d != 0 {
			t.Fatalf("%v results dropped on an authentication failure", d)
		}
		// An operator alerting on requests whose outcome is not "ok", or on
		// ship failures of a collector, must see the refusals under the
		// collector's URL as configured.
		base := strings.TrimRight(col.URL(), "/")
		for path, outcome := range map[string]string{"/v1/results": "ok", "/v1/assignments": "ok", "/v1/heartbeat": "ok"} {
			if n := metricWith(t, r, "picket_prober_collector_requests_total", map[string]string{"path": path, "outcome": outcome}); n != 0 {
				t.Errorf("%v refused requests to %s counted as %q", n, path, outcome)
			}
		}
		if n := metricWith(t, r, "picket_prober_collector_requests_total", map[string]string{"collector": base, "path": "/v1/results", "outcome": "status_401"}); n == 0 {
			t.Error("no request to /v1/results counted as status_401")
		}
		if n := metricWith(t, r, "picket_prober_ship_failures_total", map[string]string{"collector": base, "reason": "status_401"}); n == 0 {
			t.Errorf("no ship failure counted for collector %s", base)
		}
		accounted(t, int(metric(t, r.p.Gatherer(), "picket_prober_checks_run_total")), dir, col)
		if !strings.Contains(r.p.lastError(), "401") {
			t.Fatalf("last error %q does not report the refusal", r.p.lastError())
		}
	})
}

// A heartbeat whose last_error is longer than the collector takes is
// refused, and the vantage then shows as missing: however many problems
// the prober has, and however long their messages, it must fit.
func TestLastErrorFitsAHeartbeat(t *testing.T) {
	p, err := New(Config{Identity: testIdentity, Collectors: []string{"http://127.0.0.1:1"}, Token: "t", SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	p.setErr("ship", fmt.Errorf("no collector available: %s", strings.Repeat("POST https://collector.example/v1/results: Service Unavailable ", 6)))
	p.setErr("clock", fmt.Errorf("this host's clock is ahead: %s", strings.Repeat("é", 300)))
	p.setErr("identity", fmt.Errorf("prober.yaml says ..."))
	got := p.lastError()
	if len(got) > results.MaxMessageBytes || !utf8.ValidString(got) || !strings.HasPrefix(got, "ship: no collector available") {
		t.Fatalf("last error of %d bytes (valid UTF-8: %v): %q", len(got), utf8.ValidString(got), got)
	}
}
