package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	goio "io"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/picketnet/picket/checks"
	"github.com/picketnet/picket/checks/all"
	"github.com/picketnet/picket/checks/render"
	"github.com/picketnet/picket/checks/targetpolicy"
	"github.com/picketnet/picket/results"
)

// runCheck is `picket check KIND TARGET [flags]`: one check from this
// machine, now. Flags may come before or after the target.
func runCheck(ctx context.Context, args []string, io stdio) int {
	reg := all.New()
	fs := newFlagSet("check", io)
	timeout := fs.Duration("timeout", checks.DefaultTimeout, "give up after this `duration`")
	asJSON := fs.Bool("json", false, "print the result record as JSON")
	denyPrivate := fs.Bool("deny-private", false, "refuse loopback, private, link-local and metadata addresses, as probers do by default")
	specJSON := fs.String("spec", "", "the kind's options as a JSON `object`, as in an endpoint file; flags override its fields")

	var binder checks.FlagBinder
	kindName, rest := splitKind(fs, args)
	// A mistake is one line; the list of flags is for -h.
	parse := func(args []string) (code int, ok bool) {
		fs.SetOutput(new(bytes.Buffer))
		fs.Usage = func() {}
		err := fs.Parse(args)
		fs.SetOutput(io.err)
		switch {
		case errors.Is(err, flag.ErrHelp):
			fmt.Fprintf(io.err, "usage: picket check KIND TARGET [flags]\n\nkinds: %s\n\nflags:\n", strings.Join(reg.Kinds(), ", "))
			fs.PrintDefaults()
			if kindName != "" && binder == nil {
				fmt.Fprintf(io.err, "\nthe %s kind has no flags of its own: use --spec\n", kindName)
			}
			return exitOK, false
		case err != nil:
			return fail(io, "check", exitUsage, fmt.Errorf("%w; see 'picket check %s -h'", err, cmp.Or(kindName, "KIND"))), false
		}
		return 0, true
	}

	if kindName == "" {
		// Only flags: -h is a request for usage; anything else is a mistake.
		if code, ok := parse(args); !ok {
			return code
		}
		return fail(io, "check", exitUsage, fmt.Errorf("missing KIND and TARGET; kinds: %s", strings.Join(reg.Kinds(), ", ")))
	}
	kind, ok := reg.Lookup(kindName)
	if !ok {
		return fail(io, "check", exitUsage, fmt.Errorf("unknown kind %q; one of %s", kindName, strings.Join(reg.Kinds(), ", ")))
	}
	kindOptions := func() (json.RawMessage, error) { return nil, nil }
	if b, ok := kind.(checks.FlagBinder); ok {
		binder = b
		kindOptions = b.BindFlags(fs)
	}
	flagArgs, positional := interleaved(fs, rest)
	if code, ok := parse(append(flagArgs, positional...)); !ok {
		return code
	}
	if fs.NArg() != 1 {
		return fail(io, "check", exitUsage, fmt.Errorf("want exactly one TARGET after %s, got %d: %q", kindName, fs.NArg(), fs.Args()))
	}
	target := fs.Arg(0)

	spec, err := buildSpec(kindName, *specJSON, *timeout, kindOptions)
	if err != nil {
		// A kind may check its flags as it reads them: the same bad spec
		// as one Parse finds, and said the same way.
		var fe *checks.FieldError
		if errors.As(err, &fe) {
			err = fmt.Errorf("bad spec: %w%s", err, flagHint(fs, err))
		}
		return fail(io, "check", exitUsage, err)
	}
	parsed, err := reg.Parse(target, spec)
	if err != nil {
		return fail(io, "check", exitUsage, fmt.Errorf("bad spec: %w%s", err, flagHint(fs, err)))
	}

	env := checks.Env{}
	if *denyPrivate {
		env.Policy = &targetpolicy.Policy{DenyPrivate: true}
	}
	// The check enforces its own timeout and reports the phase it hit; the
	// grace only stops a run that would not.
	runCtx, cancel := context.WithTimeout(ctx, parsed.Spec.Timeout.Std()+time.Second)
	defer cancel()
	rec := parsed.Check.Run(runCtx, env)
	return printRecord(io, "check", rec, *asJSON, render.Summary)
}

