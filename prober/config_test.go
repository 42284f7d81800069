package prober

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	os.WriteFile(token, []byte("s3cret\n"), 0o600)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	good := `vantage:
  id: hel1-hetzner-a
  region: eu-central
  provider: hetzner
  asn: 24940
  location: {lat: 60.17, lon: 24.94}
collectors:
  - https://collector.picket-a.example
  - https://collector.picket-b.example.net
token_file: ` + token + `
spool: {dir: /var/lib/picket/spool, max_bytes: 512MiB}
asn_db: /var/lib/picket/ip2asn-v4.tsv.gz
metrics_listen: 127.0.0.1:9464
`
	for _, tc := range []struct {
		name, yaml, wantErr string
	}{
		{name: "design example", yaml: good},
		{name: "unknown key", yaml: good + "colectors: []\n", wantErr: `:14: unknown key "colectors"`},
		{name: "bad size", yaml: strings.Replace(good, "512MiB", "lots", 1), wantErr: ":11: bad size"},
		{name: "no token file", yaml: strings.Replace(good, "token_file: "+token+"\n", "", 1), wantErr: "token_file is required"},
		{name: "empty token", yaml: strings.Replace(good, token, empty, 1), wantErr: "is empty"},
		{name: "missing token file", yaml: strings.Replace(good, token, token+".nope", 1), wantErr: "token_file: open"},
		{name: "no collectors", yaml: strings.Replace(good, "  - https://collector.picket-a.example\n  - https://collector.picket-b.example.net\n", "", 1), wantErr: "at least one collector"},
		{name: "bad collector", yaml: strings.Replace(good, "https://collector.picket-a.example", "collector.picket-a.example", 1), wantErr: `collectors[0]: "collector.picket-a.example" is not an http(s) URL`},
		{name: "no id", yaml: strings.Replace(good, "id: hel1-hetzner-a", "id: \"\"", 1), wantErr: "vantage.id is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".yaml")
			os.WriteFile(path, []byte(tc.yaml), 0o600)
			cfg, err := LoadConfig(path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), path) {
					t.Fatalf("error %v, want one naming %s and containing %q", err, path, tc.wantErr)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Fatalf("error spans several lines: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Token != "s3cret" || cfg.SpoolMaxBytes != 512<<20 || len(cfg.Collectors) != 2 ||
				cfg.Identity.ASN != 24940 || cfg.Identity.Location == nil || cfg.Identity.Location.Lat != 60.17 ||
				cfg.Discovery == nil || cfg.ASNDB != "/var/lib/picket/ip2asn-v4.tsv.gz" || cfg.MetricsListen != "127.0.0.1:9464" {
				t.Fatalf("config %+v", cfg)
			}
			cfg.setDefaults()
			if cfg.PollEvery != 30*time.Second || cfg.BatchSize != 500 {
				t.Fatalf("defaults %+v", cfg)
			}
		})
	}
}
