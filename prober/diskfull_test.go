package prober_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/picketnet/picket/collector/api"
	"github.com/picketnet/picket/internal/syncbuf"
	"github.com/picketnet/picket/internal/testenv"
	"github.com/picketnet/picket/prober"
	"github.com/picketnet/picket/prober/spool"
	"github.com/picketnet/picket/results"
)

// fillDisk writes a file in dir until its filesystem is full.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 512)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return path
		}
	}
}

// TestDiskFullIsOneLogLine: when the spool's disk fills up while no
// collector answers, results are dropped, counted, and reported in one
// log line, not one per result; when space returns the prober says so
// and spools again, and every result it produced is either stored or
// counted as dropped.
func TestDiskFullIsOneLogLine(t *testing.T) {
	testenv.RequireRoot(t)
	t.Parallel()
	ctx := context.Background()
	lab := newCollectorLab(t)
	var eps []results.Endpoint
	for i := range 10 {
		eps = append(eps, results.Endpoint{Name: fmt.Sprintf("api-%d", i), Target: lab.target, Regions: []string{"all"},
			Checks: []json.RawMessage{json.RawMessage(`{"kind":"tcp","interval":"1s"}`)}})
	}
	if _, err := lab.team.ApplyEndpoints(ctx, "", api.ApplyEndpoints{Endpoints: eps}); err != nil {
		t.Fatal(err)
	}
	disk := t.TempDir()
	if err := syscall.Mount("tmpfs", disk, "tmpfs", 0, "size=256k"); err != nil {
		t.Fatalf("mount a tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(disk, 0); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	logs := &syncbuf.Buffer{}
	p, stopProber := runProber(t, prober.Config{Collectors: []string{lab.url}, Token: lab.enrolled.Token, SpoolDir: filepath.Join(disk, "spool")},
		prober.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	g := p.Gatherer()
	stored := func() int {
		rs, err := lab.store.Query(ctx, results.ResultQuery{Vantage: "hel1-e2e", Limit: 100000})
		if err != nil {
			t.Fatal(err)
		}
		return len(rs)
	}
	until(t, "results in the store", func() bool { return stored() >= 10 })

	lab.col.shutdown()
	until(t, "a backlog in the spool", func() bool { return gauge(t, g, "picket_prober_spool_records") >= 10 })
	filler := fillDisk(t, disk)
	until(t, "results dropped for want of space", func() bool { return gauge(t, g, "picket_prober_results_dropped_total") >= 30 })
	if n := len(logs.Lines(`msg="results not spooled; dropped"`)); n != 1 {
		t.Errorf("%d log lines about results not spooled, want 1 for the one problem:\n%s", n,
			strings.Join(logs.Lines("not spooled"), "\n"))
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	lab.col.start()
	until(t, "the disk problem reported as resolved", func() bool {
		return len(logs.Lines(`msg="results not spooled; dropped: resolved"`)) == 1
	})
	until(t, "the backlog to drain", func() bool { return gauge(t, g, "picket_prober_spool_records") == 0 })
	stopProber()
	// checks_run_total counts the results that were spooled.
	spooled := int(gauge(t, g, "picket_prober_checks_run_total"))
	sp, err := spool.Open(spool.Options{Dir: filepath.Join(disk, "spool")})
	if err != nil {
		t.Fatal(err)
	}
	left := int(sp.Stats().Records)
	sp.Close()
	if got := stored(); got+left != spooled {
		t.Errorf("%d results spooled: %d stored + %d still spooled", spooled, got, left)
	}
}