// printRecord stamps rec with an id and writes it, as JSON or for a
// human, and returns the exit code its outcome calls for.
func printRecord(io stdio, cmd string, rec results.Result, asJSON bool, human func(goio.Writer, results.Result) error) int {
	if id, err := uuid.NewV7(); err == nil {
		rec.ID = id.String()
	}
	var err error
	if asJSON {
		enc := json.NewEncoder(io.out)
		enc.SetIndent("", "  ")
		err = enc.Encode(rec)
	} else {
		err = human(io.out, rec)
	}
	if err != nil {
		return fail(io, cmd, exitFailed, err)
	}
	if !rec.OK {
		return exitFailed
	}
	return exitOK
}

// splitKind finds KIND, the first argument that is neither a flag nor the
// value of one of the common flags, and returns the other arguments.
func splitKind(fs *flag.FlagSet, args []string) (string, []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			if i+1 < len(args) {
				return args[i+1], append(append([]string{}, args[:i]...), args[i+2:]...)
			}
			return "", args
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			return a, append(append([]string{}, args[:i]...), args[i+1:]...)
		}
		if takesValue(fs, a) {
			i++
		}
	}
	return "", args
}

// interleaved separates flags (with their values) from positional
// arguments, so that flags may follow the target as they do in most
// command lines: `picket check http URL --expect-status 200`.
func interleaved(fs *flag.FlagSet, args []string) (flagArgs, positional []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			positional = append(positional, args[i+1:]...)
			i = len(args)
		case strings.HasPrefix(a, "-") && a != "-":
			flagArgs = append(flagArgs, a)
			if takesValue(fs, a) && i+1 < len(args) {
				flagArgs = append(flagArgs, args[i+1])
				i++
			}
		default:
			positional = append(positional, a)
		}
	}
	if len(positional) > 0 {
		// "--" keeps a target that starts with "-" from being read as a flag.
		positional = append([]string{"--"}, positional...)
	}
	return flagArgs, positional
}

// takesValue reports whether the flag argument a ("-x", "--x") is a known
// non-boolean flag written without "=value", so the next argument is its
// value.
func takesValue(fs *flag.FlagSet, a string) bool {
	name := strings.TrimLeft(a, "-")
	if strings.Contains(name, "=") {
		return false
	}
	f := fs.Lookup(name)
	if f == nil {
		return false
	}
	if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		return false
	}
	return true
}

// buildSpec assembles the spec JSON: --spec, then the kind's flags over
// it, then kind and timeout. The interval does not matter for one run; it
// is set so that it never caps the timeout.
func buildSpec(kind, specJSON string, timeout time.Duration, kindOptions func() (json.RawMessage, error)) (json.RawMessage, error) {
	spec := map[string]any{}
	if specJSON != "" {
		dec := json.NewDecoder(strings.NewReader(specJSON))
		dec.UseNumber()
		if err := dec.Decode(&spec); err != nil {
			return nil, fmt.Errorf("--spec: want a JSON object: %w", err)
		}
	}
	fromFlags, err := kindOptions()
	if err != nil {
		return nil, err
	}
	if len(fromFlags) > 0 {
		var opts map[string]any
		dec := json.NewDecoder(bytes.NewReader(fromFlags))
		dec.UseNumber()
		if err := dec.Decode(&opts); err != nil {
			return nil, fmt.Errorf("options from flags: %w", err)
		}
		merge(spec, opts)
	}
	if timeout <= 0 {
		return nil, errors.New("--timeout must be positive")
	}
	spec["kind"] = kind
	spec["timeout"] = timeout.String()
	spec["interval"] = max(timeout, checks.DefaultInterval).String()
	return json.Marshal(spec)
}

// merge sets every field of src in dst, descending into objects present
// in both so that `--spec '{"expect":{...}}'` and an expect flag combine.
func merge(dst, src map[string]any) {
	for k, v := range src {
		if sub, ok := v.(map[string]any); ok {
			if d, ok := dst[k].(map[string]any); ok {
				merge(d, sub)
				continue
			}
		}
		dst[k] = v
	}
}

// flagHint names the flag that sets a spec field, when there is one: a
// FieldError speaks of "expect.min_answers", the user typed --min-answers.
func flagHint(fs *flag.FlagSet, err error) string {
	var fe *checks.FieldError
	if !errors.As(err, &fe) || fe.Field == "" {
		return ""
	}
	field := strings.ReplaceAll(fe.Field, "_", "-")
	if i := strings.IndexByte(field, '['); i >= 0 {
		field = field[:i]
	}
	candidates := []string{strings.ReplaceAll(field, ".", "-")}
	if i := strings.LastIndexByte(field, '.'); i >= 0 {
		candidates = append(candidates, field[i+1:])
	}
	for _, c := range candidates {
		if fs.Lookup(c) != nil {
			return " (flag --" + c + ")"
		}
	}
	return ""
}
