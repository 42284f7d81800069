package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/picketnet/picket/internal/netlab"
)

// buildPicket compiles the picket binary once per test binary.
var buildPicket = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "picket-e2e-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "picket")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/picket")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// process is a picket binary running in a namespace, its output kept in
// a log that the test prints when it fails.
type process struct {
	name string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
}

func startProcess(t *testing.T, node *netlab.Node, name, dir string, args ...string) *process {
	t.Helper()
	bin, err := buildPicket()
	if err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := node.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{name: name, cmd: cmd, log: logf, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(syscall.SIGTERM, 15*time.Second)
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			if len(b) > 20000 {
				b = b[len(b)-20000:]
			}
			t.Logf("--- %s log (tail) ---\n%s", name, b)
		}
	})
	return p
}

// stop signals the process and waits for it to exit, killing it after
// grace.
func (p *process) stop(sig syscall.Signal, grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// cli runs a picket client command in node and returns its stdout.
func cli(t *testing.T, node *netlab.Node, dir string, args ...string) string {
	t.Helper()
	bin, err := buildPicket()
	if err != nil {
		t.Fatal(err)
	}
	cmd := node.Command(bin, args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("picket %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

// lastLine is where token-printing commands put the token.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// nsClient is an HTTP client whose connections are opened inside node.
func nsClient(node *netlab.Node) *http.Client {
	dial := func(ctx context.Context, network, addr string) (c net.Conn, err error) {
		err = node.Do(func() error {
			var d net.Dialer
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}}
}

// hookRecorder receives the collector's webhook notifications inside the
// collector's namespace.
type hookRecorder struct {
	mu   sync.Mutex
	got  []notification
	addr string
}

// notification is the part of the webhook payload the scenarios check.
type notification struct {
	DedupKey string   `json:"dedup_key"`
	Status   string   `json:"status"`
	Type     string   `json:"type"`
	Severity string   `json:"severity"`
	Summary  string   `json:"summary"`
	Endpoint string   `json:"endpoint"`
	Regions  []string `json:"regions"`
	ASNs     []uint32 `json:"asns"`
	Vantages []string `json:"vantages"`
	Layer    string   `json:"layer"`
	Code     string   `json:"code"`
	Phase    string   `json:"phase"`
	Details  struct {
		NewASNs []struct {
			ASN  uint32 `json:"asn"`
			Name string `json:"name"`
		} `json:"new_asns"`
		ExtraMS float64 `json:"extra_ms"`
	} `json:"details"`
	received time.Time
}

func startHookRecorder(t *testing.T, node *netlab.Node) *hookRecorder {
	t.Helper()
	var ln net.Listener
	if err := node.Do(func() (err error) {
		ln, err = net.Listen("tcp4", "127.0.0.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	h := &hookRecorder{addr: ln.Addr().String()}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n notification
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err := json.Unmarshal(body, &n); err != nil {
			t.Errorf("webhook: bad payload %s: %v", body, err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		n.received = time.Now()
		h.mu.Lock()
		h.got = append(h.got, n)
		h.mu.Unlock()
		t.Logf("notification: %s %s [%s] %s", n.Status, n.DedupKey, n.Severity, n.Summary)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return h
}

// since returns the notifications received at or after from.
func (h *hookRecorder) since(from time.Time) []notification {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []notification
	for _, n := range h.got {
		if !n.received.Before(from) {
			out = append(out, n)
		}
	}
	return out
}

// waitNotification waits until a notification received after from
// satisfies match, and returns it.
func (h *hookRecorder) waitNotification(t *testing.T, from time.Time, within time.Duration, what string, match func(notification) bool) notification {
	t.Helper()
	var found notification
	waitFor(t, what, within, func() bool {
		for _, n := range h.since(from) {
			if match(n) {
				found = n
				return true
			}
		}
		return false
	})
	// The detection delay of the lab's scaled-down settings, from the
	// fault to the notification's arrival.
	t.Logf("%s: notified %s after the fault: %s", what, found.received.Sub(from).Round(100*time.Millisecond), found.Summary)
	return found
}

// metric reads one sample from a Prometheus text exposition: the sum of
// every series of name whose labels contain all of labels. A target that
// does not answer (yet) reads as -1.
func metric(t *testing.T, c *http.Client, url, name string, labels ...string) float64 {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Logf("scrape %s: %v", url, err)
		return -1
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) || (len(line) > len(name) && line[len(name)] != '{' && line[len(name)] != ' ') {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(line, l)
		}
		if !ok {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err == nil {
			sum += v
		}
	}
	return sum
}
