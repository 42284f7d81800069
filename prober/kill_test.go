package prober

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/picketnet/picket/internal/syncbuf"
	"github.com/picketnet/picket/vantage"
)

// buildPicket builds the picket binary for subprocess tests.
func buildPicket(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "picket")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/picketnet/picket/cmd/picket").CombinedOutput()
	if err != nil {
		t.Fatalf("go build picket: %v\n%s", err, out)
	}
	return bin
}

func freePort(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// scrape sums a metric family from a prober's /metrics.
func scrape(addr, name string) (float64, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+" ") && !strings.HasPrefix(line, name+"{") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("metric line %q: %w", line, err)
		}
		sum += v
	}
	return sum, sc.Err()
}

func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

type proc struct {
	cmd  *exec.Cmd
	logs *syncbuf.Buffer
	done chan error
}

func startPicket(t testing.TB, bin, config string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, "prober", "--config", config), logs: &syncbuf.Buffer{}, done: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		if t.Failed() {
			t.Logf("picket prober output:\n%s", p.logs.String())
		}
	})
	return p
}

func TestKill9MidStreamLosesNothing(t *testing.T) {
	t.Parallel()
	bin := buildPicket(t)
	col := newStandin(t, testIdentity.ID, "vantage-token")
	target := listener(t)
	var cs []vantage.AssignedCheck
	for i := range 20 {
		cs = append(cs, check(fmt.Sprintf("ep%02d", i), "tcp", target, ""))
	}
	col.assign(cs...)

	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte("vantage-token\n"), 0o600)
	metrics := freePort(t)
	config := filepath.Join(dir, "prober.yaml")
	os.WriteFile(config, fmt.Appendf(nil, `vantage:
  id: %s
  region: %s
  provider: %s
  asn: %d
collectors:
  - %s
token_file: %s
spool: {dir: %s, max_bytes: 64MiB}
metrics_listen: %s
discovery: {disabled: true}
poll_every: 200ms
batch_size: 20
batch_linger: 20ms
backoff_max: 300ms
`, testIdentity.ID, testIdentity.Region, testIdentity.Provider, testIdentity.ASN, col.URL(), tokenFile,
		filepath.Join(dir, "spool"), metrics), 0o600)

	// A mistake in the configuration is one line naming file and line.
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("vantage: {id: x, region: r}\nspool: {dri: /tmp}\n"), 0o600)
	out, err := exec.Command(bin, "prober", "--config", bad).CombinedOutput()
	if code := exitCode(err); code != 2 || strings.Count(strings.TrimSpace(string(out)), "\n") != 0 || !strings.Contains(string(out), bad+":2:") {
		t.Fatalf("bad config: exit %d, output %q; want exit 2 and one line naming %s:2", code, out, bad)
	}

	first := startPicket(t, bin, config)
	waitFor(t, "results to flow", func() bool { return col.storedCount() >= 40 })
	col.stop()
	waitFor(t, "a backlog in the spool", func() bool {
		n, err := scrape(metrics, "picket_prober_spool_records")
		return err == nil && n >= 60
	})
	// Slow answers keep the replay of the backlog going for seconds, with
	// a batch in flight most of the time.
	col.mu.Lock()
	col.delay = 300 * time.Millisecond
	col.mu.Unlock()
	before := col.storedCount()
	col.start()
	// Kill in the middle of replaying the backlog, after counting every
	// result the process had spooled so far.
	waitFor(t, "the replay to begin", func() bool { return col.storedCount() > before })
	spooled, err := scrape(metrics, "picket_prober_checks_run_total")
	if err != nil {
		t.Fatal(err)
	}
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-first.done
	killedAt := time.Now()

	col.mu.Lock()
	col.delay = 0
	col.mu.Unlock()
	second := startPicket(t, bin, config)
	waitFor(t, "every result of the killed process to be stored", func() bool {
		n := 0
		for _, r := range col.storedResults() {
			if r.StartedAt.Before(killedAt) {
				n++
			}
		}
		return n >= int(spooled)
	})
	waitFor(t, "the restarted prober to send results of its own", func() bool {
		for _, r := range col.storedResults() {
			if r.StartedAt.After(killedAt) {
				return true
			}
		}
		return false
	})
	if err := second.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-second.done; err != nil {
		t.Fatalf("prober did not exit cleanly on SIGTERM: %v", err)
	}
	seen := map[string]string{}
	for _, r := range col.storedResults() {
		key := r.Check + "@" + r.StartedAt.Format(time.RFC3339Nano)
		if other, dup := seen[key]; dup {
			t.Fatalf("one run of %s stored twice, as %s and %s", r.Check, other, r.ID)
		}
		seen[key] = r.ID
	}
	// The restart really had a backlog to replay.
	if m := regexp.MustCompile(`msg="prober started".* spooled=(\d+)`).FindStringSubmatch(second.logs.String()); m == nil || m[1] == "0" {
		t.Fatalf("the restarted prober found no backlog in the spool (%v)", m)
	}
	if !strings.Contains(second.logs.String(), "prober stopped") {
		t.Fatalf("no orderly stop in the log")
	}
}
