package collector

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/picketnet/picket/internal/pgtest"
	"github.com/picketnet/picket/internal/syncbuf"
	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/results/postgres"
)

// When PostgreSQL goes away, every batch, heartbeat, token lookup and
// readiness probe fails. The operator gets one error line saying what
// failed and why, and one line when the store answers again saying for
// how long and how many requests it failed; not one or two lines per
// request (hundreds a second with a fleet of probers), as before. And
// /readyz, which anyone may call, says the store is not ready without
// naming its host, port, user and database, as it did.
func TestStoreOutageLogsOncePerOutage(t *testing.T) {
	ctx := context.Background()
	dbURL := pg.Database(t)
	st, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var logs syncbuf.Buffer
	e := newEnvWith(t, st, func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	e.register("payments", "checkout")
	v1 := e.vantage("v1", "eu", "hetzner")
	v2 := e.vantage("v2", "us", "aws") // first used during the outage: its token is not cached
	at := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	post := func(id string) error {
		_, err := v1.PostResults(ctx, results.Batch{Results: []results.Result{record(id, "payments", "checkout", "v1", at, true, 12)}}, true)
		return err
	}
	if err := post("r-before"); err != nil {
		t.Fatal(err)
	}
	before := len(logs.Lines(""))

	end := pgtest.Outage(t, dbURL, false)
	failures := 0
	for i := range 5 {
		if err := post(fmt.Sprintf("r-during-%d", i)); err == nil {
			t.Fatal("a batch was acknowledged during the outage")
		}
		if _, err := v1.Heartbeat(ctx, results.Heartbeat{Version: "test"}); err == nil {
			t.Fatal("a heartbeat was acknowledged during the outage")
		}
		if _, err := v2.Heartbeat(ctx, results.Heartbeat{Version: "test"}); err == nil {
			t.Fatal("a heartbeat with an uncached token was acknowledged during the outage")
		}
		status, body := get(t, e.hs.URL+"/readyz")
		if status != http.StatusServiceUnavailable {
			t.Fatalf("/readyz during the outage: %d %s", status, body)
		}
		u, _ := url.Parse(dbURL)
		for _, secret := range []string{u.Port(), u.User.Username(), strings.TrimPrefix(u.Path, "/")} {
			if strings.Contains(body, secret) {
				t.Errorf("/readyz tells anyone %q: %s", secret, body)
			}
		}
		failures += 4
	}
	during := logs.Lines("")[before:]
	if len(during) != 1 || !strings.Contains(during[0], "level=ERROR") || !strings.Contains(during[0], "store failing") {
		t.Errorf("%d log lines for one outage of %d failed requests, want 1 error:\n%s", len(during), failures, strings.Join(during, "\n"))
	}

	end()
	var err2 error
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if err2 = post("r-after"); err2 == nil {
			break
		}
	}
	if err2 != nil {
		t.Fatalf("ingest after the outage: %v", err2)
	}
	after := logs.Lines("")[before+len(during):]
	var recovered []string
	for _, l := range after {
		if strings.Contains(l, "store answering again") {
			recovered = append(recovered, l)
		}
	}
	if len(recovered) != 1 || !strings.Contains(recovered[0], "level=INFO") || !strings.Contains(recovered[0], "failures=") {
		t.Errorf("after the outage the log says:\n%s\nwant one line that the store answers again", strings.Join(after, "\n"))
	}
	if status, body := get(t, e.hs.URL+"/readyz"); status != http.StatusOK {
		t.Errorf("/readyz after the outage: %d %s", status, body)
	}
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
