package config

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/picketnet/picket/checks/targetpolicy"
	iconfig "github.com/picketnet/picket/internal/config"
	"github.com/picketnet/picket/results"
)

// Defaults of collector.yaml.
const (
	DefaultListen         = "127.0.0.1:8080"
	DefaultStore          = "sqlite:./picket-data/picket.db"
	DefaultAdminTokenFile = "./picket-data/admin.token"
	DefaultHeartbeatEvery = 30 * time.Second
	DefaultMaxProbeSeries = 100000
	DefaultProbeSeriesTTL = 15 * time.Minute
)

// Default retention periods (DESIGN.md §3).
var DefaultRetention = results.Retention{
	Raw:    14 * 24 * time.Hour,
	Minute: 90 * 24 * time.Hour,
	Hour:   2 * 365 * 24 * time.Hour,
}

// Config is collector.yaml.
type Config struct {
	Listen         string           `yaml:"listen"`
	Store          string           `yaml:"store"`
	AdminTokenFile string           `yaml:"admin_token_file"`
	ASNDB          string           `yaml:"asn_db"`
	Retention      Retention        `yaml:"retention"`
	Targets        Targets          `yaml:"targets"`
	HeartbeatEvery iconfig.Duration `yaml:"heartbeat_every"`
	Metrics        Metrics          `yaml:"metrics"`
	NEL            NEL              `yaml:"nel"`
	Limits         Limits           `yaml:"limits"`
	// Alerting and Notifiers belong to the alerting package, which decodes
	// them with DecodeAlerting and DecodeNotifiers; they are kept as nodes
	// so that their mistakes are still reported with this file's lines.
	Alerting  yaml.Node `yaml:"alerting"`
	Notifiers yaml.Node `yaml:"notifiers"`
	// Endpoints is read only by `picket up`, whose picket.yaml is this
	// file plus the endpoints its local prober probes (see
	// endpointspec.ParseEmbedded); `picket collector` refuses it.
	Endpoints yaml.Node `yaml:"endpoints"`

	// file is the path the config was read from, and data its content,
	// for errors and for decoding the sections above strictly; root is
	// data's node tree, for the lines of errors found after decoding.
	file string
	data []byte
	root *yaml.Node
}

// Retention is how long each resolution of data is kept.
type Retention struct {
	Raw    iconfig.Duration `yaml:"raw"`
	Minute iconfig.Duration `yaml:"minute"`
	Hour   iconfig.Duration `yaml:"hour"`
}

// Targets is the targets policy as written in the file.
type Targets struct {
	// DenyPrivate defaults to true: an operator must opt out explicitly.
	DenyPrivate *bool      `yaml:"deny_private"`
	Allow       []yamlCIDR `yaml:"allow"`
	// Deny lists ranges refused whatever deny_private and allow say.
	Deny []denyCIDR `yaml:"deny"`
	// AllowCAFiles lets registered endpoints name ca_file paths on the
	// probers' disks; without it they carry their roots in ca_pem.
	AllowCAFiles bool `yaml:"allow_ca_files"`
}

// Metrics configures /metrics.
type Metrics struct {
	// Public serves /metrics without the admin token.
	Public bool `yaml:"public"`
	// MaxProbeSeries bounds the per-check probe series (see collector docs).
	MaxProbeSeries int `yaml:"max_probe_series"`
	// ProbeSeriesTTL drops a probe series not updated for this long.
	ProbeSeriesTTL iconfig.Duration `yaml:"probe_series_ttl"`
}

// Limits bound what one token can make the collector hold. Zero values
// take the collector's defaults.
type Limits struct {
	// TeamEndpoints is the most endpoints a team token may give its team,
	// over all its applies.
	TeamEndpoints int `yaml:"team_endpoints"`
	// IngestBatches is the most result batches decompressed and held at
	// once; more wait, still compressed.
	IngestBatches int `yaml:"ingest_batches"`
	// TeamRunsPerSecond bounds how often a team's checks run at each
	// vantage, and TargetRunsPerSecond how often against one target host.
	TeamRunsPerSecond   float64 `yaml:"team_runs_per_second"`
	TargetRunsPerSecond float64 `yaml:"target_runs_per_second"`
}

