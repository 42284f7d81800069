package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/picketnet/picket/internal/config"
)

// proberFile is shaped like prober.yaml (DESIGN.md §3).
type proberFile struct {
	Vantage struct {
		ID       string `yaml:"id"`
		Region   string `yaml:"region"`
		ASN      uint32 `yaml:"asn"`
		Location struct {
			Lat float64 `yaml:"lat"`
			Lon float64 `yaml:"lon"`
		} `yaml:"location"`
	} `yaml:"vantage"`
	Collectors []string `yaml:"collectors"`
	Token      config.Secret
	Spool      struct {
		Dir      string          `yaml:"dir"`
		MaxBytes config.ByteSize `yaml:"max_bytes"`
	} `yaml:"spool"`
	Retention struct {
		Raw  config.Duration `yaml:"raw"`
		Hour config.Duration `yaml:"hour"`
	} `yaml:"retention"`
	Interval config.Duration `yaml:"interval"`
}

const goodProber = `vantage:
  id: hel1-hetzner-a
  region: eu-central
  asn: 24940
  location: {lat: 60.17, lon: 24.94}
collectors:
  - https://collector.picket-a.example
  - https://collector.picket-b.example.net
token: {file: /etc/picket/token}
spool: {dir: /var/lib/picket/spool, max_bytes: 512MiB}
retention: {raw: 14d, hour: 2y}
interval: 90s
`

func TestDecode(t *testing.T) {
	var p proberFile
	if err := config.Decode("prober.yaml", []byte(goodProber), &p); err != nil {
		t.Fatal(err)
	}
	if p.Vantage.ID != "hel1-hetzner-a" || p.Vantage.ASN != 24940 || p.Vantage.Location.Lat != 60.17 ||
		len(p.Collectors) != 2 || p.Token.File != "/etc/picket/token" ||
		p.Spool.MaxBytes != 512<<20 || p.Retention.Raw.Std() != 14*24*time.Hour ||
		p.Retention.Hour.Std() != 2*365*24*time.Hour || p.Interval.Std() != 90*time.Second {
		t.Errorf("decoded %+v", p)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       string // the whole error
	}{
		{"unknown key", "vantage:\n  id: a\n  regoin: eu\n", `prober.yaml:3: unknown key "regoin"`},
		{"unknown top-level key", "collectors: []\nspoool: {}\n", `prober.yaml:2: unknown key "spoool"`},
		{"inline secret is not a thing", "token: {value: hunter2}\n", `prober.yaml:1: unknown key "value"`},
		{"wrong type", "vantage:\n  asn: lots\n", "prober.yaml:2: cannot unmarshal !!str `lots` into uint32"},
		{"list expected", "collectors: https://a.example\n", "prober.yaml:1: cannot unmarshal !!str `https:/...` into []string"},
		{"bad duration", "interval: 90\n", `prober.yaml:1: bad duration "90": expected e.g. 30s, 5m, 2h, 14d`},
		{"bad day count", "retention:\n  raw: 1.5d\n", `prober.yaml:2: bad duration "1.5d": expected a whole number before "d"`},
		{"bad size", "spool:\n  dir: x\n  max_bytes: 12XB\n", `prober.yaml:3: bad size "12XB": expected e.g. 512MiB, 1GiB, 4096`},
		{"negative size", "spool: {max_bytes: -1}\n", `prober.yaml:1: bad size "-1": expected e.g. 512MiB, 1GiB, 4096`},
		{"syntax", "vantage:\n  id: a\n    region: b\n", "prober.yaml:3: mapping values are not allowed in this context"},
		{"duplicate key", "interval: 1m\ninterval: 2m\n", `prober.yaml:2: mapping key "interval" already defined at line 1`},
		{"tab indentation", "vantage:\n\tid: a\n", "prober.yaml:2: found character that cannot start any token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p proberFile
			err := config.Decode("prober.yaml", []byte(tt.yaml), &p)
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Decode = %v (%T), want a *config.Error", err, err)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got %q\nwant %q", err, tt.want)
			}
			if ce.File != "prober.yaml" || ce.Line == 0 {
				t.Errorf("error lacks file or line: %+v", ce)
			}
		})
	}
}

