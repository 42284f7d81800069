package main

import (
	"context"
	"fmt"

	"github.com/picketnet/picket/collector/render"
)

var teamsCommands = []subcommand{
	{"add", "add NAME", "create team NAME; its token alone goes to stdout, shown only now"},
	{"list", "list", "list the teams"},
	{"token", "token NAME", "give team NAME a new token (to stdout); the old one stops working"},
	{"remove", "remove NAME", "delete team NAME with its endpoints and silences; its past results stay until retention"},
}

func runTeams(ctx context.Context, args []string, io stdio) int {
	sub, code, ok := pickSubcommand(io, "teams", teamsCommands, args)
	if !ok {
		return code
	}
	fs := newSubFlagSet("teams", sub, io)
	cf := addClientFlags(fs)
	pos, code, ok := parseInterspersed(fs, args[1:])
	if !ok {
		return code
	}
	names := 1 // add, token and remove take the team's name
	if sub.name == "list" {
		names = 0
	}
	if len(pos) != names {
		return fail(io, "teams "+sub.name, exitUsage, usageError("teams", sub))
	}
	c, err := cf.client(io)
	if err != nil {
		return fail(io, "teams", exitUsage, err)
	}
	switch {
	case args[0] == "add" && len(pos) == 1:
		out, err := c.CreateTeam(ctx, pos[0])
		if err != nil {
			return fail(io, "teams add", requestExit(err), err)
		}
		// The token alone goes to stdout, so that it can be redirected
		// into a file; the note goes to stderr.
		fmt.Fprintf(io.err, "team %s created; its token is shown only now:\n", out.Team.Name)
		fmt.Fprintln(io.out, out.Token)
		return exitOK
	case args[0] == "token" && len(pos) == 1:
		out, err := c.RotateTeamToken(ctx, pos[0])
		if err != nil {
			return fail(io, "teams token", requestExit(err), err)
		}
		fmt.Fprintf(io.err, "team %s has a new token and its old one no longer works; the new one is shown only now:\n", out.Team)
		fmt.Fprintln(io.out, out.Token)
		return exitOK
	case args[0] == "remove" && len(pos) == 1:
		out, err := c.RemoveTeam(ctx, pos[0])
		if err != nil {
			return fail(io, "teams remove", requestExit(err), err)
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
			return fail(io, "teams list", requestExit(err), err)
		}
		if err := render.Teams(io.out, ts); err != nil {
			return fail(io, "teams list", exitFailed, err)
		}
		return exitOK
	}
	return fail(io, "teams "+sub.name, exitUsage, usageError("teams", sub))
}
