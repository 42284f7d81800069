package endpointspec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/picketnet/picket/checks"
	"github.com/picketnet/picket/checks/targetpolicy"
	"github.com/picketnet/picket/results"
)

// Limits on one registration.
const (
	MaxEndpoints      = 5000
	MaxChecks         = 32
	MaxRegions        = 64
	MaxAlertBytes     = 4 << 10
	AllRegions        = "all"
	maxEndpointNameLn = 63
)

// Error is a mistake in an endpoint, naming the endpoint and the field,
// and the file and line when it came from a file:
//
//	endpoints.yaml:14: endpoints[0] (checkout-api) checks[2].expect.status: ...
type Error struct {
	File string
	Line int
	// Index is the endpoint's position in the list, -1 for the file itself.
	Index int
	// Name is the endpoint's name when known.
	Name string
	// Field is the path inside the endpoint ("checks[2].expect.status").
	Field  string
	Reason string
	Err    error
}

func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	case e.File != "":
		fmt.Fprintf(&b, "%s: ", e.File)
	}
	if e.Index >= 0 {
		fmt.Fprintf(&b, "endpoints[%d] ", e.Index)
		if e.Name != "" {
			fmt.Fprintf(&b, "(%s) ", e.Name)
		}
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Path is the full path of the field: "endpoints[0].checks[2].expect".
func (e *Error) Path() string {
	if e.Index < 0 {
		return e.Field
	}
	p := fmt.Sprintf("endpoints[%d]", e.Index)
	if e.Field != "" {
		p += "." + e.Field
	}
	return p
}

// ParsePath splits a path made by Path into the endpoint index and the
// field inside it; ok is false when path does not start with an index.
func ParsePath(path string) (index int, field string, ok bool) {
	rest, found := strings.CutPrefix(path, "endpoints[")
	if !found {
		return -1, path, false
	}
	end := strings.IndexByte(rest, ']')
	if end < 0 {
		return -1, path, false
	}
	i, err := strconv.Atoi(rest[:end])
	if err != nil {
		return -1, path, false
	}
	return i, strings.TrimPrefix(rest[end+1:], "."), true
}

// AlertValidator validates an endpoint's alert settings. The alerting
// package provides the real one; DefaultAlert is used until then.
type AlertValidator func(raw json.RawMessage) error

// DefaultAlert accepts the alert settings of DESIGN.md §3 and rejects
// unknown keys, naming the field with a *checks.FieldError.
func DefaultAlert(raw json.RawMessage) error {
	var a struct {
		Severity  string   `json:"severity"`
		Quorum    *int     `json:"quorum"`
		LatencyMS *float64 `json:"latency_ms"`
	}
	if err := checks.DecodeOptions(raw, &a); err != nil {
		return err
	}
	if a.Severity != "" && !namePattern.MatchString(a.Severity) {
		return checks.Errorf("severity", "%q is not a severity name such as page", a.Severity)
	}
	if a.Quorum != nil && *a.Quorum < 1 {
		return checks.Errorf("quorum", "must be at least 1, got %d", *a.Quorum)
	}
	if a.LatencyMS != nil && *a.LatencyMS <= 0 {
		return checks.Errorf("latency_ms", "must be positive, got %v", *a.LatencyMS)
	}
	return nil
}

// Validator validates endpoints. Policy and Resolver may be nil: the CLI
// validates specs without knowing the collector's policy, and the
// collector validates again with it.
type Validator struct {
	Kinds *checks.Registry
	// Policy is the targets policy; nil allows every target.
	Policy *targetpolicy.Policy
	// Resolver resolves target names for the policy; nil is the system's.
	Resolver *net.Resolver
	// Alert validates alert settings; nil is DefaultAlert.
	Alert AlertValidator
	// AllowLocalFiles accepts checks that read files on the prober's disk
	// (ca_file). Without it such a check is refused: the team that
	// registers an endpoint does not own the probers' files.
	AllowLocalFiles bool
}

// localFileReader is a check that reads files where it runs.
type localFileReader interface{ LocalFiles() []string }

// hostDialer is a check whose spec names hosts, besides the target, that
// its runs connect to (a dns check's resolver), by the field naming each.
type hostDialer interface{ PolicyHosts() map[string]string }

// hostRef is a host an endpoint's runs connect to, and the field that
// names it.
type hostRef struct{ field, host string }

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// Normalize fills defaults (regions [all]) and rewrites every check and the
// alert as compact JSON with sorted keys, so that equal specs compare equal.
func Normalize(e *results.Endpoint) error {
	if len(e.Regions) == 0 {
		e.Regions = []string{AllRegions}
	}
	for i, c := range e.Checks {
		n, err := canonical(c)
		if err != nil {
			return &Error{Index: -1, Field: fmt.Sprintf("checks[%d]", i), Reason: err.Error()}
		}
		e.Checks[i] = n
	}
	if len(e.Alert) > 0 {
		n, err := canonical(e.Alert)
		if err != nil {
			return &Error{Index: -1, Field: "alert", Reason: err.Error()}
		}
		e.Alert = n
	}
	return nil
}

func canonical(raw json.RawMessage) (json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("not a single JSON value")
	}
	if v == nil {
		return nil, nil
	}
	return json.Marshal(v)
}