func TestDecodeEmpty(t *testing.T) {
	p := proberFile{Interval: config.Duration(time.Minute)}
	for _, in := range []string{"", "\n", "# only a comment\n"} {
		if err := config.Decode("empty.yaml", []byte(in), &p); err != nil {
			t.Errorf("Decode(%q): %v", in, err)
		}
	}
	if p.Interval.Std() != time.Minute {
		t.Errorf("an empty file changed a default: %s", p.Interval)
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "prober.yaml")
	if err := os.WriteFile(good, []byte(goodProber), 0o600); err != nil {
		t.Fatal(err)
	}
	var p proberFile
	if err := config.LoadFile(good, &p); err != nil || p.Vantage.Region != "eu-central" {
		t.Errorf("LoadFile: %v, %+v", err, p)
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("vantage:\n  idd: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := config.LoadFile(bad, &p); err == nil || err.Error() != bad+`:2: unknown key "idd"` {
		t.Errorf("LoadFile(bad) = %v", err)
	}

	huge := filepath.Join(dir, "huge.yaml")
	if err := os.WriteFile(huge, []byte("# "+strings.Repeat("x", config.MaxFileBytes)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := config.LoadFile(huge, &p); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("LoadFile(huge) = %v, want a size error", err)
	}

	if err := config.LoadFile(filepath.Join(dir, "absent.yaml"), &p); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadFile(absent) = %v, want ErrNotExist", err)
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"30s", 30 * time.Second, false},
		{"5m", 5 * time.Minute, false},
		{"1h30m", 90 * time.Minute, false},
		{"250ms", 250 * time.Millisecond, false},
		{"14d", 14 * 24 * time.Hour, false},
		{"2w", 14 * 24 * time.Hour, false},
		{"2y", 2 * 365 * 24 * time.Hour, false},
		{" 7d ", 7 * 24 * time.Hour, false},
		{"0d", 0, false},
		{"d", 0, true},
		{"-1d", 0, true},
		{"1.5d", 0, true},
		{"1d12h", 0, true},
		{"30", 0, true},
		{"", 0, true},
		{"forever", 0, true},
	}
	for _, tt := range tests {
		got, err := config.ParseDuration(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseDuration(%q) = %s, %v; want %s, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  bool
	}{
		{"4096", 4096, false},
		{"0", 0, false},
		{"512MiB", 512 << 20, false},
		{"1GiB", 1 << 30, false},
		{"2TiB", 2 << 40, false},
		{"10KiB", 10 << 10, false},
		{"1GB", 1e9, false},
		{"3MB", 3e6, false},
		{"5KB", 5000, false},
		{"100B", 100, false},
		{"64 MiB", 64 << 20, false},
		{"", 0, true},
		{"MiB", 0, true},
		{"1.5GiB", 0, true},
		{"-1", 0, true},
		{"12XB", 0, true},
		{"99999999TiB", 0, true}, // overflows int64
	}
	for _, tt := range tests {
		got, err := config.ParseByteSize(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestSecret(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte("  s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"PICKET_TOKEN": " from-env ", "BLANK": "  "}
	getenv := func(k string) string { return env[k] }

	tests := []struct {
		name   string
		secret config.Secret
		want   string
		err    string // substring; "" for success
	}{
		{"file, trimmed", config.Secret{File: file}, "s3cret", ""},
		{"env, trimmed", config.Secret{Env: "PICKET_TOKEN"}, "from-env", ""},
		{"file wins over env", config.Secret{File: file, Env: "PICKET_TOKEN"}, "s3cret", ""},
		{"missing file", config.Secret{File: filepath.Join(dir, "absent")}, "", "read secret"},
		{"empty file", config.Secret{File: empty}, "", "is empty"},
		{"unset variable", config.Secret{Env: "NOPE"}, "", "environment variable NOPE is empty"},
		{"blank variable", config.Secret{Env: "BLANK"}, "", "environment variable BLANK is empty"},
	}
	for _, tt := range tests {
		got, err := tt.secret.Read(getenv)
		switch {
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("%s: Read = %q, %v; want %q", tt.name, got, err, tt.want)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%s: Read = %q, %v; want an error containing %q", tt.name, got, err, tt.err)
		}
	}
	if _, err := (config.Secret{}).Read(getenv); !errors.Is(err, config.ErrSecretUnset) {
		t.Errorf("empty Secret: %v, want ErrSecretUnset", err)
	}

	// From YAML, as a config file writes it.
	var p proberFile
	if err := config.Decode("p.yaml", []byte("token: {env: PICKET_TOKEN}\n"), &p); err != nil {
		t.Fatal(err)
	}
	if got, err := p.Token.Read(getenv); err != nil || got != "from-env" {
		t.Errorf("secret from YAML: %q, %v", got, err)
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		err  config.Error
		want string
	}{
		{config.Error{File: "a.yaml", Line: 3, Msg: "bad"}, "a.yaml:3: bad"},
		{config.Error{File: "a.yaml", Msg: "bad"}, "a.yaml: bad"},
		{config.Error{Line: 3, Msg: "bad"}, "bad"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.err, got, tt.want)
		}
	}
}

// FuzzDecode: no input makes Decode panic, and every mistake comes back
// as a *config.Error naming the file, on one line.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		goodProber,
		"vantage:\n  regoin: x\n",
		"interval: 14d\nspool: {max_bytes: 1GiB}\n",
		"collectors: [a, b, *x]\n",
		"a: &x [*x]\n",
		"interval: 99999999999999y\n",
		"spool: {max_bytes: 9223372036854775807TiB}\n",
		"---\n---\n",
		"token: {file: /dev/null, env: X}\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var p proberFile
		err := config.Decode("f.yaml", data, &p)
		if err == nil {
			return
		}
		var ce *config.Error
		if !errors.As(err, &ce) {
			t.Fatalf("Decode = %v (%T), want a *config.Error", err, err)
		}
		if ce.File != "f.yaml" || !strings.HasPrefix(err.Error(), "f.yaml") {
			t.Fatalf("error %q does not name the file", err)
		}
	})
}
