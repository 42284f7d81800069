package tftest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/picketnet/picket/internal/config"
	"github.com/picketnet/picket/internal/testenv"
	"github.com/picketnet/picket/vantage"
)

// proberConfig is prober.yaml exactly as DESIGN §3 defines it; decoding
// is strict, so a key the prober does not know fails the test.
type proberConfig struct {
	Vantage    vantage.Identity `yaml:"vantage"`
	Collectors []string         `yaml:"collectors"`
	TokenFile  string           `yaml:"token_file"`
	Spool      struct {
		Dir      string          `yaml:"dir"`
		MaxBytes config.ByteSize `yaml:"max_bytes"`
	} `yaml:"spool"`
	ASNDB         string `yaml:"asn_db"`
	MetricsListen string `yaml:"metrics_listen"`
}

// collectorConfig is collector.yaml as DESIGN §3 defines it.
type collectorConfig struct {
	Listen         string `yaml:"listen"`
	Store          string `yaml:"store"`
	AdminTokenFile string `yaml:"admin_token_file"`
	ASNDB          string `yaml:"asn_db"`
	Retention      struct {
		Raw    config.Duration `yaml:"raw"`
		Minute config.Duration `yaml:"minute"`
		Hour   config.Duration `yaml:"hour"`
	} `yaml:"retention"`
	Targets struct {
		DenyPrivate bool     `yaml:"deny_private"`
		Allow       []string `yaml:"allow"`
	} `yaml:"targets"`
	Alerting struct {
		EvaluateEvery config.Duration `yaml:"evaluate_every"`
		FailAfter     int             `yaml:"fail_after"`
		RecoverAfter  int             `yaml:"recover_after"`
		Latency       struct {
			Window   config.Duration `yaml:"window"`
			Baseline config.Duration `yaml:"baseline"`
		} `yaml:"latency"`
	} `yaml:"alerting"`
	Notifiers []struct {
		Name           string   `yaml:"name"`
		Kind           string   `yaml:"kind"`
		RoutingKeyFile string   `yaml:"routing_key_file"`
		URL            string   `yaml:"url"`
		URLFile        string   `yaml:"url_file"`
		SMTP           string   `yaml:"smtp"`
		From           string   `yaml:"from"`
		To             []string `yaml:"to"`
		Severities     []string `yaml:"severities"`
	} `yaml:"notifiers"`
}

// cloudConfig is the part of a #cloud-config document the hosts rely on.
type cloudConfig struct {
	Hostname   string   `yaml:"hostname"`
	SSHPwauth  bool     `yaml:"ssh_pwauth"`
	SSHKeys    []string `yaml:"ssh_authorized_keys"`
	WriteFiles []struct {
		Path        string `yaml:"path"`
		Owner       string `yaml:"owner"`
		Permissions string `yaml:"permissions"`
		Content     string `yaml:"content"`
	} `yaml:"write_files"`
	Runcmd [][]string `yaml:"runcmd"`
}

func (c cloudConfig) file(t *testing.T, path string) (content, perm string) {
	t.Helper()
	for _, f := range c.WriteFiles {
		if f.Path == path {
			if f.Owner != "root:root" {
				t.Errorf("%s is owned by %q, want root:root", path, f.Owner)
			}
			return f.Content, f.Permissions
		}
	}
	t.Fatalf("user-data writes no %s", path)
	return "", ""
}

// rendered is one bootstrap module's outputs.
type rendered struct {
	UserData      string `json:"user_data"`
	ProberYAML    string `json:"prober_yaml"`
	CollectorYAML string `json:"collector_yaml"`
	SystemdUnit   string `json:"systemd_unit"`
	InstallScript string `json:"install_script"`
}

func (r rendered) cloudConfig(t *testing.T) cloudConfig {
	t.Helper()
	if !strings.HasPrefix(r.UserData, "#cloud-config\n") {
		t.Fatalf("user-data does not start with #cloud-config: %.40q", r.UserData)
	}
	var c cloudConfig
	if err := yaml.Unmarshal([]byte(r.UserData), &c); err != nil {
		t.Fatalf("user-data is not YAML: %v", err)
	}
	return c
}

