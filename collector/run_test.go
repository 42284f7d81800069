package collector

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/picketnet/picket/checks"
	"github.com/picketnet/picket/collector/client"
	"github.com/picketnet/picket/collector/config"
	"github.com/picketnet/picket/vantage"
)

// TestRuntime starts a collector from a configuration the way the binary
// does: the admin token file is created, the store opened, the API served
// until the context ends; the local vantage of `picket up` survives a
// restart with the same token.
func TestRuntime(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Parse("collector.yaml", []byte("store: sqlite:"+filepath.Join(dir, "data", "p.db")+"\nadmin_token_file: "+filepath.Join(dir, "data", "admin.token")+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var firstToken string
	for round := range 2 {
		rt, err := Start(context.Background(), cfg, checks.NewRegistry(probeKind{}), "127.0.0.1:0", log)
		if err != nil {
			t.Fatal(err)
		}
		if rt.AdminTokenCreated != (round == 0) {
			t.Errorf("round %d: AdminTokenCreated = %v", round, rt.AdminTokenCreated)
		}
		id, token, err := rt.EnsureLocalVantage(context.Background(), filepath.Join(dir, "data", "local.json"), vantage.Identity{ID: "local", Region: "local", Provider: "local"})
		if err != nil {
			t.Fatal(err)
		}
		if round == 0 {
			firstToken = token
		} else if token != firstToken || id.ID != "local" {
			t.Errorf("after restart: vantage %s token changed=%v; want local with the same token", id.ID, token != firstToken)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- rt.Serve(ctx) }()
		c, err := client.New(rt.URL(), token, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Assignment(ctx, ""); err != nil {
			t.Errorf("round %d: assignment with the local vantage token: %v", round, err)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("round %d: Serve: %v", round, err)
		}
	}
}
