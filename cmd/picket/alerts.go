package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/picketnet/picket/alerting"
	"github.com/picketnet/picket/collector/api"
	"github.com/picketnet/picket/collector/client"
	"github.com/picketnet/picket/collector/render"
)

func runAlerts(ctx context.Context, args []string, io stdio) int {
	const usage = "usage: picket alerts list [--window 24h] [--json] | picket alerts silence --endpoint NAME --for 2h --reason TEXT [--start T] [--type T] [--vantage ID] | picket alerts silences | picket alerts unsilence ID"
	if len(args) == 0 {
		return fail(io, "alerts", exitUsage, errors.New(usage))
	}
	fs := newFlagSet("alerts "+args[0], io)
	cf := addClientFlags(fs)
	team := fs.String("team", "", "the `team` (only with the admin token)")
	window := fs.String("window", "", "list: also alerts resolved within this `duration` (default 24h)")
	asJSON := fs.Bool("json", false, "list, silences: print JSON")
	endpoint := fs.String("endpoint", "", "silence: one of the team's endpoints, by `name` (default every endpoint of the team)")
	typ := fs.String("type", "", "silence: only alerts of this `type`: "+joinTypes(alerting.SilenceTypes()))
	vantage := fs.String("vantage", "", "silence: only alerts that this enrolled vantage `id` alone sees (an alert also seen from other vantages still notifies)")
	forDur := fs.String("for", "", "silence: how long, a positive `duration` such as 2h")
	start := fs.String("start", "", "silence: start `time` (RFC 3339; default now) — a future start makes a maintenance window")
	reason := fs.String("reason", "", "silence: why (required)")
	pos, code, ok := parseInterspersed(fs, args[1:])
	if !ok {
		return code
	}
	c, err := cf.client(io)
	if err != nil {
		return fail(io, "alerts", exitUsage, err)
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
			return fail(io, "alerts list", exitFailed, err)
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
			return fail(io, "alerts silences", exitFailed, err)
		}
		if *asJSON {
			return printJSON(ss)
		}
		if err := render.Silences(io.out, ss); err != nil {
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
		if client.IsStatus(err, http.StatusBadRequest) || client.IsStatus(err, http.StatusUnprocessableEntity) {
			// The collector refused the silence and said which field is wrong.
			return fail(io, "alerts silence", exitUsage, err)
		}
		if err != nil {
			return fail(io, "alerts silence", exitFailed, err)
		}
		fmt.Fprintf(io.out, "silence %s: %s until %s\n", s.ID, s.StartsAt.UTC().Format(time.RFC3339), s.EndsAt.UTC().Format(time.RFC3339))
		return exitOK
	case args[0] == "unsilence" && len(pos) == 1:
		if err := c.DeleteSilence(ctx, *team, pos[0]); err != nil {
			return fail(io, "alerts unsilence", exitFailed, err)
		}
		fmt.Fprintf(io.out, "silence %s removed\n", pos[0])
		return exitOK
	}
	return fail(io, "alerts", exitUsage, errors.New(usage))
}

func joinTypes(ts []alerting.Type) string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}
