package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"syscall"

	"github.com/picketnet/picket/checks/all"
	"github.com/picketnet/picket/collector"
	"github.com/picketnet/picket/collector/config"
	iconfig "github.com/picketnet/picket/internal/config"
)

func runCollector(ctx context.Context, args []string, io stdio) int {
	fset := newUsageFlagSet("collector", "picket collector [--config collector.yaml] [--listen ADDR] [--debug]", "run the collector server: API, ingest, alerting, dashboard and /metrics", io)
	path := fset.String("config", "collector.yaml", "collector configuration `file` (DESIGN.md §3); defaults are used when the default file is absent")
	listen := fset.String("listen", "", "listen `address`, overriding the file's listen")
	debug := fset.Bool("debug", false, "log debug messages")
	if code, ok := parseFlags(fset, args); !ok {
		return code
	}
	if fset.NArg() > 0 {
		return fail(io, "collector", exitUsage, errors.New("unexpected arguments; usage: picket collector --config collector.yaml"))
	}
	explicit := false
	fset.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "config" })
	cfg, err := config.Load(*path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		cfg, err = config.Default(), nil
	}
	if err != nil {
		return fail(io, "collector", exitUsage, err)
	}
	if cfg.Endpoints.Kind != 0 {
		return fail(io, "collector", exitUsage, fmt.Errorf("%s:%d: endpoints: only picket up registers endpoints from its configuration; register them with picket endpoints apply -f FILE", cfg.File(), cfg.Endpoints.Line))
	}
	log := newLogger(io, *debug)
	rt, err := collector.Start(ctx, cfg, all.New(), *listen, log)
	if err != nil {
		return fail(io, "collector", startExit(err), startError(err))
	}
	if rt.AdminTokenCreated {
		log.Info("created the admin token", "file", cfg.AdminTokenFile)
	}
	log.Info("collector listening", "url", rt.URL(), "store", config.RedactStore(cfg.Store))
	if err := rt.Serve(ctx); err != nil {
		return fail(io, "collector", exitFailed, err)
	}
	return exitOK
}

// startExit is the exit code of a failed collector.Start: bad input (2)
// when the configuration is wrong (a notifier, asn_db), 1 otherwise (the
// store unreachable, the port taken).
func startExit(err error) int {
	if ce := (*iconfig.Error)(nil); errors.As(err, &ce) {
		return exitUsage
	}
	return exitFailed
}

// startError says what to do about a failed collector.Start when the
// command line can fix it.
func startError(err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%w; another process listens there: choose another address with --listen ADDR", err)
	}
	return err
}

func newLogger(io stdio, debug bool) *slog.Logger {
	level := slog.LevelInfo
	if debug {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(io.err, &slog.HandlerOptions{Level: level}))
}
