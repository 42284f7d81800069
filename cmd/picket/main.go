// Command picket is the single Picket binary: the prober agent, the
// collector, the quickstart and the client commands. Each subcommand only
// parses its flags and wires packages together; the logic lives in them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// Exit codes shared by every subcommand.
const (
	exitOK     = 0
	exitFailed = 1 // the command ran and found a failure (a failed check)
	exitUsage  = 2 // bad usage, bad input, or not implemented
)

// stdio is where a command reads and writes; tests pass buffers.
type stdio struct {
	in       io.Reader
	out, err io.Writer
	getenv   func(string) string
}

// command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, io stdio) int
}

func commands() map[string]command {
	return map[string]command{
		"up":        {"run a collector with the embedded store and a local prober (the quickstart)", runUp},
		"collector": {"run the collector server", runCollector},
		"prober":    {"run the prober agent", runProber},
		"check":     {"run one check from this machine now", runCheck},
		"trace":     {"run one traceroute with per-hop ASNs and the AS path", runTrace},
		"endpoints": {"register endpoints: apply -f FILE, list, delete NAME", runEndpoints},
		"teams":     {"manage teams (operator): add NAME, list, token NAME, remove NAME", runTeams},
		"vantages":  {"manage vantages (operator): add ID ..., list, token ID, remove ID", runVantages},
		"report":    {"reports: availability", runReport},
		"alerts":    {"alerts: list, silence, silences, unsilence ID", runAlerts},
		"nel":       {"Network Error Logging: headers --endpoint NAME", runNEL},
		"bench":     {"load generator: ingest", runBench},
		"version":   {"print version, commit and Go version", runVersion},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr, getenv: os.Getenv})
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, io stdio) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(io.err, cmds)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(io.err, "picket: unknown command %q; run 'picket help'\n", args[0])
		return exitUsage
	}
	return cmd.run(ctx, args[1:], io)
}

func usage(w io.Writer, cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "usage: picket COMMAND [flags]\n\ncommands:")
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\n'picket COMMAND -h' shows a command's usage and flags.")
}

// newFlagSet returns a FlagSet that reports errors instead of exiting, and
// writes its usage to io.err.
func newFlagSet(name string, io stdio) *flag.FlagSet {
	fs := flag.NewFlagSet("picket "+name, flag.ContinueOnError)
	fs.SetOutput(io.err)
	return fs
}

// parseFlags parses args and maps a parse failure to exitUsage; -h is exitOK.
// It returns ok=false when the caller should return code.
func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	return 0, true
}

// fail prints a one-line error for the command and returns code.
func fail(io stdio, name string, code int, err error) int {
	fmt.Fprintf(io.err, "picket %s: %s\n", name, oneLine(err.Error()))
	return code
}

// oneLine folds a multi-line error into one line, without repeating a
// line: pgx, for one, lists every address it tried on lines of their own.
func oneLine(msg string) string {
	if !strings.Contains(msg, "\n") {
		return msg
	}
	var b strings.Builder
	seen := map[string]bool{}
	for _, l := range strings.Split(msg, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || seen[l] {
			continue
		}
		seen[l] = true
		switch {
		case b.Len() == 0:
		case strings.HasSuffix(b.String(), ":"):
			b.WriteString(" ")
		default:
			b.WriteString("; ")
		}
		b.WriteString(l)
	}
	return b.String()
}
