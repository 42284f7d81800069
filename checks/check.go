package checks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/picketnet/picket/checks/targetpolicy"
	"github.com/picketnet/picket/results"
)

// Kind is one kind of check (http, dns, ...). It turns a spec into a Check.
type Kind interface {
	// Name is the kind's name as it appears in specs and records.
	Name() string
	// Parse validates target and the kind's options (raw JSON of the whole
	// spec, common fields included) and returns the check to run. Errors
	// name the offending field with a *FieldError.
	Parse(target string, spec json.RawMessage) (Check, error)
}

// Check is one parsed, validated check, ready to run any number of times.
type Check interface {
	// Run performs the check once. It returns when the run is over or ctx is
	// done, and leaves no goroutine or socket behind. The record has the
	// run-level fields filled (kind, target, addr, started_at, duration_ms,
	// ok, error, phases, details); the caller adds identity fields.
	Run(ctx context.Context, env Env) results.Result
}

// Env is what a run may use from the process that runs it.
type Env struct {
	// Policy decides which addresses a run may connect to; it is enforced
	// at connect time, after DNS, so a name that later resolves to a denied
	// address is still refused. Nil allows every address.
	Policy *targetpolicy.Policy
}

// Registry finds a Kind by name. Build one with NewRegistry; there is no
// package-level registry.
type Registry struct {
	kinds map[string]Kind
}

// NewRegistry returns a registry of the given kinds.
func NewRegistry(kinds ...Kind) *Registry {
	r := &Registry{kinds: make(map[string]Kind, len(kinds))}
	for _, k := range kinds {
		r.kinds[k.Name()] = k
	}
	return r
}

