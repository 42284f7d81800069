package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/picketnet/picket/collector/api"
	"github.com/picketnet/picket/collector/render"
)

var vantagesCommands = []subcommand{
	{"add", "add ID --region R --provider P [--asn N] [--lat X --lon Y]", "enrol a prober as vantage ID; its token alone goes to stdout, shown only now"},
	{"list", "list", "list the vantages with their last heartbeat, version, spool depth and problems"},
	{"token", "token ID", "give vantage ID a new token (to stdout); the old one stops working"},
	{"remove", "remove ID", "revoke vantage ID; its past results stay in reports"},
}

func runVantages(ctx context.Context, args []string, io stdio) int {
	sub, code, ok := pickSubcommand(io, "vantages", vantagesCommands, args)
	if !ok {
		return code
	}
	fs := newSubFlagSet("vantages", sub, io)
	cf := addClientFlags(fs)
	var region, provider *string
	var asn *uint
	var lat, lon *float64
	if sub.name == "add" {
		region = fs.String("region", "", "region `name` (required)")
		provider = fs.String("provider", "", "provider `name` (required)")
		asn = fs.Uint("asn", 0, "the vantage's `ASN` (optional; the prober discovers it otherwise)")
		lat = fs.Float64("lat", 0, "latitude in degrees (optional, with --lon)")
		lon = fs.Float64("lon", 0, "longitude in degrees (optional, with --lat)")
	}
	pos, code, ok := parseInterspersed(fs, args[1:])
	if !ok {
		return code
	}
	switch {
	case args[0] == "add" && len(pos) == 1:
		req := api.EnrolVantage{ID: pos[0], Region: *region, Provider: *provider, ASN: uint32(*asn)}
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if set["lat"] != set["lon"] {
			return fail(io, "vantages add", exitUsage, errors.New("--lat and --lon go together"))
		}
		if set["lat"] {
			req.Lat, req.Lon = lat, lon
		}
		if *region == "" || *provider == "" {
			return fail(io, "vantages add", exitUsage, errors.New("--region and --provider are required"))
		}
		c, err := cf.client(io)
		if err != nil {
			return fail(io, "vantages", exitUsage, err)
		}
		out, err := c.EnrolVantage(ctx, req)
		if err != nil {
			return fail(io, "vantages add", requestExit(err), err)
		}
		// The token alone goes to stdout (picket vantages add ... > token).
		fmt.Fprintf(io.err, "vantage %s enrolled (region %s, provider %s); its token is shown only now; put it in the prober's token_file:\n",
			out.Vantage.ID, out.Vantage.Region, out.Vantage.Provider)
		fmt.Fprintln(io.out, out.Token)
		return exitOK
	case args[0] == "token" && len(pos) == 1:
		c, err := cf.client(io)
		if err != nil {
			return fail(io, "vantages", exitUsage, err)
		}
		out, err := c.RotateVantageToken(ctx, pos[0])
		if err != nil {
			return fail(io, "vantages token", requestExit(err), err)
		}
		fmt.Fprintf(io.err, "vantage %s has a new token and its old one no longer works; the new one is shown only now; put it in the prober's token_file (a refused prober reads the file again):\n", out.Vantage)
		fmt.Fprintln(io.out, out.Token)
		return exitOK
	case args[0] == "remove" && len(pos) == 1:
		c, err := cf.client(io)
		if err != nil {
			return fail(io, "vantages", exitUsage, err)
		}
		out, err := c.RemoveVantage(ctx, pos[0])
		if err != nil {
			return fail(io, "vantages remove", requestExit(err), err)
		}
		fmt.Fprintf(io.out, "vantage %s removed: its token no longer works; its past results stay in reports\n", out.Vantage)
		return exitOK
	case args[0] == "list" && len(pos) == 0:
		c, err := cf.client(io)
		if err != nil {
			return fail(io, "vantages", exitUsage, err)
		}
		vs, err := c.Vantages(ctx)
		if err != nil {
			return fail(io, "vantages list", requestExit(err), err)
		}
		if err := render.Vantages(io.out, vs, time.Now()); err != nil {
			return fail(io, "vantages list", exitFailed, err)
		}
		return exitOK
	}
	return fail(io, "vantages "+sub.name, exitUsage, usageError("vantages", sub))
}
