package prober

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/picketnet/picket/internal/config"
	"github.com/picketnet/picket/vantage"
)

// Config is everything a prober needs. Build it in code, or read
// prober.yaml with LoadConfig. Zero tuning fields take their defaults.
type Config struct {
	Identity vantage.Identity
	// Collectors are base URLs ("https://collector.example"), tried in
	// order; the first is the primary.
	Collectors []string
	// Token is the vantage's bearer token.
	Token string
	// TokenFile, when set, is where Token came from: it is read again
	// when a collector refuses the token, so that a replaced token is
	// picked up without a restart.
	TokenFile string
	// SpoolDir holds the spool of unacknowledged results and the cached
	// assignment. Only one prober may use a directory at a time.
	SpoolDir      string
	SpoolMaxBytes int64 // 0 means 512 MiB
	// MetricsListen is the address of the Prometheus endpoint; empty
	// serves none.
	MetricsListen string
	// Discovery finds the public address and, when Identity.ASN is 0, the
	// ASN. Nil uses vantage.Discovery's defaults (public DNS); set
	// Disabled to skip it. Its ASNs default to the prober's AS lookup
	// (ASNDB, then Team Cymru).
	Discovery *vantage.Discovery
	// ASNDB lists iptoasn.com ip2asn files (comma-separated paths, gzipped
	// or not). Traceroute hops and the discovered ASN are looked up there
	// first, then in Team Cymru's DNS.
	ASNDB string
	// ASNServer is the DNS server (host:port) for Team Cymru lookups;
	// empty uses the system resolver's.
	ASNServer string

	// Concurrency caps simultaneous check runs (default 256).
	Concurrency int
	// PollEvery is how often assignments are fetched (default 30s).
	PollEvery time.Duration
	// HeartbeatEvery is the heartbeat period when the assignment does not
	// set one (default 30s).
	HeartbeatEvery time.Duration
	// BatchSize caps the results in one POST (default 500, at most
	// results.MaxBatchRecords); BatchLinger is how long the first pending
	// result waits for company before a batch leaves (default 1s).
	BatchSize   int
	BatchLinger time.Duration
	// BackoffMin and BackoffMax bound the wait before a collector that
	// failed is tried again (default 500ms and 30s, with jitter).
	BackoffMin, BackoffMax time.Duration
	// RequestTimeout bounds one request to a collector (default 30s).
	RequestTimeout time.Duration
	// ShutdownGrace is how long running checks may finish after a stop
	// (default 10s).
	ShutdownGrace time.Duration
	// SpoolSyncEvery is the spool's fsync period (see package spool;
	// default 1s).
	SpoolSyncEvery time.Duration
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.PollEvery, 30*time.Second)
	def(&c.HeartbeatEvery, 30*time.Second)
	def(&c.BatchLinger, time.Second)
	def(&c.BackoffMin, 500*time.Millisecond)
	def(&c.BackoffMax, 30*time.Second)
	def(&c.RequestTimeout, 30*time.Second)
	def(&c.ShutdownGrace, 10*time.Second)
	if c.BatchSize <= 0 {
		c.BatchSize = 500
	}
	if c.SpoolMaxBytes <= 0 {
		c.SpoolMaxBytes = 512 << 20
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 256
	}
}

// Validate says what is missing or wrong, one problem per line.
func (c *Config) validate() error {
	var errs []error
	if c.Identity.ID == "" {
		errs = append(errs, errors.New("vantage.id is required"))
	}
	if c.Identity.Region == "" {
		errs = append(errs, errors.New("vantage.region is required"))
	}
	if len(c.Collectors) == 0 {
		errs = append(errs, errors.New("collectors: at least one collector URL is required"))
	}
	for i, raw := range c.Collectors {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("collectors[%d]: %q is not an http(s) URL", i, raw))
		}
	}
	if c.Token == "" {
		errs = append(errs, errors.New("token is required"))
	}
	if c.SpoolDir == "" {
		errs = append(errs, errors.New("spool.dir is required"))
	}
	if c.BatchSize > 5000 {
		errs = append(errs, fmt.Errorf("batch size %d is over the collector's limit of 5000", c.BatchSize))
	}
	return errors.Join(errs...)
}

