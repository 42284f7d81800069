package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNELHeaders(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		code int
		want []string
	}{
		{"flags", []string{"nel", "headers", "--endpoint", "checkout-api", "--collector", "https://collector.picket-a.example", "--collector", "https://collector.picket-b.example.net"}, nil, exitOK,
			[]string{`Report-To: {"group":"picket-nel","max_age":2592000,"endpoints":[{"url":"https://collector.picket-a.example/v1/reports/nel?endpoint=checkout-api","priority":1},{"url":"https://collector.picket-b.example.net/v1/reports/nel?endpoint=checkout-api","priority":2}]}`,
				`NEL: {"report_to":"picket-nel","max_age":2592000,"success_fraction":0.01,"failure_fraction":1}`,
				`Reporting-Endpoints: picket-nel="https://collector.picket-a.example/v1/reports/nel?endpoint=checkout-api", picket-nel-2=`}},
		{"env", []string{"nel", "headers", "--endpoint", "web"}, map[string]string{"PICKET_COLLECTORS": "https://a.picket-a.example,https://b.picket-b.example.net"}, exitOK,
			[]string{"picket-a.example/v1/reports/nel?endpoint=web", "picket-b.example.net"}},
		{"one domain", []string{"nel", "headers", "--endpoint", "web", "--collector", "https://a.picket.example,https://b.picket.example"}, nil, exitUsage,
			[]string{"span 1 domain(s), want at least 2"}},
		{"no endpoint", []string{"nel", "headers", "--collector", "https://a.x.example"}, nil, exitUsage, []string{"--endpoint is required"}},
		{"no collectors", []string{"nel", "headers", "--endpoint", "web"}, nil, exitUsage, []string{"no collectors"}},
		{"no subcommand", []string{"nel"}, nil, exitUsage, []string{"picket nel headers --endpoint NAME"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), tt.args, stdio{out: &out, err: &errb, getenv: func(k string) string { return tt.env[k] }})
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %s", code, tt.code, errb.String())
			}
			all := out.String() + errb.String()
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("output lacks %q:\n%s", w, all)
				}
			}
			if tt.code != exitOK && strings.Count(strings.TrimSpace(errb.String()), "\n") > 0 && tt.name != "no subcommand" {
				t.Errorf("error is not one line: %q", errb.String())
			}
		})
	}
}

// --config takes the collectors of a prober.yaml copied from a prober
// host: its token file, which stays on that host, is not needed.
func TestNELHeadersFromProberConfig(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "prober.yaml")
	yaml := `vantage: {id: hel1-hetzner-a, region: eu-central, provider: hetzner}
collectors:
  - https://collector.picket-a.example
  - https://collector.picket-b.example.net
token_file: /nonexistent/picket/token
spool: {dir: /var/lib/picket/spool}
`
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := cli(t, nil, "nel", "headers", "--endpoint", "checkout-api", "--config", file)
	if code != exitOK || !strings.Contains(out, `"url":"https://collector.picket-b.example.net/v1/reports/nel?endpoint=checkout-api","priority":2`) {
		t.Errorf("exit %d, stdout %q, stderr %q; want the headers of both collectors", code, out, errs)
	}

	// A file with a mistake is still refused, with its line.
	if err := os.WriteFile(file, []byte("vantage: {id: a}\ncollector: [https://a.example]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs = cli(t, nil, "nel", "headers", "--endpoint", "checkout-api", "--config", file)
	if want := "picket nel headers: " + file + ":2: unknown key \"collector\""; code != exitUsage || !strings.HasPrefix(errs, want) {
		t.Errorf("exit %d, stderr %q; want exit %d and %q", code, errs, exitUsage, want)
	}
}
