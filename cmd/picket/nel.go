package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/picketnet/picket/nel"
	"github.com/picketnet/picket/prober"
)

// runNEL: picket nel headers --endpoint NAME [--collector URL]...
func runNEL(_ context.Context, args []string, io stdio) int {
	headers := subcommand{"headers", "headers --endpoint NAME [--collector URL]... [--config prober.yaml]",
		"print the Report-To, NEL and Reporting-Endpoints headers a web service adds to its responses"}
	sub, code, ok := pickSubcommand(io, "nel", []subcommand{headers}, args)
	if !ok {
		return code
	}
	fs := newSubFlagSet("nel", sub, io)
	endpoint := fs.String("endpoint", "", "the registered endpoint `NAME` the reports are about (required)")
	var collectors stringList
	fs.Var(&collectors, "collector", "a collector base `URL`; repeat it, in order of preference, with collectors in at least two domains (default $PICKET_COLLECTORS, comma-separated, else the collectors of --config)")
	config := fs.String("config", "", "take the collectors from this prober.yaml `file`")
	success := fs.Float64("success-fraction", 0.01, "share of successful requests browsers report (0..1)")
	failure := fs.Float64("failure-fraction", 1, "share of failed requests browsers report (0..1)")
	maxAge := fs.Duration("max-age", 30*24*time.Hour, "how long browsers keep the policy")
	subdomains := fs.Bool("include-subdomains", false, "apply the policy to the origin's subdomains too")
	if code, ok := parseFlags(fs, args[1:]); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return fail(io, "nel headers", exitUsage, fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	if *endpoint == "" {
		return fail(io, "nel headers", exitUsage, errors.New("--endpoint is required"))
	}
	urls := []string(collectors)
	if len(urls) == 0 {
		urls = splitList(io.getenv("PICKET_COLLECTORS"))
	}
	if len(urls) == 0 && *config != "" {
		var err error
		if urls, err = prober.LoadCollectors(*config); err != nil {
			return fail(io, "nel headers", exitUsage, err)
		}
	}
	if len(urls) == 0 {
		return fail(io, "nel headers", exitUsage, errors.New("no collectors: give --collector URL (twice, in two domains), PICKET_COLLECTORS or --config"))
	}
	h, err := nel.BuildHeaders(nel.HeaderOptions{
		Collectors: urls, Endpoint: *endpoint, MaxAge: *maxAge,
		SuccessFraction: success, FailureFraction: failure, IncludeSubdomains: *subdomains,
	})
	if err != nil {
		return fail(io, "nel headers", exitUsage, err)
	}
	fmt.Fprintf(io.out, "Report-To: %s\nNEL: %s\nReporting-Endpoints: %s\n", h.ReportTo, h.NEL, h.ReportingEndpoints)
	return exitOK
}

// stringList is a repeatable string flag.
type stringList []string

var _ flag.Value = (*stringList)(nil)

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(s string) error {
	*l = append(*l, splitList(s)...)
	return nil
}

func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
}
