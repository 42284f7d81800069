package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/picketnet/picket/checks/all"
	"github.com/picketnet/picket/collector"
	"github.com/picketnet/picket/collector/config"
	"github.com/picketnet/picket/collector/endpointspec"
	"github.com/picketnet/picket/collector/render"
	"github.com/picketnet/picket/prober"
	"github.com/picketnet/picket/vantage"
)

// upDataDir is where `picket up` keeps everything.
const upDataDir = "./picket-data"

func runUp(ctx context.Context, args []string, io stdio) int {
	fset := newUsageFlagSet("up", "picket up [--listen ADDR] [--config picket.yaml] [--no-prober] [--debug]", "the quickstart: a collector with the SQLite store in ./picket-data, the endpoints of picket.yaml\nfor the team local, and a local prober, in one process", io)
	path := fset.String("config", "picket.yaml", "configuration `file` in collector.yaml form plus endpoints; defaults are used when the default file is absent")
	listen := fset.String("listen", "", "listen `address`, overriding the configuration's listen (default: its listen, else 127.0.0.1:8080)")
	noProber := fset.Bool("no-prober", false, "run only the collector")
	debug := fset.Bool("debug", false, "log debug messages")
	if code, ok := parseFlags(fset, args); !ok {
		return code
	}
	if fset.NArg() > 0 {
		return fail(io, "up", exitUsage, errors.New("unexpected arguments; usage: picket up [--config picket.yaml]"))
	}
	// A file named on the command line must exist: a mistyped name
	// would otherwise start a quickstart that probes nothing.
	explicit := false
	fset.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "config" })
	cfg, err := config.Load(*path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		cfg, err = config.Default(), nil
	}
	if err != nil {
		return fail(io, "up", exitUsage, err)
	}
	log := newLogger(io, *debug)
	rt, err := collector.Start(ctx, cfg, all.New(), *listen, log)
	if err != nil {
		return fail(io, "up", startExit(err), startError(err))
	}
	fmt.Fprintf(io.out, "picket collector on %s (store %s)\n", rt.URL(), cfg.Store)
	fmt.Fprintf(io.out, "dashboard: %s/ — sign in with the admin token in %s\n", rt.URL(), cfg.AdminTokenFile)
	if code := applyLocalEndpoints(ctx, rt, cfg, io); code != exitOK {
		rt.Listener.Close()
		rt.Store.Close()
		return code
	}

	// On shutdown the prober stops first, so that its last delivery still
	// finds the collector, then the collector.
	serveCtx, stopServe := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServe()
	proberCtx, stopProber := context.WithCancel(ctx)
	defer stopProber()
	var wg sync.WaitGroup
	var proberErr error
	if !*noProber {
		id, token, err := rt.EnsureLocalVantage(ctx, filepath.Join(upDataDir, "local-vantage.json"),
			vantage.Identity{ID: "local", Region: "local", Provider: "local"})
		if err != nil {
			rt.Listener.Close()
			rt.Store.Close()
			return fail(io, "up", exitFailed, fmt.Errorf("enrol the local prober: %w", err))
		}
		p, err := prober.New(prober.Config{
			Identity:   id,
			Collectors: []string{rt.URL()},
			Token:      token,
			SpoolDir:   filepath.Join(upDataDir, "spool"),
			Discovery:  &vantage.Discovery{Disabled: true},
			// A quickstart picks up edited endpoints in seconds.
			PollEvery: 5 * time.Second,
		}, prober.WithLogger(log.With("component", "prober")))
		if err != nil {
			rt.Listener.Close()
			rt.Store.Close()
			return fail(io, "up", exitFailed, fmt.Errorf("local prober: %w", err))
		}
		fmt.Fprintf(io.out, "local prober %s (region %s) running\n", id.ID, id.Region)
		wg.Go(func() {
			if proberErr = p.Run(proberCtx); proberErr != nil {
				log.Error("local prober stopped", "err", proberErr)
			}
		})
	}
	go func() {
		select {
		case <-ctx.Done():
		case <-serveCtx.Done():
		}
		stopProber()
		wg.Wait()
		stopServe()
	}()
	err = rt.Serve(serveCtx)
	stopProber()
	wg.Wait()
	if err = errors.Join(err, proberErr); err != nil {
		return fail(io, "up", exitFailed, err)
	}
	return exitOK
}

// localTeam owns the endpoints of picket.yaml.
const localTeam = "local"

// applyLocalEndpoints registers picket.yaml's endpoints for the local
// team, printing the changes, and keeps a new team's token in
// ./picket-data/local-team.token for the team commands.
func applyLocalEndpoints(ctx context.Context, rt *collector.Runtime, cfg *config.Config, io stdio) int {
	if len(cfg.Data()) == 0 {
		return exitOK // no picket.yaml, or an empty one: no endpoints
	}
	f, err := endpointspec.ParseEmbedded(cfg.File(), cfg.Data())
	if err != nil {
		return fail(io, "up", exitUsage, err)
	}
	if len(f.Endpoints) == 0 {
		return exitOK
	}
	out, token, err := rt.ApplyLocal(ctx, localTeam, f)
	if err != nil {
		return fail(io, "up", exitUsage, err)
	}
	if token != "" {
		path := filepath.Join(upDataDir, "local-team.token")
		if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
			return fail(io, "up", exitFailed, err)
		}
		fmt.Fprintf(io.out, "team %s created; its token is in %s\n", localTeam, path)
	}
	fmt.Fprintf(io.out, "endpoints of %s for team %s:\n", cfg.File(), localTeam)
	if err := render.Applied(io.out, out); err != nil {
		return fail(io, "up", exitFailed, err)
	}
	return exitOK
}