// policyLookups bounds the concurrent name lookups of ValidateAll, and
// policyTimeout each one, so that registering many endpoints neither
// resolves them one by one nor hangs on a slow resolver.
const (
	policyLookups = 16
	policyTimeout = 5 * time.Second
)

// ValidateAll normalizes and validates a team's endpoints: each one, and
// that names are unique. Errors are *Error naming index, endpoint and
// field; the first mistake in list order is reported.
func (v *Validator) ValidateAll(ctx context.Context, eps []results.Endpoint) error {
	if len(eps) > MaxEndpoints {
		return &Error{Index: -1, Field: "endpoints", Reason: fmt.Sprintf("%d endpoints; at most %d", len(eps), MaxEndpoints)}
	}
	seen := make(map[string]int, len(eps))
	hosts := make([][]hostRef, len(eps))
	for i := range eps {
		var err error
		if hosts[i], err = v.validateSpec(&eps[i]); err != nil {
			var e *Error
			if errors.As(err, &e) {
				e.Index, e.Name = i, eps[i].Name
			}
			return err
		}
		if j, dup := seen[eps[i].Name]; dup {
			return &Error{Index: i, Name: eps[i].Name, Field: "name", Reason: fmt.Sprintf("duplicate of endpoints[%d]", j)}
		}
		seen[eps[i].Name] = i
	}
	if !v.Policy.Restricts() {
		return nil
	}
	// Resolve every distinct host concurrently, then report in list order.
	hostErr := map[string]error{}
	scheduled := map[string]bool{}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(policyLookups)
	for _, refs := range hosts {
		for _, ref := range refs {
			host := ref.host
			if scheduled[host] {
				continue
			}
			scheduled[host] = true
			g.Go(func() error {
				err := v.checkHost(gctx, host)
				mu.Lock()
				hostErr[host] = err
				mu.Unlock()
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for i, refs := range hosts {
		for _, ref := range refs {
			if err := hostErr[ref.host]; err != nil {
				return &Error{Index: i, Name: eps[i].Name, Field: ref.field, Reason: err.Error(), Err: err}
			}
		}
	}
	return nil
}

func (v *Validator) checkHost(ctx context.Context, host string) error {
	ctx, cancel := context.WithTimeout(ctx, policyTimeout)
	defer cancel()
	return v.Policy.CheckHost(ctx, v.Resolver, host)
}

// Validate normalizes and validates one endpoint, its target against the
// policy included. Errors are *Error with Index -1 (the caller knows the
// position).
func (v *Validator) Validate(ctx context.Context, e *results.Endpoint) error {
	hosts, err := v.validateSpec(e)
	if err != nil {
		return err
	}
	if v.Policy != nil {
		for _, ref := range hosts {
			if err := v.checkHost(ctx, ref.host); err != nil {
				return &Error{Index: -1, Name: e.Name, Field: ref.field, Reason: err.Error(), Err: err}
			}
		}
	}
	return nil
}

// validateSpec is Validate without the policy, which needs DNS. It
// returns the hosts the endpoint's runs connect to, for the policy: the
// target's, then those its checks name.
func (v *Validator) validateSpec(e *results.Endpoint) ([]hostRef, error) {
	bad := func(field, format string, args ...any) ([]hostRef, error) {
		return nil, &Error{Index: -1, Name: e.Name, Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case e.Name == "":
		return bad("name", "missing")
	case len(e.Name) > maxEndpointNameLn || !namePattern.MatchString(e.Name):
		return bad("name", "%q: use 1-%d lower-case letters, digits, '.', '_' or '-'", e.Name, maxEndpointNameLn)
	case e.Target == "":
		return bad("target", "missing")
	case len(e.Target) > results.MaxTargetBytes:
		return bad("target", "longer than %d bytes", results.MaxTargetBytes)
	case strings.ContainsFunc(e.Target, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return bad("target", "%q contains spaces or control characters", e.Target)
	case len(e.Checks) == 0:
		return bad("checks", "missing: an endpoint needs at least one check")
	case len(e.Checks) > MaxChecks:
		return bad("checks", "%d checks; at most %d", len(e.Checks), MaxChecks)
	case len(e.Regions) > MaxRegions:
		return bad("regions", "%d regions; at most %d", len(e.Regions), MaxRegions)
	case len(e.Alert) > MaxAlertBytes:
		return bad("alert", "larger than %d bytes", MaxAlertBytes)
	}
	if err := Normalize(e); err != nil {
		var ne *Error
		if errors.As(err, &ne) {
			ne.Name = e.Name
		}
		return nil, err
	}
	for i, r := range e.Regions {
		if r == AllRegions && len(e.Regions) > 1 {
			return bad(fmt.Sprintf("regions[%d]", i), "all cannot be combined with region names")
		}
		if !namePattern.MatchString(r) || len(r) > 63 {
			return bad(fmt.Sprintf("regions[%d]", i), "%q is not a region name", r)
		}
	}
	if dup := firstDuplicate(e.Regions); dup >= 0 {
		return bad(fmt.Sprintf("regions[%d]", dup), "%q is listed twice", e.Regions[dup])
	}
	hosts := []hostRef{{field: "target", host: TargetHost(e.Target)}}
	for i, c := range e.Checks {
		if err := positiveDurations(c); err != nil {
			return nil, fieldError(e.Name, fmt.Sprintf("checks[%d]", i), err)
		}
		p, err := v.Kinds.Parse(e.Target, c)
		if err != nil {
			return nil, fieldError(e.Name, fmt.Sprintf("checks[%d]", i), err)
		}
		if lf, ok := p.Check.(localFileReader); ok && !v.AllowLocalFiles && len(lf.LocalFiles()) > 0 {
			return bad(fmt.Sprintf("checks[%d].ca_file", i),
				"%q is a file on the probers' disks, which registered endpoints may not name: put the PEM in ca_pem (or the operator sets targets.allow_ca_files)", lf.LocalFiles()[0])
		}
		if hd, ok := p.Check.(hostDialer); ok {
			named := hd.PolicyHosts()
			for _, field := range slices.Sorted(maps.Keys(named)) {
				hosts = append(hosts, hostRef{field: fmt.Sprintf("checks[%d].%s", i, field), host: named[field]})
			}
		}
	}
	if len(e.Alert) > 0 {
		validate := v.Alert
		if validate == nil {
			validate = DefaultAlert
		}
		if err := validate(e.Alert); err != nil {
			return nil, fieldError(e.Name, "alert", err)
		}
	}
	return hosts, nil
}

// positiveDurations refuses a check that sets interval or timeout to zero,
// a negative duration or null. checks.Registry.Parse reads zero as "the
// default", so that specs stored before this rule keep loading; but a user
// who writes "interval: 0s" means something, and it is not 60 seconds.
// Leaving the field out still means the default.
func positiveDurations(raw json.RawMessage) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil // Registry.Parse reports it, with its field
	}
	for _, name := range []string{"interval", "timeout"} {
		v, ok := fields[name]
		if !ok {
			continue
		}
		if string(bytes.TrimSpace(v)) == "null" {
			return checks.Errorf(name, "empty; write a duration such as 30s, or leave %s out for the default", name)
		}
		var d checks.Duration
		if err := json.Unmarshal(v, &d); err != nil {
			return nil // Registry.Parse reports it
		}
		if d <= 0 {
			return checks.Errorf(name, "must be positive, got %s; leave %s out for the default", d, name)
		}
	}
	return nil
}

// fieldError turns a *checks.FieldError under parent into an *Error.
func fieldError(name, parent string, err error) error {
	var fe *checks.FieldError
	if errors.As(err, &fe) {
		within := checks.Within(parent, fe).(*checks.FieldError)
		return &Error{Index: -1, Name: name, Field: within.Field, Reason: within.Reason, Err: err}
	}
	return &Error{Index: -1, Name: name, Field: parent, Reason: err.Error(), Err: err}
}

func firstDuplicate(s []string) int {
	for i := range s {
		if slices.Contains(s[:i], s[i]) {
			return i
		}
	}
	return -1
}

// TargetHost extracts the host a target names: the host of a URL, of a
// host:port, or the target itself (a name or an address).
func TargetHost(target string) string {
	if u, err := url.Parse(target); err == nil && u.Scheme != "" && u.Host != "" {
		return u.Hostname()
	}
	if h, _, err := net.SplitHostPort(target); err == nil {
		return h
	}
	return strings.TrimSuffix(strings.TrimPrefix(target, "["), "]")
}

// CheckIDs returns the stable id of each check of e, in order:
// "<endpoint>/<kind>" for the first check of a kind, "<endpoint>/<kind>-2"
// for the second, and so on. Reordering checks of different kinds keeps
// their ids; only the order among checks of one kind matters.
func CheckIDs(e results.Endpoint) ([]string, error) {
	refs, err := Checks(e)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(refs))
	for i, r := range refs {
		ids[i] = r.ID
	}
	return ids, nil
}

// CheckRef names one check of an endpoint.
type CheckRef struct {
	// ID is the check's stable id (see CheckIDs).
	ID string
	// Kind is the check's kind ("http", "dns", ...).
	Kind string
	// Interval is how often every vantage runs it.
	Interval time.Duration
}

// Checks returns the id and kind of each check of e, in order; the ids
// are those of CheckIDs.
func Checks(e results.Endpoint) ([]CheckRef, error) {
	refs := make([]CheckRef, len(e.Checks))
	seen := map[string]int{}
	for i, c := range e.Checks {
		var s struct {
			Kind string `json:"kind"`
		}
		if err := json.Unmarshal(c, &s); err != nil || s.Kind == "" {
			return nil, fmt.Errorf("endpoint %s: checks[%d] has no kind", e.Name, i)
		}
		seen[s.Kind]++
		refs[i] = CheckRef{ID: e.Name + "/" + s.Kind, Kind: s.Kind, Interval: interval(c)}
		if n := seen[s.Kind]; n > 1 {
			refs[i].ID += "-" + strconv.Itoa(n)
		}
	}
	return refs, nil
}

// interval is a stored spec's interval: the default when it has none (or
// one that Parse, which validated it, gave the default).
func interval(spec json.RawMessage) time.Duration {
	var s struct {
		Interval checks.Duration `json:"interval"`
	}
	if json.Unmarshal(spec, &s) != nil || s.Interval <= 0 {
		return checks.DefaultInterval
	}
	return s.Interval.Std()
}

// RunsPerSecond is how many checks of e a vantage of its regions runs a
// second: what the endpoint costs every prober, and sends its target.
func RunsPerSecond(e results.Endpoint) (float64, error) {
	refs, err := Checks(e)
	if err != nil {
		return 0, err
	}
	var rate float64
	for _, r := range refs {
		rate += 1 / r.Interval.Seconds()
	}
	return rate, nil
}
