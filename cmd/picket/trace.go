package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/picketnet/picket/checks"
	"github.com/picketnet/picket/checks/render"
	"github.com/picketnet/picket/checks/targetpolicy"
	"github.com/picketnet/picket/checks/traceroute"
	"github.com/picketnet/picket/netpath"
)

// runTrace is `picket trace TARGET [flags]`: one traceroute with per-hop
// RTTs, ASNs and the AS path, printed like mtr's report.
func runTrace(ctx context.Context, args []string, io stdio) int {
	fs := newFlagSet("trace", io)
	asnDB := fs.String("asn-db", "", "ip2asn `files` (iptoasn.com format, .gz or plain), comma-separated")
	cymru := fs.String("cymru-server", "", "DNS server `host:port` for Team Cymru lookups (default: the system resolver)")
	noDNS := fs.Bool("no-dns", false, "do not ask Team Cymru's DNS for ASNs the files do not have")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this `duration`")
	asJSON := fs.Bool("json", false, "print the result record as JSON")
	denyPrivate := fs.Bool("deny-private", false, "refuse private and special-purpose destinations, as probers do by default")
	kindOptions := traceroute.New(nil).BindFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(io.err, "usage: picket trace TARGET [flags]\n\nflags:")
		fs.PrintDefaults()
	}
	flagArgs, positional := interleaved(fs, args)
	if code, ok := parseFlags(fs, append(flagArgs, positional...)); !ok {
		return code
	}
	if fs.NArg() != 1 {
		return fail(io, "trace", exitUsage, fmt.Errorf("want exactly one TARGET, got %d: %q", fs.NArg(), fs.Args()))
	}

	resolver := &netpath.Resolver{}
	if *asnDB != "" {
		tab, err := netpath.LoadTable(strings.Split(*asnDB, ",")...)
		if err != nil {
			return fail(io, "trace", exitUsage, fmt.Errorf("--asn-db: %w", err))
		}
		resolver.Table = tab
	}
	if !*noDNS {
		resolver.DNS = &netpath.Cymru{Server: *cymru}
	}
	kind := traceroute.New(resolver)
	spec, err := buildSpec(kind.Name(), "", *timeout, kindOptions)
	if err != nil {
		return fail(io, "trace", exitUsage, fmt.Errorf("%w%s", err, flagHint(fs, err)))
	}
	parsed, err := checks.NewRegistry(kind).Parse(fs.Arg(0), spec)
	if err != nil {
		return fail(io, "trace", exitUsage, fmt.Errorf("%w%s", err, flagHint(fs, err)))
	}
	env := checks.Env{}
	if *denyPrivate {
		env.Policy = &targetpolicy.Policy{DenyPrivate: true}
	}
	rec := parsed.Check.Run(ctx, env)
	return printRecord(io, "trace", rec, *asJSON, render.Trace)
}
