package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/picketnet/picket/internal/syncbuf"
)

// The quickstart: `picket up` with a picket.yaml registers its endpoints
// for the local team, the local prober probes them, the report and the
// dashboard show them, and a cancel (Ctrl-C) stops everything with exit 0.
func TestUpQuickstart(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") }))
	defer target.Close()
	addr := freeAddr(t)

	dir := t.TempDir()
	t.Chdir(dir)
	yaml := fmt.Sprintf(`listen: %s
store: sqlite:./picket-data/picket.db
admin_token_file: ./picket-data/admin.token
targets: {deny_private: true, allow: [127.0.0.0/8]}
endpoints:
  - name: local-web
    target: %s/health
    checks:
      - {kind: http, interval: 1s, timeout: 1s, expect: {status: [200], body: ok}}
`, addr, target.URL)
	if err := os.WriteFile("picket.yaml", []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var out, errs syncbuf.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"up"}, stdio{in: strings.NewReader(""), out: &out, err: &errs, getenv: func(string) string { return "" }})
	}()
	defer func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("up exited %d after cancel:\n%s", code, errs.String())
			}
		case <-time.After(30 * time.Second):
			t.Error("up did not stop within 30s of a cancel")
		}
	}()

	env := map[string]string{"PICKET_COLLECTOR": "http://" + addr}
	deadline := time.Now().Add(60 * time.Second)
	for {
		token, _ := os.ReadFile(filepath.Join(dir, "picket-data", "admin.token"))
		env["PICKET_TOKEN"] = strings.TrimSpace(string(token))
		code, report, _ := cli(t, env, "report", "availability", "--since", "1h", "--format", "csv")
		// team,endpoint,region,results,failures,availability_pct,...
		if code == 0 && strings.Contains(report, "\nlocal,local-web,local,") && strings.Contains(report, ",0,100.0000,") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no results for local-web after 60s; report %q\nstdout:\n%s\nstderr:\n%s", report, out.String(), errs.String())
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, want := range []string{"picket collector on http://" + addr, "dashboard: http://" + addr + "/",
		"team local created", "+ create local-web", "local prober local (region local) running"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("up printed no %q:\n%s", want, out.String())
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "picket-data", "local-team.token")); err != nil || !strings.HasPrefix(string(b), "pkt_") {
		t.Errorf("local team token file: %q %v", b, err)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
	req.Header.Set("Authorization", "Bearer "+env["PICKET_TOKEN"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page bytes.Buffer
	_, _ = page.ReadFrom(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(page.String(), "local-web") {
		t.Errorf("dashboard: %s, local-web shown: %v", resp.Status, strings.Contains(page.String(), "local-web"))
	}
}

// Without a picket.yaml, up runs on the defaults: a collector, and a
// local prober with nothing to probe until endpoints are applied.
func TestUpWithoutConfig(t *testing.T) {
	addr := freeAddr(t)
	t.Chdir(t.TempDir())

	ctx, cancel := context.WithCancel(context.Background())
	var out, errs syncbuf.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"up", "--listen", addr}, stdio{in: strings.NewReader(""), out: &out, err: &errs, getenv: func(string) string { return "" }})
	}()
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(out.String(), "local prober local (region local) running"); time.Sleep(50 * time.Millisecond) {
		select {
		case code := <-done:
			t.Fatalf("up exited %d without a picket.yaml:\n%s%s", code, out.String(), errs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no local prober after 30s:\n%s%s", out.String(), errs.String())
		}
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("healthz: %s", resp.Status)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("up exited %d after cancel:\n%s", code, errs.String())
	}
}

// picket collector refuses picket.yaml's endpoints: only up registers them.
func TestCollectorRefusesEndpointsKey(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "collector.yaml")
	os.WriteFile(cfg, []byte("listen: 127.0.0.1:0\nstore: sqlite:"+dir+"/p.db\nadmin_token_file: "+dir+"/admin.token\nendpoints:\n  - name: x\n"), 0o600)
	code, _, errs := cli(t, nil, "collector", "--config", cfg)
	if code != exitUsage || !strings.Contains(errs, cfg+":5: endpoints: only picket up") || strings.Count(errs, "\n") != 1 {
		t.Fatalf("exit %d, %q", code, errs)
	}
}

// A configuration file named on the command line must exist; only the
// default one may be absent. Nothing is created when it is missing.
func TestMissingConfigFile(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"up", "--config", "picket.yml", "--listen", "127.0.0.1:0"}, "picket up: read config: open picket.yml: no such file or directory\n"},
		{[]string{"collector", "--config", "colector.yaml", "--listen", "127.0.0.1:0"}, "picket collector: read config: open colector.yaml: no such file or directory\n"},
		{[]string{"prober", "--config", "prober.yml"}, "picket prober: read config: open prober.yml: no such file or directory\n"},
	}
	for _, tt := range tests {
		t.Run(tt.args[0], func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir)
			// Were the file ignored, the command would run until ctx
			// ends and then exit 0, which fails the test.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var outb, errb syncbuf.Buffer
			code := run(ctx, tt.args, stdio{in: strings.NewReader(""), out: &outb, err: &errb, getenv: func(string) string { return "" }})
			out, errs := outb.String(), errb.String()
			if code != exitUsage || out != "" || errs != tt.want {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and %q", code, out, errs, exitUsage, tt.want)
			}
			if left, _ := os.ReadDir(dir); len(left) > 0 {
				t.Errorf("a missing configuration left %v behind", left)
			}
		})
	}
}

// A listen address in use is one line that names the flag to change it,
// exit 1, for up and for the collector.
func TestListenAddressInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := l.Addr().String()
	for _, cmd := range []string{"up", "collector"} {
		t.Run(cmd, func(t *testing.T) {
			t.Chdir(t.TempDir())
			code, out, errs := cli(t, nil, cmd, "--listen", addr)
			want := "picket " + cmd + ": listen: listen tcp " + addr + ": bind: address already in use; another process listens there: choose another address with --listen ADDR\n"
			if code != exitFailed || out != "" || errs != want {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and %q", code, out, errs, exitFailed, want)
			}
		})
	}
}

// A store that cannot be reached is one line on stderr, exit 1, though
// pgx puts every address it tried on a line of its own.
func TestStoreUnreachableIsOneLine(t *testing.T) {
	addr := freeAddr(t)
	dir := t.TempDir()
	t.Chdir(dir)
	file := filepath.Join(dir, "collector.yaml")
	if err := os.WriteFile(file, []byte("listen: 127.0.0.1:0\nstore: postgres://picket@"+addr+"/picket\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := cli(t, nil, "collector", "--config", file)
	if code != exitFailed || out != "" {
		t.Errorf("exit %d, stdout %q; want exit %d and nothing", code, out, exitFailed)
	}
	if !strings.HasPrefix(errs, "picket collector: open store: postgres: ") || strings.Count(errs, "\n") != 1 || strings.Count(errs, "connection refused") != 1 {
		t.Errorf("stderr %q; want one line saying the connection was refused, once", errs)
	}
}

func TestOneLine(t *testing.T) {
	tests := []struct{ in, want string }{
		{"open store: x", "open store: x"},
		{"failed to connect to `user=p`:\n\ta: refused\n\ta: refused", "failed to connect to `user=p`: a: refused"},
		{"first\nsecond\n", "first; second"},
	}
	for _, tt := range tests {
		if got := oneLine(tt.in); got != tt.want {
			t.Errorf("oneLine(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// freeAddr is a loopback address nothing listens on: taken, then released.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
