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

func runVantages(ctx context.Context, args []string, io stdio) int {
	const usage = "usage: picket vantages add ID --region R --provider P [--asn N] [--lat X --lon Y] | picket vantages list | picket vantages token ID | picket vantages remove ID"
	if len(args) == 0 {
		return fail(io, "vantages", exitUsage, errors.New(usage))
	}
	fs := newFlagSet("vantages "+args[0], io)
	cf := addClientFlags(fs)
	region := fs.String("region", "", "region `name` (add)")
	provider := fs.String("provider", "", "provider `name` (add)")
	asn := fs.Uint("asn", 0, "the vantage's `ASN` (add; optional)")
	lat := fs.Float64("lat", 0, "latitude in degrees (add; optional, with --lon)")
	lon := fs.Float64("lon", 0, "longitude in degrees (add; optional, with --lat)")
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
			return fail(io, "vantages add", exitFailed, err)
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
			return fail(io, "vantages token", exitFailed, err)
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
			return fail(io, "vantages remove", exitFailed, err)
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
			return fail(io, "vantages list", exitFailed, err)
		}
		if err := render.Vantages(io.out, vs, time.Now()); err != nil {
			return fail(io, "vantages list", exitFailed, err)
		}
		return exitOK
	}
	return fail(io, "vantages", exitUsage, errors.New(usage))
}
