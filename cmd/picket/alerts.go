package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/picketnet/picket/alerting"
	"github.com/picketnet/picket/collector/api"
	"github.com/picketnet/picket/collector/client"
	"github.com/picketnet/picket/collector/render"
)

var alertsCommands = []subcommand{
	{"list", "list [--window 24h] [--json] [--team TEAM]", "list open alerts and those resolved within --window"},
	{"silence", "silence --for DURATION --reason TEXT [--endpoint NAME] [--type TYPE] [--vantage ID] [--start TIME] [--team TEAM]", "mute matching alerts for a while, or from --start (a maintenance window); the record is kept"},
	{"silences", "silences [--json] [--team TEAM]", "list the silences and maintenance windows"},
	{"unsilence", "unsilence ID [--team TEAM]", "remove a silence"},
}

func runAlerts(ctx context.Context, args []string, io stdio) int {
	sub, code, ok := pickSubcommand(io, "alerts", alertsCommands, args)
	if !ok {
		return code
	}
	fs := newSubFlagSet("alerts", sub, io)
	cf := addClientFlags(fs)
	team := fs.String("team", "", "the `team` (only with the admin token)")
	var window, endpoint, typ, vantage, forDur, start, reason *string
	var asJSON *bool
	switch sub.name {
	case "list":
		window = fs.String("window", "", "also alerts resolved within this `duration` (default 24h)")
		asJSON = fs.Bool("json", false, "print JSON")
	case "silences":
		asJSON = fs.Bool("json", false, "print JSON")
	case "silence":
		endpoint = fs.String("endpoint", "", "one of the team's endpoints, by `name` (default every endpoint of the team)")
		typ = fs.String("type", "", "only alerts of this `type`: "+joinTypes(alerting.SilenceTypes()))
		vantage = fs.String("vantage", "", "only alerts that this enrolled vantage `id` alone sees (an alert also seen from other vantages still notifies)")
		forDur = fs.String("for", "", "how long, a positive `duration` such as 2h (required)")
		start = fs.String("start", "", "start `time` (RFC 3339; default now) — a future start makes a maintenance window")
		reason = fs.String("reason", "", "why (required)")
	}
	pos, code, ok := parseInterspersed(fs, args[1:])
	if !ok {
		return code
	}
	names := 0
	if sub.name == "unsilence" {
		names = 1 // the silence's id
	}
	if len(pos) != names {
		return fail(io, "alerts "+sub.name, exitUsage, usageError("alerts", sub))
	}
	var c *client.Client
	var err error
	if sub.name == "silence" || sub.name == "unsilence" {
		c, err = cf.teamClient(io, *team)
	} else {
		c, err = cf.client(io)
	}
	if err != nil {
		return fail(io, "alerts "+sub.name, exitUsage, err)
	}
	printJSON := func(v any) int {
		b, _ := json.MarshalIndent(v, "", "  ")
		fmt.Fprintln(io.out, string(b))
		return exitOK
	}
	switch {
	case args[0] == "list" && len(pos) == 0:
		as, err := c.Alerts(ctx, *team, *window)
		if err != nil {
			return fail(io, "alerts list", requestExit(err), err)
		}
		if *asJSON {
			return printJSON(as)
		}
		if err := render.Alerts(io.out, as, time.Now()); err != nil {
			return fail(io, "alerts list", exitFailed, err)
		}
		return exitOK
	case args[0] == "silences" && len(pos) == 0:
		ss, err := c.Silences(ctx, *team)
		if err != nil {
			return fail(io, "alerts silences", requestExit(err), err)
		}
		if *asJSON {
			return printJSON(ss)
		}
		multi := false
		for _, s := range ss {
			multi = multi || s.Team != ss[0].Team
		}
		if err := render.Silences(io.out, ss, multi); err != nil {
			return fail(io, "alerts silences", exitFailed, err)
		}
		return exitOK
	case args[0] == "silence" && len(pos) == 0:
		if *forDur == "" || *reason == "" {
			return fail(io, "alerts silence", exitUsage, errors.New("--for and --reason are required"))
		}
		req := api.NewSilence{Endpoint: *endpoint, Type: *typ, Vantage: *vantage, For: *forDur, Reason: *reason}
		if *start != "" {
			t, err := time.Parse(time.RFC3339, *start)
			if err != nil {
				return fail(io, "alerts silence", exitUsage, fmt.Errorf("--start: %q is not an RFC 3339 time", *start))
			}
			req.StartsAt = t
		}
		s, err := c.AddSilence(ctx, *team, req)
		if err != nil {
			// A silence the collector refused names the field: exit 2.
			return fail(io, "alerts silence", requestExit(err), err)
		}
		fmt.Fprintf(io.out, "silence %s: %s until %s\n", s.ID, s.StartsAt.UTC().Format(time.RFC3339), s.EndsAt.UTC().Format(time.RFC3339))
		return exitOK
	case args[0] == "unsilence" && len(pos) == 1:
		if err := c.DeleteSilence(ctx, *team, pos[0]); err != nil {
			return fail(io, "alerts unsilence", requestExit(err), err)
		}
		fmt.Fprintf(io.out, "silence %s removed\n", pos[0])
		return exitOK
	}
	return fail(io, "alerts "+sub.name, exitUsage, usageError("alerts", sub))
}

func joinTypes(ts []alerting.Type) string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}
