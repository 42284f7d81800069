package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/picketnet/picket/collector/render"
)

func runTeams(ctx context.Context, args []string, io stdio) int {
	const usage = "usage: picket teams add NAME | picket teams list | picket teams token NAME | picket teams remove NAME"
	if len(args) == 0 {
		return fail(io, "teams", exitUsage, errors.New(usage))
	}
	fs := newFlagSet("teams "+args[0], io)
	cf := addClientFlags(fs)
	pos, code, ok := parseInterspersed(fs, args[1:])
	if !ok {
		return code
	}
	c, err := cf.client(io)
	if err != nil {
		return fail(io, "teams", exitUsage, err)
	}
	switch {
	case args[0] == "add" && len(pos) == 1:
		out, err := c.CreateTeam(ctx, pos[0])
		if err != nil {
			return fail(io, "teams add", exitFailed, err)
		}
		// The token alone goes to stdout, so that it can be redirected
		// into a file; the note goes to stderr.
		fmt.Fprintf(io.err, "team %s created; its token is shown only now:\n", out.Team.Name)
		fmt.Fprintln(io.out, out.Token)
		return exitOK
	case args[0] == "token" && len(pos) == 1:
		out, err := c.RotateTeamToken(ctx, pos[0])
		if err != nil {
			return fail(io, "teams token", exitFailed, err)
		}
		fmt.Fprintf(io.err, "team %s has a new token and its old one no longer works; the new one is shown only now:\n", out.Team)
		fmt.Fprintln(io.out, out.Token)
		return exitOK
	case args[0] == "remove" && len(pos) == 1:
		out, err := c.RemoveTeam(ctx, pos[0])
		if err != nil {
			return fail(io, "teams remove", exitFailed, err)
		}
		endpoints := "endpoints"
		if out.EndpointsDeleted == 1 {
			endpoints = "endpoint"
		}
		fmt.Fprintf(io.out, "team %s removed: its token no longer works, %d %s deleted; its past results stay until retention\n",
			out.Team, out.EndpointsDeleted, endpoints)
		return exitOK
	case args[0] == "list" && len(pos) == 0:
		ts, err := c.Teams(ctx)
		if err != nil {
			return fail(io, "teams list", exitFailed, err)
		}
		if err := render.Teams(io.out, ts); err != nil {
			return fail(io, "teams list", exitFailed, err)
		}
		return exitOK
	}
	return fail(io, "teams", exitUsage, errors.New(usage))
}
