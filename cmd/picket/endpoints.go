package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/picketnet/picket/checks/all"
	"github.com/picketnet/picket/collector/api"
	"github.com/picketnet/picket/collector/client"
	"github.com/picketnet/picket/collector/endpointspec"
	"github.com/picketnet/picket/collector/render"
)

func runEndpoints(ctx context.Context, args []string, io stdio) int {
	const usage = "usage: picket endpoints apply -f FILE [--dry-run] | list | delete NAME"
	if len(args) == 0 {
		return fail(io, "endpoints", exitUsage, errors.New(usage))
	}
	fs := newFlagSet("endpoints "+args[0], io)
	cf := addClientFlags(fs)
	file := fs.String("f", "", "endpoints `file` (apply)")
	dryRun := fs.Bool("dry-run", false, "print the changes apply would make, change nothing")
	team := fs.String("team", "", "the `team` to act for (only with the admin token)")
	pos, code, ok := parseInterspersed(fs, args[1:])
	if !ok {
		return code
	}
	name := "endpoints " + args[0]
	switch {
	case args[0] == "apply" && len(pos) == 0:
		if *file == "" {
			return fail(io, name, exitUsage, errors.New("-f FILE is required"))
		}
		data, err := os.ReadFile(*file)
		if err != nil {
			return fail(io, name, exitUsage, err)
		}
		f, err := endpointspec.Parse(*file, data)
		if err != nil {
			return fail(io, name, exitUsage, err)
		}
		// Validate here first, so mistakes come back with their line
		// without a round trip; the collector validates again, with its
		// targets policy and whether it allows ca_file.
		if err := f.Validate(ctx, &endpointspec.Validator{Kinds: all.New(), AllowLocalFiles: true}); err != nil {
			return fail(io, name, exitUsage, err)
		}
		c, err := cf.client(io)
		if err != nil {
			return fail(io, name, exitUsage, err)
		}
		out, err := c.ApplyEndpoints(ctx, *team, api.ApplyEndpoints{Endpoints: f.Endpoints, Prune: true, DryRun: *dryRun})
		if err != nil {
			var ae *client.Error
			if errors.As(err, &ae) && ae.Body.Field != "" {
				// The collector found a field of the file wrong (its target
				// policy, another team's name): bad input, like a mistake
				// the CLI finds itself.
				if line := f.Line(ae.Body.Field); line > 0 {
					err = fmt.Errorf("%s:%d: %s", *file, line, ae.Body.Error)
				}
				return fail(io, name, exitUsage, err)
			}
			return fail(io, name, exitFailed, err)
		}
		if err := render.Applied(io.out, out); err != nil {
			return fail(io, name, exitFailed, err)
		}
		return exitOK
	case args[0] == "list" && len(pos) == 0:
		c, err := cf.client(io)
		if err != nil {
			return fail(io, name, exitUsage, err)
		}
		eps, err := c.Endpoints(ctx, *team)
		if err != nil {
			return fail(io, name, exitFailed, err)
		}
		multi := false
		for _, e := range eps {
			multi = multi || e.Team != eps[0].Team
		}
		if err := render.Endpoints(io.out, eps, multi); err != nil {
			return fail(io, name, exitFailed, err)
		}
		return exitOK
	case args[0] == "delete" && len(pos) == 1:
		c, err := cf.client(io)
		if err != nil {
			return fail(io, name, exitUsage, err)
		}
		if err := c.DeleteEndpoint(ctx, *team, pos[0]); err != nil {
			return fail(io, name, exitFailed, err)
		}
		fmt.Fprintf(io.out, "- delete %s\n", pos[0])
		return exitOK
	}
	return fail(io, "endpoints", exitUsage, errors.New(usage))
}