const (
	proberToken = "pkt_v_hel1_0123456789abcdef"
	adminToken  = "pkt_admin_0123456789abcdef"
	dbPassword  = `pa:ss\word`
	sshKey      = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl ops@example"
)

// releaseServer serves a stand-in picket binary, plain and as a .tar.gz,
// over HTTPS, as a release host would.
type releaseServer struct {
	*httptest.Server
	binary, tarball []byte
	caFile          string
}

func newReleaseServer(t *testing.T) *releaseServer {
	t.Helper()
	s := &releaseServer{binary: []byte("#!/bin/sh\necho \"picket v1.2.3 (test stand-in) $*\"\n")}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, f := range []struct{ name, body string }{{"README", "picket\n"}, {"picket", string(s.binary)}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o755, Size: int64(len(f.body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(f.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	s.tarball = buf.Bytes()
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1.2.3/picket-linux-amd64":
			w.Write(s.binary)
		case "/v1.2.3/picket-linux-amd64.tar.gz":
			w.Write(s.tarball)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(s.Close)
	s.caFile = filepath.Join(t.TempDir(), "ca.pem")
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
	if err := os.WriteFile(s.caFile, ca, 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

func sha(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func TestBootstrap(t *testing.T) {
	t.Parallel() // mostly waiting on terraform and cloud-init
	modules := copyModules(t)
	srv := newReleaseServer(t)
	work := t.TempDir()
	bin := filepath.Join(work, "bin", "picket") // ExecStart of both units

	release := func(path string, sum string) string {
		return fmt.Sprintf("{ version = \"v1.2.3\", url = %s, sha256 = %q }", hclString(srv.URL+path), sum)
	}
	plain := release("/v1.2.3/picket-linux-amd64", sha(srv.binary))
	tarball := release("/v1.2.3/picket-linux-amd64.tar.gz", sha(srv.tarball))
	wrong := release("/v1.2.3/picket-linux-amd64", sha([]byte("not the binary")))
	collectors := `["https://collector.picket-a.example", "https://collector.picket-b.example.net"]`

	root := fmt.Sprintf(`
module "prober" {
  source              = %[1]s
  vantage             = { id = "hel1-hetzner-a", region = "eu-north", provider = "hetzner", asn = 24940, lat = 60.17, lon = 24.94 }
  collector_urls      = %[2]s
  enrolment_token     = %[3]q
  release             = %[4]s
  ssh_authorized_keys = [%[5]q]
  binary_path         = %[6]s
}

module "prober_minimal" {
  source          = %[1]s
  vantage         = { id = "sgp1-digitalocean-a", region = "ap-southeast", provider = "digitalocean" }
  collector_urls  = ["https://collector.picket-b.example.net"]
  enrolment_token = "pkt_v_sgp1"
  release         = %[7]s
  spool_max_bytes = "1GiB"
  asn_db          = "/var/lib/picket/ip2asn-v4.tsv.gz"
  binary_path     = %[6]s
}

module "collector" {
  source      = %[8]s
  hostname    = "collector-1"
  release     = %[4]s
  binary_path = %[6]s
}

module "collector_pg" {
  source         = %[8]s
  hostname       = "collector-2"
  listen         = "0.0.0.0:8080"
  store          = "postgres://doadmin@db.internal:25060/picket?sslmode=require"
  store_password = %[9]s
  admin_token    = %[10]q
  secret_files   = { "pd.key" = "pd-routing-key", "slack.url" = "https://hooks.slack.example/T0/B0/x" }
  targets        = { allow = ["203.0.113.0/24"] }
  extra_config = {
    alerting = { evaluate_every = "5s", fail_after = 3, recover_after = 2, latency = { window = "1m", baseline = "1h" } }
    notifiers = [
      { name = "oncall", kind = "pagerduty", routing_key_file = "/run/credentials/picket-collector.service/pd.key", severities = ["page"] },
      { name = "chat", kind = "slack", url_file = "/run/credentials/picket-collector.service/slack.url" },
    ]
  }
  release     = %[7]s
  binary_path = %[6]s
}

module "install_plain" {
  source          = %[1]s
  vantage         = { id = "a", region = "r", provider = "p" }
  collector_urls  = ["https://c.example"]
  enrolment_token = "t"
  release         = %[4]s
  binary_path     = %[11]s
}

module "install_tarball" {
  source          = %[1]s
  vantage         = { id = "a", region = "r", provider = "p" }
  collector_urls  = ["https://c.example"]
  enrolment_token = "t"
  release         = %[7]s
  binary_path     = %[12]s
}

module "install_wrong_sum" {
  source          = %[1]s
  vantage         = { id = "a", region = "r", provider = "p" }
  collector_urls  = ["https://c.example"]
  enrolment_token = "t"
  release         = %[13]s
  binary_path     = %[14]s
}

output "all" {
  sensitive = true
  value = {
    prober = module.prober, prober_minimal = module.prober_minimal,
    collector = module.collector, collector_pg = module.collector_pg,
    install_plain = module.install_plain, install_tarball = module.install_tarball,
    install_wrong_sum = module.install_wrong_sum,
  }
}
`,
		hclString(filepath.Join(modules, "prober-bootstrap")), collectors, proberToken, plain, sshKey,
		hclString(bin), tarball, hclString(filepath.Join(modules, "collector-bootstrap")),
		hclString(dbPassword), adminToken,
		hclString(filepath.Join(work, "plain", "picket")), hclString(filepath.Join(work, "tarball", "picket")),
		wrong, hclString(filepath.Join(work, "wrong", "picket")))

	var all map[string]rendered
	if err := json.Unmarshal(applyRoot(t, root)["all"], &all); err != nil {
		t.Fatalf("decode rendered modules: %v", err)
	}

	t.Run("cloud-init schema", func(t *testing.T) {
		cloudInit := testenv.RequireCommand(t, "cloud-init")
		names := slices.Sorted(func(yield func(string) bool) {
			for k := range all {
				if !yield(k) {
					return
				}
			}
		})
		// cloud-init starts slowly; the documents are checked in parallel.
		for _, name := range names {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				out, err := cloudInitSchema(t, cloudInit, all[name].UserData)
				if err != nil || !strings.Contains(out, "Valid") || strings.Contains(strings.ToLower(out), "deprecat") {
					t.Errorf("cloud-init schema: %v\n%s", err, out)
				}
			})
		}
		// The check itself must be able to fail.
		t.Run("broken document", func(t *testing.T) {
			t.Parallel()
			if out, err := cloudInitSchema(t, cloudInit, "#cloud-config\nruncmd: 5\nwrite_files: [{content: x}]\n"); err == nil {
				t.Errorf("cloud-init schema accepted a broken document:\n%s", out)
			}
		})
	})

	t.Run("prober.yaml", func(t *testing.T) {
		cc := all["prober"].cloudConfig(t)
		content, perm := cc.file(t, "/etc/picket/prober.yaml")
		var got proberConfig
		if err := config.Decode("prober.yaml", []byte(content), &got); err != nil {
			t.Fatalf("the prober would reject its config: %v\n%s", err, content)
		}
		want := vantage.Identity{ID: "hel1-hetzner-a", Region: "eu-north", Provider: "hetzner", ASN: 24940, Location: &vantage.Location{Lat: 60.17, Lon: 24.94}}
		if got.Vantage.ID != want.ID || got.Vantage.Region != want.Region || got.Vantage.Provider != want.Provider || got.Vantage.ASN != want.ASN || got.Vantage.Location == nil || *got.Vantage.Location != *want.Location {
			t.Errorf("vantage = %+v (location %+v), want %+v", got.Vantage, got.Vantage.Location, want)
		}
		if want := []string{"https://collector.picket-a.example", "https://collector.picket-b.example.net"}; !slices.Equal(got.Collectors, want) {
			t.Errorf("collectors = %q, want %q in that order", got.Collectors, want)
		}
		if got.Spool.Dir != "/var/lib/picket/spool" || got.Spool.MaxBytes != 512<<20 {
			t.Errorf("spool = %+v, want /var/lib/picket/spool and 512MiB", got.Spool)
		}
		if got.MetricsListen != "127.0.0.1:9464" || got.ASNDB != "" {
			t.Errorf("metrics_listen = %q, asn_db = %q; want loopback and none", got.MetricsListen, got.ASNDB)
		}
		if perm != "0644" || strings.Contains(content, proberToken) {
			t.Errorf("prober.yaml is %s and must not hold the token", perm)
		}

		// The token: root-only on disk, and handed to the service at the
		// path prober.yaml names.
		token, perm := cc.file(t, "/etc/picket/token")
		if strings.TrimSpace(token) != proberToken || perm != "0600" {
			t.Errorf("token file = %q mode %s, want the token, 0600", token, perm)
		}
		unit := parseUnit(t, all["prober"].SystemdUnit)
		if cred := unit["LoadCredential"]; !slices.Equal(cred, []string{"token:/etc/picket/token"}) || got.TokenFile != "/run/credentials/picket-prober.service/token" {
			t.Errorf("LoadCredential = %q, token_file = %q: the service would not find its token", cred, got.TokenFile)
		}
		if !slices.Equal(cc.SSHKeys, []string{sshKey}) || cc.SSHPwauth || cc.Hostname != "hel1-hetzner-a" {
			t.Errorf("ssh keys %q, password auth %v, hostname %q", cc.SSHKeys, cc.SSHPwauth, cc.Hostname)
		}
		for _, m := range []string{"prober", "collector_pg"} {
			size := len(all[m].UserData)
			if size > 16<<10 {
				t.Errorf("%s user-data is %d bytes, over AWS's 16 KiB limit", m, size)
			}
			t.Logf("%s user-data: %d bytes", m, size)
		}

		minimal, _ := all["prober_minimal"].cloudConfig(t).file(t, "/etc/picket/prober.yaml")
		var min proberConfig
		if err := config.Decode("prober.yaml", []byte(minimal), &min); err != nil {
			t.Fatalf("the prober would reject its config: %v\n%s", err, minimal)
		}
		if min.Vantage.ASN != 0 || min.Vantage.Location != nil || min.Spool.MaxBytes != 1<<30 || min.ASNDB != "/var/lib/picket/ip2asn-v4.tsv.gz" {
			t.Errorf("minimal prober.yaml = %+v; want no asn or location (discovered), 1GiB spool, the asn_db", min)
		}
	})

	t.Run("collector.yaml", func(t *testing.T) {
		content, _ := all["collector"].cloudConfig(t).file(t, "/etc/picket/collector.yaml")
		var def collectorConfig
		if err := config.Decode("collector.yaml", []byte(content), &def); err != nil {
			t.Fatalf("the collector would reject its config: %v\n%s", err, content)
		}
		if def.Store != "sqlite:/var/lib/picket/picket.db" || def.AdminTokenFile != "/var/lib/picket/admin.token" || def.Listen != "127.0.0.1:8080" {
			t.Errorf("default collector = %+v", def)
		}
		if def.Retention.Raw.Std().Hours() != 14*24 || def.Retention.Hour.Std().Hours() != 2*365*24 || !def.Targets.DenyPrivate {
			t.Errorf("default retention/targets = %+v %+v, want DESIGN §3's", def.Retention, def.Targets)
		}

		cc := all["collector_pg"].cloudConfig(t)
		content, _ = cc.file(t, "/etc/picket/collector.yaml")
		var pg collectorConfig
		if err := config.Decode("collector.yaml", []byte(content), &pg); err != nil {
			t.Fatalf("the collector would reject its config: %v\n%s", err, content)
		}
		for _, secret := range []string{adminToken, "pa:ss", "pd-routing-key", "hooks.slack.example"} {
			if strings.Contains(content, secret) {
				t.Errorf("collector.yaml holds the secret %q", secret)
			}
		}
		if pg.Alerting.FailAfter != 3 || len(pg.Notifiers) != 2 || pg.Notifiers[0].Kind != "pagerduty" || !slices.Equal(pg.Targets.Allow, []string{"203.0.113.0/24"}) {
			t.Errorf("collector.yaml lost extra_config or targets: %+v", pg)
		}

		// Every file the config names is one the service can read: a
		// systemd credential of the unit, written root-only.
		unit := parseUnit(t, all["collector_pg"].SystemdUnit)
		creds := map[string]string{}
		for _, c := range unit["LoadCredential"] {
			name, src, _ := strings.Cut(c, ":")
			creds["/run/credentials/picket-collector.service/"+name] = src
		}
		for _, path := range []string{pg.AdminTokenFile, pg.Notifiers[0].RoutingKeyFile, pg.Notifiers[1].URLFile} {
			src, ok := creds[path]
			if !ok {
				t.Errorf("collector.yaml names %s, which is no credential of the unit (%v)", path, unit["LoadCredential"])
				continue
			}
			if _, perm := cc.file(t, src); perm != "0600" {
				t.Errorf("%s is written %s, want 0600", src, perm)
			}
		}
		if token, _ := cc.file(t, creds[pg.AdminTokenFile]); strings.TrimSpace(token) != adminToken {
			t.Errorf("admin token file = %q", token)
		}

		// Postgres finds its password in the pgpass credential, in the
		// format libpq and pgx read.
		if env := unit["Environment"]; !slices.Equal(env, []string{"PGPASSFILE=/run/credentials/picket-collector.service/pgpass"}) {
			t.Fatalf("Environment = %q, want PGPASSFILE", env)
		}
		pgpass, _ := cc.file(t, creds["/run/credentials/picket-collector.service/pgpass"])
		if got := parsePgpass(strings.TrimSpace(pgpass)); !slices.Equal(got, []string{"*", "*", "*", "*", dbPassword}) {
			t.Errorf("pgpass = %q parses as %q, want wildcards and the password", pgpass, got)
		}
	})

	t.Run("systemd units", func(t *testing.T) {
		analyze := testenv.RequireCommand(t, "systemd-analyze")
		if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bin, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, u := range []struct {
			module, name string
			threshold    int // highest acceptable exposure, in tenths
		}{
			{"prober", "picket-prober.service", 20},
			{"prober_minimal", "picket-prober.service", 20},
			{"collector", "picket-collector.service", 20},
			{"collector_pg", "picket-collector.service", 20},
		} {
			cc := all[u.module].cloudConfig(t)
			content, _ := cc.file(t, "/etc/systemd/system/"+u.name)
			dir := t.TempDir()
			path := filepath.Join(dir, u.name)
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.CommandContext(t.Context(), analyze, "verify", "--man=no", path).CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
				t.Errorf("%s: systemd-analyze verify: %v\n%s", u.module, err, out)
			}
			out, err := exec.CommandContext(t.Context(), analyze, "security", "--offline=yes", "--no-pager",
				"--threshold="+strconv.Itoa(u.threshold), path).CombinedOutput()
			exposure := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`).FindSubmatch(out)
			if err != nil || exposure == nil {
				t.Errorf("%s: systemd-analyze security above %d.%d: %v\n%s", u.module, u.threshold/10, u.threshold%10, err, out)
			} else {
				t.Logf("%s: exposure %s (systemd-analyze security --offline=yes)", u.module, exposure[1])
			}
			if u.module == "prober" || u.module == "collector" {
				unit := parseUnit(t, all[u.module].SystemdUnit)
				caps := "CAP_NET_RAW"
				if u.module == "collector" {
					caps = ""
				}
				for key, want := range map[string]string{
					"DynamicUser": "yes", "NoNewPrivileges": "yes", "ProtectSystem": "strict", "Restart": "always",
					"AmbientCapabilities": caps, "CapabilityBoundingSet": caps,
				} {
					if got := unit[key]; !slices.Equal(got, []string{want}) {
						t.Errorf("%s: %s = %q, want exactly %q", u.name, key, got, want)
					}
				}
			}
		}
		// The check itself must be able to fail.
		bad := filepath.Join(t.TempDir(), "bad.service")
		os.WriteFile(bad, []byte("[Service]\nExecStart="+bin+"\nDynamicUsr=yes\n"), 0o644)
		if out, _ := exec.CommandContext(t.Context(), analyze, "verify", "--man=no", bad).CombinedOutput(); len(bytes.TrimSpace(out)) == 0 {
			t.Error("systemd-analyze verify printed nothing for a misspelt key")
		}
	})

	t.Run("installer", func(t *testing.T) {
		testenv.RequireRoot(t) // install -o root
		for _, c := range []struct {
			module string
			ok     bool
		}{{"install_plain", true}, {"install_tarball", true}, {"install_wrong_sum", false}} {
			script := filepath.Join(t.TempDir(), "install-picket.sh")
			if err := os.WriteFile(script, []byte(all[c.module].InstallScript), 0o755); err != nil {
				t.Fatal(err)
			}
			cmd := exec.CommandContext(t.Context(), "/bin/sh", script)
			cmd.Env = append(os.Environ(), "CURL_CA_BUNDLE="+srv.caFile)
			out, err := cmd.CombinedOutput()
			dest := filepath.Join(work, strings.TrimPrefix(c.module, "install_"), "picket")
			installed, readErr := os.ReadFile(dest)
			switch {
			case c.ok && err != nil:
				t.Errorf("%s: installer failed: %v\n%s", c.module, err, out)
			case c.ok && !bytes.Equal(installed, srv.binary):
				t.Errorf("%s: installed %q, want the release binary (%v)", c.module, installed, readErr)
			case c.ok && !strings.Contains(string(out), "picket v1.2.3 (test stand-in) version"):
				t.Errorf("%s: the installer did not run `picket version`:\n%s", c.module, out)
			case !c.ok && (err == nil || readErr == nil):
				t.Errorf("%s: a binary with the wrong sha256 was installed (exit %v):\n%s", c.module, err, out)
			}
			if c.ok {
				if fi, err := os.Stat(dest); err != nil || fi.Mode().Perm() != 0o755 {
					t.Errorf("%s: %s mode %v, want 0755", c.module, dest, fi.Mode())
				}
			}
		}
	})

	t.Run("boot order", func(t *testing.T) {
		for _, m := range []string{"prober", "collector"} {
			cmds := all[m].cloudConfig(t).Runcmd
			want := [][]string{{"/usr/local/lib/picket/install-picket.sh"}, {"systemctl", "daemon-reload"}, {"systemctl", "enable", "--now", "picket-" + m + ".service"}}
			if !slices.EqualFunc(cmds, want, slices.Equal) {
				t.Errorf("%s runcmd = %q, want install, daemon-reload, enable --now", m, cmds)
			}
		}
	})
}

func cloudInitSchema(t *testing.T, bin, doc string) (string, error) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "user-data")
	if err := os.WriteFile(f, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), bin, "schema", "--config-file", f).CombinedOutput()
	return string(out), err
}

// parseUnit reads a unit file's settings as key -> values in order,
// ignoring sections (the keys used here are unique across them).
func parseUnit(t *testing.T, unit string) map[string][]string {
	t.Helper()
	m := map[string][]string{}
	for line := range strings.Lines(unit) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("unit line without '=': %q", line)
		}
		m[k] = append(m[k], v)
	}
	return m
}

// parsePgpass splits one pgpass line into its five fields, undoing the
// format's backslash escapes.
func parsePgpass(line string) []string {
	var fields []string
	var cur strings.Builder
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case c == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
		case c == ':':
			fields = append(fields, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	return append(fields, cur.String())
}
