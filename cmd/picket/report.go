package main

import (
	"context"

	"github.com/picketnet/picket/collector/client"
	"github.com/picketnet/picket/collector/render"
)

var reportCommands = []subcommand{
	{"availability", "availability [--by region|asn|provider|vantage] [--since 24h] [--until T] [--endpoint NAME] [--team TEAM] [--format table|json|csv]",
		"availability, failures, downtime and latency per endpoint and group, from the rollups"},
}

func runReport(ctx context.Context, args []string, io stdio) int {
	sub, code, ok := pickSubcommand(io, "report", reportCommands, args)
	if !ok {
		return code
	}
	fs := newSubFlagSet("report", sub, io)
	cf := addClientFlags(fs)
	by := fs.String("by", "region", "group by `region`, asn, provider or vantage")
	since := fs.String("since", "24h", "window start: a duration before now (24h, 30d) or an RFC 3339 `time`")
	until := fs.String("until", "", "window end, like --since (default now)")
	endpoint := fs.String("endpoint", "", "only this endpoint `name`")
	team := fs.String("team", "", "the `team` (only with the admin token; default every team)")
	format := fs.String("format", "table", "output `format`: table, json or csv")
	pos, code, ok := parseInterspersed(fs, args[1:])
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return fail(io, "report", exitUsage, usageError("report", sub))
	}
	if err := render.CheckFormat(*format); err != nil {
		return fail(io, "report", exitUsage, err)
	}
	c, err := cf.client(io)
	if err != nil {
		return fail(io, "report", exitUsage, err)
	}
	rep, err := c.Availability(ctx, client.ReportQuery{Team: *team, Endpoint: *endpoint, By: *by, Since: *since, Until: *until})
	if err != nil {
		return fail(io, "report", requestExit(err), err)
	}
	if err := render.Report(io.out, rep, *format); err != nil {
		return fail(io, "report", exitFailed, err)
	}
	return exitOK
}
