package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/picketnet/picket/alerting"
	"github.com/picketnet/picket/checks/all"
	"github.com/picketnet/picket/collector/api"
	"github.com/picketnet/picket/collector/client"
	"github.com/picketnet/picket/collector/endpointspec"
	"github.com/picketnet/picket/collector/render"
)

var endpointsCommands = []subcommand{
	{"apply", "apply -f FILE [--dry-run] [--team TEAM]", "make the team's endpoints exactly those of FILE, and print the changes"},
	{"list", "list [--team TEAM]", "list the team's endpoints (every team's with the admin token)"},
	{"delete", "delete NAME [--team TEAM]", "delete one endpoint; its past results stay"},
}

func runEndpoints(ctx context.Context, args []string, io stdio) int {
	sub, code, ok := pickSubcommand(io, "endpoints", endpointsCommands, args)
	if !ok {
		return code
	}
	fs := newSubFlagSet("endpoints", sub, io)
	cf := addClientFlags(fs)
	team := fs.String("team", "", "the `team` to act for (only with the admin token)")
	var file *string
	var dryRun *bool
	if sub.name == "apply" {
		file = fs.String("f", "", "endpoints `file` (required)")
		dryRun = fs.Bool("dry-run", false, "print the changes apply would make, change nothing")
	}
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
		if err := f.Validate(ctx, &endpointspec.Validator{Kinds: all.New(), Alert: alerting.ValidatePolicy, AllowLocalFiles: true}); err != nil {
			return fail(io, name, exitUsage, err)
		}
		c, err := cf.teamClient(io, *team)
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
			return fail(io, name, requestExit(err), err)
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
			return fail(io, name, requestExit(err), err)
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
		c, err := cf.teamClient(io, *team)
		if err != nil {
			return fail(io, name, exitUsage, err)
		}
		if err := c.DeleteEndpoint(ctx, *team, pos[0]); err != nil {
			return fail(io, name, requestExit(err), err)
		}
		fmt.Fprintf(io.out, "- delete %s\n", pos[0])
		return exitOK
	}
	return fail(io, name, exitUsage, usageError("endpoints", sub))
}