// Kinds returns the registered kind names, sorted.
func (r *Registry) Kinds() []string {
	names := make([]string, 0, len(r.kinds))
	for n := range r.kinds {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Lookup returns the kind called name.
func (r *Registry) Lookup(name string) (Kind, bool) {
	k, ok := r.kinds[name]
	return k, ok
}

// ErrUnknownKind is wrapped by Parse when a spec names no registered kind.
var ErrUnknownKind = errors.New("unknown check kind")

// Spec is the kind-independent part of a check's spec. The kind-specific
// options sit beside these fields in the same JSON object.
type Spec struct {
	Kind     string   `json:"kind"`
	Interval Duration `json:"interval,omitzero"`
	Timeout  Duration `json:"timeout,omitzero"`
}

// Defaults and bounds of the common spec fields.
const (
	DefaultInterval = 60 * time.Second
	DefaultTimeout  = 10 * time.Second
	MinInterval     = time.Second
	MaxInterval     = 24 * time.Hour
	MaxTimeout      = 5 * time.Minute
	MaxSpecBytes    = 16 << 10
)

// commonFields are the spec fields that Parse reads itself; a kind's
// options decoder must accept and ignore them.
func commonFields() []string { return []string{"kind", "interval", "timeout"} }

// Parsed is a validated spec with its runnable check.
type Parsed struct {
	Spec  Spec
	Check Check
}

// Parse validates a whole spec (common fields and the kind's options)
// against target and returns the check. Interval and timeout get their
// defaults when absent; the timeout may not exceed the interval.
func (r *Registry) Parse(target string, raw json.RawMessage) (Parsed, error) {
	if len(raw) > MaxSpecBytes {
		return Parsed{}, &FieldError{Reason: fmt.Sprintf("spec larger than %d bytes", MaxSpecBytes)}
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return Parsed{}, fieldErrorFromJSON(err)
	}
	var spec Spec
	// In a fixed order, so that a spec with several bad fields always
	// gets the same error.
	for _, f := range []struct {
		name string
		dst  any
	}{{"kind", &spec.Kind}, {"interval", &spec.Interval}, {"timeout", &spec.Timeout}} {
		if v, ok := fields[f.name]; ok {
			if err := json.Unmarshal(v, f.dst); err != nil {
				return Parsed{}, Within(f.name, fieldErrorFromJSON(err))
			}
		}
	}
	if spec.Kind == "" {
		return Parsed{}, &FieldError{Field: "kind", Reason: "missing; one of " + strings.Join(r.Kinds(), ", ")}
	}
	kind, ok := r.Lookup(spec.Kind)
	if !ok {
		return Parsed{}, &FieldError{Field: "kind", Reason: fmt.Sprintf("%q is not one of %s", spec.Kind, strings.Join(r.Kinds(), ", ")), Err: ErrUnknownKind}
	}
	if spec.Interval == 0 {
		spec.Interval = Duration(DefaultInterval)
	}
	if spec.Timeout == 0 {
		spec.Timeout = Duration(min(DefaultTimeout, spec.Interval.Std()))
	}
	switch {
	case spec.Interval.Std() < MinInterval || spec.Interval.Std() > MaxInterval:
		return Parsed{}, &FieldError{Field: "interval", Reason: fmt.Sprintf("%s is outside %s..%s", spec.Interval, MinInterval, MaxInterval)}
	case spec.Timeout.Std() <= 0 || spec.Timeout.Std() > MaxTimeout:
		return Parsed{}, &FieldError{Field: "timeout", Reason: fmt.Sprintf("%s is outside 0..%s", spec.Timeout, MaxTimeout)}
	case spec.Timeout > spec.Interval:
		return Parsed{}, &FieldError{Field: "timeout", Reason: fmt.Sprintf("%s is longer than the interval %s", spec.Timeout, spec.Interval)}
	}
	check, err := kind.Parse(target, raw)
	if err != nil {
		return Parsed{}, err
	}
	return Parsed{Spec: spec, Check: check}, nil
}

// FieldError says which field of a spec is wrong and why. Field is a dotted
// path relative to the spec ("expect.status[1]"); empty for the whole spec.
type FieldError struct {
	Field  string
	Reason string
	Err    error
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

func (e *FieldError) Unwrap() error { return e.Err }

// Errorf returns a *FieldError for field.
func Errorf(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Within prefixes the field of a *FieldError with parent, so a nested
// validator can report paths relative to itself.
func Within(parent string, err error) error {
	var fe *FieldError
	if !errors.As(err, &fe) {
		return err
	}
	out := *fe
	switch {
	case out.Field == "":
		out.Field = parent
	case strings.HasPrefix(out.Field, "["):
		out.Field = parent + out.Field
	default:
		out.Field = parent + "." + out.Field
	}
	return &out
}

// DecodeOptions decodes a spec's JSON into opts, a pointer to the kind's
// options struct, rejecting unknown fields. The common fields (kind,
// interval, timeout) are accepted and ignored. Errors are *FieldErrors.
func DecodeOptions(raw json.RawMessage, opts any) error {
	// Kind.Parse may be called without Registry.Parse, which bounds the
	// spec first.
	if len(raw) > MaxSpecBytes {
		return &FieldError{Reason: fmt.Sprintf("spec larger than %d bytes", MaxSpecBytes)}
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return fieldErrorFromJSON(err)
	}
	for _, f := range commonFields() {
		delete(fields, f)
	}
	rest, err := json.Marshal(fields)
	if err != nil {
		return fmt.Errorf("re-encode spec: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(rest))
	dec.DisallowUnknownFields()
	if err := dec.Decode(opts); err != nil {
		return locateFieldError(rest, opts, err)
	}
	return nil
}

// locateFieldError turns the error of decoding raw into opts into a
// *FieldError with the full path of the field. encoding/json gives that
// path for a type mismatch only: an unknown field comes with its last key,
// and an error of a custom unmarshaler (a bad Duration) with none, so for
// those the path is found by walking raw beside opts's type.
func locateFieldError(raw json.RawMessage, opts any, err error) error {
	fe := fieldErrorFromJSON(err)
	var out *FieldError
	if !errors.As(fe, &out) || errors.As(err, new(*json.UnmarshalTypeError)) {
		return fe
	}
	unknown := ""
	if out.Reason == reasonUnknownField {
		unknown = out.Field
	}
	located := locateError(raw, reflect.TypeOf(opts), unknown)
	var at *FieldError
	if !errors.As(located, &at) {
		return fe
	}
	if at.Err == nil {
		at.Err = err
	}
	return at
}

const reasonUnknownField = "unknown field"

// fieldErrorFromJSON turns encoding/json's errors into FieldErrors naming
// the field where it can tell.
func fieldErrorFromJSON(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		field := typeErr.Field
		return &FieldError{Field: field, Reason: fmt.Sprintf("expected %s, got %s", typeErr.Type, typeErr.Value), Err: err}
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		return fe
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return &FieldError{Field: strings.Trim(name, `"`), Reason: reasonUnknownField, Err: err}
	}
	return &FieldError{Reason: strings.TrimPrefix(msg, "json: "), Err: err}
}

// Duration is a time.Duration that reads and writes as a Go duration
// string ("30s", "5m") in JSON.
type Duration time.Duration

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return &FieldError{Reason: fmt.Sprintf("expected a duration like \"30s\", got %s", snippet(b))}
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return &FieldError{Reason: fmt.Sprintf("bad duration %.40q: expected a Go duration like \"30s\" or \"5m\"", s)}
	}
	*d = Duration(v)
	return nil
}

// SpecTimeout returns how long a run of spec may take: its timeout field,
// or DefaultTimeout when absent. Kinds apply it to every run, so that a
// run ends on time even when Kind.Parse was called without Registry.Parse
// and the caller's context has no deadline. A bad value is a *FieldError
// on "timeout".
func SpecTimeout(spec json.RawMessage) (time.Duration, error) {
	if len(bytes.TrimSpace(spec)) == 0 {
		return DefaultTimeout, nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(spec, &fields); err != nil {
		return 0, fieldErrorFromJSON(err)
	}
	raw, ok := fields["timeout"]
	if !ok {
		return DefaultTimeout, nil
	}
	var d Duration
	if err := json.Unmarshal(raw, &d); err != nil {
		return 0, Within("timeout", fieldErrorFromJSON(err))
	}
	switch {
	case d == 0:
		return DefaultTimeout, nil
	case d.Std() < 0 || d.Std() > MaxTimeout:
		return 0, &FieldError{Field: "timeout", Reason: fmt.Sprintf("%s is outside 0..%s", d, MaxTimeout)}
	}
	return d.Std(), nil
}

// snippet shows raw JSON from a spec in an error: on one line, since
// errors are one line, and short, since the value may be any size.
func snippet(raw []byte) string {
	const maxLen = 40
	s := strings.Join(strings.Fields(string(raw)), " ")
	if len(s) > maxLen {
		s = strings.ToValidUTF8(s[:maxLen], "") + "..."
	}
	return s
}

// Begin starts a record for a run of kind against target, now.
func Begin(kind, target string) results.Result {
	return results.Result{Kind: kind, Target: target, StartedAt: time.Now().UTC()}
}

// FlagBinder is implemented by kinds that `picket check KIND TARGET`
// can configure from command-line flags. BindFlags registers the kind's
// flags on fs and returns a function that, after fs.Parse, yields the
// kind's options as a JSON object (without kind, interval or timeout).
type FlagBinder interface {
	BindFlags(fs *flag.FlagSet) func() (json.RawMessage, error)
}
