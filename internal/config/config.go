package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// MaxFileBytes bounds every configuration file.
const MaxFileBytes = 4 << 20

// Error names the file and line of a configuration mistake.
type Error struct {
	File string
	Line int
	Msg  string
	// Err is the cause, when Msg was made from another error.
	Err error
}

func (e *Error) Unwrap() error { return e.Err }

func (e *Error) Error() string {
	switch {
	case e.File != "" && e.Line > 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	case e.File != "":
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	default:
		return e.Msg
	}
}

// LoadFile reads path and decodes it strictly into v.
func LoadFile(path string, v any) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > MaxFileBytes {
		return &Error{File: path, Msg: fmt.Sprintf("larger than %d bytes", MaxFileBytes)}
	}
	return Decode(path, data, v)
}

// yamlLine matches the "line N: " prefix of yaml.v3's errors.
var yamlLine = regexp.MustCompile(`^line (\d+): (.*)$`)

// Decode decodes data strictly into v; name is used in errors. Unknown
// keys are errors. A *Error comes back for every mistake in the input.
func Decode(name string, data []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(v)
	if errors.Is(err, io.EOF) {
		return nil // an empty file is all defaults
	}
	if err == nil {
		return nil
	}
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		return lineError(name, te.Errors[0])
	}
	var ce *Error
	if errors.As(err, &ce) {
		if ce.File == "" {
			ce.File = name
		}
		return ce
	}
	return SyntaxError(name, data, err)
}

func lineError(name, msg string) error {
	msg = strings.TrimPrefix(msg, "yaml: ")
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return &Error{File: name, Line: n, Msg: tidy(m[2])}
	}
	return &Error{File: name, Msg: tidy(msg)}
}

// tidy rewrites yaml.v3's Go-flavoured messages for operators.
func tidy(msg string) string {
	if i := strings.Index(msg, "field "); i >= 0 && strings.Contains(msg, " not found in type ") {
		key := strings.SplitN(msg[i+len("field "):], " ", 2)[0]
		return fmt.Sprintf("unknown key %q", key)
	}
	return msg
}

// At wraps a validation failure found at node with its line.
func At(node *yaml.Node, format string, args ...any) error {
	return &Error{Line: node.Line, Msg: fmt.Sprintf(format, args...)}
}

// Duration is a time.Duration written as a Go duration ("30s", "5m"),
// extended with days and years ("14d", "2y") for retention periods.
type Duration time.Duration

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// ParseDuration parses a Go duration, or a whole number of days ("14d"),
// weeks ("2w") or years of 365 days ("2y").
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour, "y": 365 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			v, err := strconv.ParseUint(n, 10, 32)
			if err != nil {
				return 0, fmt.Errorf("bad duration %q: expected a whole number before %q", s, suffix)
			}
			return time.Duration(v) * unit, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad duration %q: expected e.g. 30s, 5m, 2h, 14d", s)
	}
	return d, nil
}

// UnmarshalYAML reads a duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return At(n, "%v", err)
	}
	*d = Duration(v)
	return nil
}

// ByteSize is a number of bytes written with an optional unit: "512MiB",
// "1GB", "4096".
type ByteSize int64

var byteUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
}

// ParseByteSize parses a size such as "512MiB".
func ParseByteSize(s string) (int64, error) {
	orig := s
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range byteUnits {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 || v > (1<<62)/mult {
		return 0, fmt.Errorf("bad size %q: expected e.g. 512MiB, 1GiB, 4096", orig)
	}
	return v * mult, nil
}

// UnmarshalYAML reads a byte size.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return At(n, "%v", err)
	}
	*b = ByteSize(v)
	return nil
}

// Secret reads a secret from a file or an environment variable; inline
// secrets are deliberately not supported. An empty Secret is "not set".
type Secret struct {
	File string `yaml:"file"`
	Env  string `yaml:"env"`
}

// ErrSecretUnset is returned by Secret.Read when neither source is set.
var ErrSecretUnset = errors.New("secret not configured")

// Read returns the secret with surrounding whitespace trimmed.
func (s Secret) Read(getenv func(string) string) (string, error) {
	switch {
	case s.File != "":
		b, err := os.ReadFile(s.File)
		if err != nil {
			return "", fmt.Errorf("read secret: %w", err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fmt.Errorf("secret file %s is empty", s.File)
		}
		return v, nil
	case s.Env != "":
		v := strings.TrimSpace(getenv(s.Env))
		if v == "" {
			return "", fmt.Errorf("environment variable %s is empty", s.Env)
		}
		return v, nil
	}
	return "", ErrSecretUnset
}