// NEL bounds the public endpoint for client reports, POST /v1/reports/nel.
// Zero values take the nel package's defaults.
type NEL struct {
	MaxBodyBytes iconfig.ByteSize `yaml:"max_body_bytes"`
	MaxReports   int              `yaml:"max_reports"`
	// RatePerSecond and Burst are each client network's token bucket.
	RatePerSecond float64 `yaml:"rate_per_second"`
	Burst         float64 `yaml:"burst"`
	MaxNetworks   int     `yaml:"max_networks"`
	// TrustedProxies are the reverse proxies whose X-Forwarded-For is
	// believed; without them every client behind a proxy is the proxy.
	TrustedProxies []proxyCIDR `yaml:"trusted_proxies"`
}

// Proxies returns TrustedProxies as prefixes.
func (n NEL) Proxies() []netip.Prefix {
	var out []netip.Prefix
	for _, p := range n.TrustedProxies {
		out = append(out, p.Prefix)
	}
	return out
}

type yamlCIDR struct {
	netip.Prefix
}

func (c *yamlCIDR) UnmarshalYAML(n *yaml.Node) error {
	return c.parse(n, "targets.allow")
}

// parse reads a CIDR, or an address as its own /32 or /128; key names the
// list in errors.
func (c *yamlCIDR) parse(n *yaml.Node, key string) error {
	s := strings.TrimSpace(n.Value)
	if p, err := netip.ParsePrefix(s); err == nil {
		c.Prefix = p.Masked()
		return nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		c.Prefix = netip.PrefixFrom(a, a.BitLen())
		return nil
	}
	return iconfig.At(n, "%s: %q is not an address or a CIDR such as 203.0.113.0/24", key, n.Value)
}

// denyCIDR is an entry of targets.deny.
type denyCIDR struct{ yamlCIDR }

func (c *denyCIDR) UnmarshalYAML(n *yaml.Node) error {
	return c.parse(n, "targets.deny")
}

// proxyCIDR is an entry of nel.trusted_proxies.
type proxyCIDR struct{ yamlCIDR }

func (c *proxyCIDR) UnmarshalYAML(n *yaml.Node) error {
	return c.parse(n, "nel.trusted_proxies")
}

// Load reads and validates path, filling defaults.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	if len(data) > iconfig.MaxFileBytes {
		return nil, &iconfig.Error{File: path, Msg: fmt.Sprintf("larger than %d bytes", iconfig.MaxFileBytes)}
	}
	return Parse(path, data)
}

