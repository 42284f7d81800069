package prober_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/picketnet/picket/checks/all"
	"github.com/picketnet/picket/collector"
	"github.com/picketnet/picket/internal/syncbuf"
	"github.com/picketnet/picket/prober"
)

// TestClockOffsetIsReported: a prober whose clock is far from the
// collector's says so once in its log, in its metrics and in its
// heartbeats (so in `picket vantages list`). The skew is made on the
// collector's side of the wire: the real collector, whose Date header
// reads ten minutes earlier than this host's clock, as if this host's
// clock ran ten minutes ahead.
func TestClockOffsetIsReported(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	lab := newCollectorLab(t)
	lab.tcpEndpoints(t, "all", "api")
	srv, err := collector.New(collector.Options{
		Store: lab.store, Kinds: all.New(), AdminToken: "admin-token", HeartbeatEvery: time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	const skew = 10 * time.Minute
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", time.Now().Add(-skew).UTC().Format(http.TimeFormat))
		srv.ServeHTTP(w, r)
	})}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })

	logs := &syncbuf.Buffer{}
	p, _ := runProber(t, prober.Config{Collectors: []string{"http://" + ln.Addr().String()}, Token: lab.enrolled.Token}, prober.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	until(t, "a heartbeat reporting the clock", func() bool {
		vs, err := lab.admin.Vantages(ctx)
		return err == nil && len(vs) == 1 && strings.Contains(vs[0].LastError, "clock is 10m0s ahead of the collectors'")
	})
	if off := gauge(t, p.Gatherer(), "picket_prober_clock_offset_seconds"); off < skew.Seconds()-2 || off > skew.Seconds()+2 {
		t.Errorf("picket_prober_clock_offset_seconds %v, want about %v", off, skew.Seconds())
	}
	until(t, "a few more heartbeats", func() bool { return gauge(t, p.Gatherer(), "picket_prober_heartbeats_total") >= 4 })
	if lines := logs.Lines(`msg="clock offset"`); len(lines) != 1 {
		t.Errorf("%d log lines about the clock, want 1:\n%s", len(lines), strings.Join(lines, "\n"))
	}
}
