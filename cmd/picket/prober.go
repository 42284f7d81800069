package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/picketnet/picket/prober"
)

func runProber(ctx context.Context, args []string, io stdio) int {
	fs := newUsageFlagSet("prober", "picket prober [--config prober.yaml] [--debug]", "run the prober agent: fetch assignments, run the checks, ship the results", io)
	path := fs.String("config", "prober.yaml", "prober configuration `file` (see DESIGN.md §3)")
	debug := fs.Bool("debug", false, "log debug messages")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return fail(io, "prober", exitUsage, errors.New("unexpected arguments; usage: picket prober --config prober.yaml"))
	}
	cfg, err := prober.LoadConfig(*path)
	if err != nil {
		return fail(io, "prober", exitUsage, err)
	}
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	ver, _ := buildInfo()
	p, err := prober.New(cfg,
		prober.WithLogger(slog.New(slog.NewTextHandler(io.err, &slog.HandlerOptions{Level: level}))),
		prober.WithVersion(ver))
	if err != nil {
		return fail(io, "prober", exitUsage, err)
	}
	if err := p.Run(ctx); err != nil {
		return fail(io, "prober", exitFailed, err)
	}
	return exitOK
}