// Parse decodes data as collector.yaml; name is used in errors.
func Parse(name string, data []byte) (*Config, error) {
	var c Config
	if err := iconfig.Decode(name, data, &c); err != nil {
		return nil, err
	}
	c.file, c.data = name, data
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err == nil && len(root.Content) > 0 {
		c.root = root.Content[0]
	}
	if err := c.finish(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Default returns the configuration used when there is no file.
func Default() *Config {
	c := &Config{file: "defaults"}
	if err := c.finish(); err != nil {
		panic(err) // the defaults are constants
	}
	return c
}

func (c *Config) finish() error {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.Store == "" {
		c.Store = DefaultStore
	}
	if c.AdminTokenFile == "" {
		c.AdminTokenFile = DefaultAdminTokenFile
	}
	if c.Retention.Raw == 0 {
		c.Retention.Raw = iconfig.Duration(DefaultRetention.Raw)
	}
	if c.Retention.Minute == 0 {
		c.Retention.Minute = iconfig.Duration(DefaultRetention.Minute)
	}
	if c.Retention.Hour == 0 {
		c.Retention.Hour = iconfig.Duration(DefaultRetention.Hour)
	}
	if c.HeartbeatEvery == 0 {
		c.HeartbeatEvery = iconfig.Duration(DefaultHeartbeatEvery)
	}
	if c.Metrics.MaxProbeSeries == 0 {
		c.Metrics.MaxProbeSeries = DefaultMaxProbeSeries
	}
	if c.Metrics.ProbeSeriesTTL == 0 {
		c.Metrics.ProbeSeriesTTL = iconfig.Duration(DefaultProbeSeriesTTL)
	}
	if _, err := ParseStore(c.Store); err != nil {
		return c.Errorf("store", "%w", err)
	}
	r := c.Retention
	for _, p := range []struct {
		key string
		d   iconfig.Duration
	}{{"raw", r.Raw}, {"minute", r.Minute}, {"hour", r.Hour}} {
		if p.d < 0 {
			return c.Errorf("retention."+p.key, "%s is negative: periods must be positive", p.d)
		}
	}
	switch {
	case r.Minute < r.Raw:
		return c.Errorf("retention.minute", "%s is shorter than raw (%s)", r.Minute, r.Raw)
	case r.Hour < r.Minute:
		return c.Errorf("retention.hour", "%s is shorter than minute (%s)", r.Hour, r.Minute)
	}
	if c.HeartbeatEvery.Std() < time.Second {
		return c.Errorf("heartbeat_every", "%s is shorter than 1s", c.HeartbeatEvery)
	}
	if c.Metrics.MaxProbeSeries < 0 {
		return c.Errorf("metrics.max_probe_series", "must be positive")
	}
	switch l := c.Limits; {
	case l.TeamEndpoints < 0 || l.TeamEndpoints > 1_000_000:
		return c.Errorf("limits.team_endpoints", "%d is outside 0..1000000", l.TeamEndpoints)
	case l.IngestBatches < 0 || l.IngestBatches > 1024:
		return c.Errorf("limits.ingest_batches", "%d is outside 0..1024", l.IngestBatches)
	case l.TeamRunsPerSecond < 0:
		return c.Errorf("limits.team_runs_per_second", "%v is negative", l.TeamRunsPerSecond)
	case l.TargetRunsPerSecond < 0:
		return c.Errorf("limits.target_runs_per_second", "%v is negative", l.TargetRunsPerSecond)
	}
	switch n := c.NEL; {
	case n.MaxBodyBytes < 0 || n.MaxBodyBytes > 16<<20:
		return c.Errorf("nel.max_body_bytes", "%d is outside 0..16MiB", n.MaxBodyBytes)
	case n.MaxReports < 0 || n.MaxReports > 10000:
		return c.Errorf("nel.max_reports", "%d is outside 0..10000", n.MaxReports)
	case n.RatePerSecond < 0:
		return c.Errorf("nel.rate_per_second", "%v is negative", n.RatePerSecond)
	case n.Burst < 0:
		return c.Errorf("nel.burst", "%v is negative", n.Burst)
	case n.MaxNetworks < 0 || n.MaxNetworks > 10_000_000:
		return c.Errorf("nel.max_networks", "%d is outside 0..10000000", n.MaxNetworks)
	}
	return nil
}

// Errorf returns an error about the setting at path ("store",
// "retention.minute", "notifiers[1].url"): "FILE:LINE: PATH: MESSAGE",
// with the line of the setting, or of its nearest enclosing one that the
// file has. A %w argument is the error's cause.
func (c *Config) Errorf(path, format string, args ...any) error {
	cause := fmt.Errorf(format, args...)
	return c.ErrorAt(path, path+": "+cause.Error(), errors.Unwrap(cause))
}

// ErrorAt returns msg as an error at the line of the setting at path (see
// Errorf), for messages that already name the setting; cause may be nil.
func (c *Config) ErrorAt(path, msg string, cause error) error {
	return &iconfig.Error{File: c.file, Line: c.Line(path), Msg: msg, Err: cause}
}

// Line returns the line of the setting at path ("store",
// "retention.minute", "notifiers[1].url"): of its key in a mapping, of the
// entry in a list. When the file does not have the setting, it is the line
// of the nearest enclosing one that it has; 0 when it has none.
func (c *Config) Line(path string) int {
	n := c.root
	line := 0
	for _, step := range splitPath(path) {
		if n == nil {
			break
		}
		for n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		var next *yaml.Node
		switch {
		case step.key != "" && n.Kind == yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == step.key {
					line, next = n.Content[i].Line, n.Content[i+1]
				}
			}
		case step.key == "" && n.Kind == yaml.SequenceNode && step.index < len(n.Content):
			next = n.Content[step.index]
			line = next.Line
		}
		n = next
	}
	return line
}

// pathStep is one step of a setting's path: a key, or an index in a list.
type pathStep struct {
	key   string
	index int
}

// splitPath splits "notifiers[1].to[0]" into notifiers, 1, to, 0.
func splitPath(path string) []pathStep {
	var steps []pathStep
	for _, part := range strings.Split(path, ".") {
		key, rest, _ := strings.Cut(part, "[")
		if key != "" {
			steps = append(steps, pathStep{key: key})
		}
		for rest != "" {
			num, after, ok := strings.Cut(rest, "]")
			i, err := strconv.Atoi(num)
			if !ok || err != nil || i < 0 {
				return steps
			}
			steps = append(steps, pathStep{index: i})
			rest = strings.TrimPrefix(after, "[")
		}
	}
	return steps
}

// ResultsRetention returns the retention periods for the store.
func (c *Config) ResultsRetention() results.Retention {
	return results.Retention{Raw: c.Retention.Raw.Std(), Minute: c.Retention.Minute.Std(), Hour: c.Retention.Hour.Std()}
}

// Policy returns the targets policy.
func (c *Config) Policy() targetpolicy.Policy {
	p := targetpolicy.Policy{DenyPrivate: c.Targets.DenyPrivate == nil || *c.Targets.DenyPrivate}
	for _, a := range c.Targets.Allow {
		p.Allow = append(p.Allow, a.Prefix)
	}
	for _, d := range c.Targets.Deny {
		p.Deny = append(p.Deny, d.Prefix)
	}
	return p
}

// DecodeAlerting decodes the alerting section strictly into v. It does
// nothing when the section is absent, so v keeps its defaults.
func (c *Config) DecodeAlerting(v any) error { return c.decodeNode("alerting", &c.Alerting, v) }

// DecodeNotifiers decodes the notifiers section strictly into v.
func (c *Config) DecodeNotifiers(v any) error { return c.decodeNode("notifiers", &c.Notifiers, v) }

// decodeNode decodes one top-level section strictly into v. A yaml.Node
// cannot be decoded with KnownFields, so the whole original file is decoded
// again into a struct built at run time whose field for the section has v's
// type and whose other fields are nodes: unknown keys inside the section
// are then errors with the file's own line numbers.
func (c *Config) decodeNode(section string, n *yaml.Node, v any) error {
	if n.Kind == 0 {
		return nil
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("decode %s: need a non-nil pointer, got %T", section, v)
	}
	ct := reflect.TypeOf(Config{})
	var fields []reflect.StructField
	target := -1
	for i := range ct.NumField() {
		tag := ct.Field(i).Tag.Get("yaml")
		if tag == "" {
			continue
		}
		typ := reflect.TypeOf(yaml.Node{})
		if tag == section {
			typ, target = rv.Elem().Type(), len(fields)
		}
		fields = append(fields, reflect.StructField{Name: fmt.Sprintf("F%d", i), Type: typ, Tag: reflect.StructTag(`yaml:"` + tag + `"`)})
	}
	if target < 0 {
		return fmt.Errorf("decode %s: no such section", section)
	}
	holder := reflect.New(reflect.StructOf(fields))
	holder.Elem().Field(target).Set(rv.Elem())
	if err := iconfig.Decode(c.file, c.data, holder.Interface()); err != nil {
		return err
	}
	rv.Elem().Set(holder.Elem().Field(target))
	return nil
}

// File is the path the configuration came from.
func (c *Config) File() string { return c.file }

// Data is the file's content, for the sections other packages decode.
func (c *Config) Data() []byte { return c.data }

// StoreURL is the parsed store setting.
type StoreURL struct {
	// Driver is "sqlite" or "postgres".
	Driver string
	// Path is the database file for sqlite; URL the connection string for
	// postgres.
	Path, URL string
}

// RedactStore returns the store setting s fit for a log line: a password
// in a postgres URL, in its user part or its password= parameter, is
// replaced by "xxxxx". Collectors log their store at start, and an
// operator who wrote the password into the URL (rather than in PGPASSWORD
// or a PGPASSFILE) must not find it in the logs.
func RedactStore(s string) string {
	if !strings.HasPrefix(s, "postgres://") && !strings.HasPrefix(s, "postgresql://") {
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "postgres://... (not shown: it does not parse as a URL)"
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// ParseStore parses "sqlite:PATH" or "postgres://..." (also "postgresql://").
func ParseStore(s string) (StoreURL, error) {
	switch {
	case strings.HasPrefix(s, "sqlite:"):
		p := strings.TrimPrefix(strings.TrimPrefix(s, "sqlite:"), "//")
		if p == "" {
			return StoreURL{}, fmt.Errorf("%q has no path; write sqlite:./picket-data/picket.db", s)
		}
		return StoreURL{Driver: "sqlite", Path: p}, nil
	case strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
		return StoreURL{Driver: "postgres", URL: s}, nil
	}
	return StoreURL{}, fmt.Errorf("%q is neither sqlite:PATH nor postgres://USER@HOST/DB", s)
}
