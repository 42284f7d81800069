package httpcheck

import (
	"encoding/json"
	"flag"
	"fmt"
	"strings"

	piconfig "github.com/picketnet/picket/internal/config"
)

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ", ") }

func (l *listFlag) Set(s string) error {
	*l = append(*l, s)
	return nil
}

// BindFlags registers the flags of `picket check http` on fs. After
// fs.Parse, the returned function yields the options as spec JSON; the
// spec is validated by Parse, so errors name the spec field.
func (Kind) BindFlags(fs *flag.FlagSet) func() (json.RawMessage, error) {
	var (
		o                            Options
		headers, statuses, expectHdr listFlag
		maxBytes                     string
		maxRedirects                 int
	)
	fs.StringVar(&o.Method, "method", "", "request `method`: GET (default), HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
	fs.Var(&headers, "header", "request header, as `'Name: value'` (repeatable)")
	fs.StringVar(&o.Body, "body", "", "request `body` (not with GET or HEAD)")
	fs.StringVar(&o.HTTPVersion, "http-version", "", "HTTP `version`: auto (default), 1.1, 2 or 3")
	fs.StringVar(&o.PreferIP, "ip", "", "try the addresses of this IP `family` (4 or 6) first, then the other")
	fs.Var(&statuses, "expect-status", "accepted `statuses`: 200, 200-299, 2xx, or a comma-separated list (repeatable; default 200-299)")
	fs.StringVar(&o.Expect.Body, "expect-body", "", "`text` the response body must contain")
	fs.StringVar(&o.Expect.BodyRegex, "expect-body-regex", "", "`regex` the response body must match")
	fs.Var(&expectHdr, "expect-header", "response header check, as `'Name: regex'`: one of its values must match (repeatable)")
	fs.StringVar(&maxBytes, "max-bytes", "", "fail when the body is larger than this `size` (default 1MiB)")
	fs.IntVar(&maxRedirects, "max-redirects", DefaultMaxRedirects, "follow at most `n` redirects (0: none)")
	fs.StringVar(&o.CAFile, "ca-file", "", "PEM `file` of roots to verify against instead of the system roots")
	fs.BoolVar(&o.InsecureSkipVerify, "insecure", false, "accept any server certificate (no verification)")

	return func() (json.RawMessage, error) {
		var err error
		if o.Headers, err = splitHeaders("header", headers); err != nil {
			return nil, err
		}
		if o.Expect.Headers, err = splitHeaders("expect-header", expectHdr); err != nil {
			return nil, err
		}
		for _, s := range statuses {
			for part := range strings.SplitSeq(s, ",") {
				if part = strings.TrimSpace(part); part != "" {
					raw, _ := json.Marshal(part)
					o.Expect.Status = append(o.Expect.Status, raw)
				}
			}
		}
		if maxBytes != "" {
			n, err := piconfig.ParseByteSize(maxBytes)
			if err != nil {
				return nil, fmt.Errorf("--max-bytes: %w", err)
			}
			o.MaxBytes = &n
		}
		fs.Visit(func(f *flag.Flag) {
			if f.Name == "max-redirects" {
				o.MaxRedirects = &maxRedirects
			}
		})
		return json.Marshal(o)
	}
}

// splitHeaders turns "Name: value" flags into a map.
func splitHeaders(flagName string, values []string) (map[string]string, error) {
	if len(values) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(values))
	for _, v := range values {
		name, value, ok := strings.Cut(v, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("--%s %q: expected 'Name: value'", flagName, v)
		}
		m[name] = strings.TrimSpace(value)
	}
	return m, nil
}
