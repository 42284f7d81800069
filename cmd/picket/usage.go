package main

import (
	"flag"
	"fmt"
)

// subcommand is one "picket GROUP NAME" command: what its help and its
// usage errors print.
type subcommand struct {
	name    string
	usage   string // after "picket GROUP ", e.g. "apply -f FILE [--dry-run]"
	summary string
}

// pickSubcommand finds args[0] among subs. With no argument it prints the
// group's usage and returns exitUsage; with -h, --help or help, exitOK;
// with an unknown name, one line naming it and exitUsage. The caller
// returns code when ok is false.
func pickSubcommand(io stdio, group string, subs []subcommand, args []string) (sub subcommand, code int, ok bool) {
	if len(args) == 0 {
		groupUsage(io, group, subs)
		return subcommand{}, exitUsage, false
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		groupUsage(io, group, subs)
		return subcommand{}, exitOK, false
	}
	for _, s := range subs {
		if s.name == args[0] {
			return s, 0, true
		}
	}
	names := make([]string, len(subs))
	for i, s := range subs {
		names[i] = s.name
	}
	fmt.Fprintf(io.err, "picket %s: unknown subcommand %q; one of %v (picket %s -h)\n", group, args[0], names, group)
	return subcommand{}, exitUsage, false
}

func groupUsage(io stdio, group string, subs []subcommand) {
	fmt.Fprintf(io.err, "usage: picket %s SUBCOMMAND [flags]\n\nsubcommands:\n", group)
	for _, s := range subs {
		fmt.Fprintf(io.err, "  picket %s %s\n      %s\n", group, s.usage, s.summary)
	}
	fmt.Fprintf(io.err, "\n'picket %s SUBCOMMAND -h' lists its flags.\n", group)
}

// newSubFlagSet returns the flag set of one subcommand: -h prints its
// usage line, summary and flags, and nothing of the group's other
// subcommands.
func newSubFlagSet(group string, sub subcommand, io stdio) *flag.FlagSet {
	return newUsageFlagSet(group+" "+sub.name, "picket "+group+" "+sub.usage, sub.summary, io)
}

// newUsageFlagSet returns the flag set of command name whose -h prints
// the usage line, the summary and the flags.
func newUsageFlagSet(name, usage, summary string, io stdio) *flag.FlagSet {
	fs := newFlagSet(name, io)
	fs.Usage = func() {
		fmt.Fprintf(io.err, "usage: %s\n\n%s\n", usage, summary)
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintln(io.err, "\nflags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// usageError is the one-line error of a subcommand called with the wrong
// positional arguments.
func usageError(group string, sub subcommand) error {
	return fmt.Errorf("usage: picket %s %s", group, sub.usage)
}