// fileConfig is prober.yaml (DESIGN.md §3).
type fileConfig struct {
	Vantage    vantage.Identity `yaml:"vantage"`
	Collectors []string         `yaml:"collectors"`
	TokenFile  string           `yaml:"token_file"`
	Spool      struct {
		Dir       string          `yaml:"dir"`
		MaxBytes  config.ByteSize `yaml:"max_bytes"`
		SyncEvery config.Duration `yaml:"sync_every"`
	} `yaml:"spool"`
	ASNDB         string `yaml:"asn_db"`
	MetricsListen string `yaml:"metrics_listen"`
	Discovery     struct {
		Disabled    bool     `yaml:"disabled"`
		AddrServers []string `yaml:"addr_servers"`
		ASNServer   string   `yaml:"asn_server"`
	} `yaml:"discovery"`
	Concurrency   int             `yaml:"concurrency"`
	PollEvery     config.Duration `yaml:"poll_every"`
	BatchSize     int             `yaml:"batch_size"`
	BatchLinger   config.Duration `yaml:"batch_linger"`
	BackoffMax    config.Duration `yaml:"backoff_max"`
	ShutdownGrace config.Duration `yaml:"shutdown_grace"`
}

// LoadConfig reads prober.yaml. Mistakes come back as one error per
// problem, naming the file and, where it can, the line.
func LoadConfig(path string) (Config, error) {
	var fc fileConfig
	if err := config.LoadFile(path, &fc); err != nil {
		return Config{}, err
	}
	if fc.TokenFile == "" {
		return Config{}, &config.Error{File: path, Msg: "token_file is required"}
	}
	tok, err := os.ReadFile(fc.TokenFile)
	if err != nil {
		return Config{}, &config.Error{File: path, Msg: fmt.Sprintf("token_file: %v", err)}
	}
	c := Config{
		Identity:       fc.Vantage,
		Collectors:     fc.Collectors,
		Token:          strings.TrimSpace(string(tok)),
		TokenFile:      fc.TokenFile,
		SpoolDir:       fc.Spool.Dir,
		SpoolMaxBytes:  int64(fc.Spool.MaxBytes),
		SpoolSyncEvery: fc.Spool.SyncEvery.Std(),
		MetricsListen:  fc.MetricsListen,
		Concurrency:    fc.Concurrency,
		PollEvery:      fc.PollEvery.Std(),
		BatchSize:      fc.BatchSize,
		BatchLinger:    fc.BatchLinger.Std(),
		BackoffMax:     fc.BackoffMax.Std(),
		ShutdownGrace:  fc.ShutdownGrace.Std(),
		Discovery: &vantage.Discovery{
			Disabled:    fc.Discovery.Disabled,
			AddrServers: fc.Discovery.AddrServers,
		},
		ASNDB:     fc.ASNDB,
		ASNServer: fc.Discovery.ASNServer,
	}
	if c.Token == "" {
		return Config{}, &config.Error{File: path, Msg: fmt.Sprintf("token_file %s is empty", fc.TokenFile)}
	}
	if err := c.validate(); err != nil {
		return Config{}, &config.Error{File: path, Msg: strings.ReplaceAll(err.Error(), "\n", "; ")}
	}
	return c, nil
}

// LoadCollectors reads only the collectors of prober.yaml, for commands
// run away from the prober host (picket nel headers), where its token
// file is not: the file is parsed as strictly as by LoadConfig.
func LoadCollectors(path string) ([]string, error) {
	var fc fileConfig
	if err := config.LoadFile(path, &fc); err != nil {
		return nil, err
	}
	if len(fc.Collectors) == 0 {
		return nil, &config.Error{File: path, Msg: "collectors: at least one collector URL is required"}
	}
	return fc.Collectors, nil
}
