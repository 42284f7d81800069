package httpcheck

import (
	"encoding/json"
	"errors"
	"flag"
	"slices"
	"strings"
	"testing"

	"github.com/picketnet/picket/checks"
	"github.com/picketnet/picket/checks/checktest"
)

func TestParseErrors(t *testing.T) {
	const url = "https://example.com/health"
	for _, tc := range []struct {
		name, target, spec string
		field              string // the FieldError's field
		reason             string // a part of its reason
	}{
		{"empty target", "", `{}`, "target", "missing"},
		{"no scheme", "example.com", `{}`, "target", "http:// or https://"},
		{"ftp", "ftp://example.com/", `{}`, "target", "http:// or https://"},
		{"credentials", "https://u:p@example.com/", `{}`, "target", "credentials"},
		{"no host", "https:///path", `{}`, "target", "no host"},
		{"bad port", "https://example.com:99999/", `{}`, "target", "port"},
		{"empty port", "https://example.com:/", `{}`, "target", "empty port"},
		{"long target", "https://example.com/" + strings.Repeat("a", 2100), `{}`, "target", "longer"},
		{"not an object", url, `[1]`, "", ""},
		{"unknown field", url, `{"methd":"GET"}`, "methd", "unknown field"},
		{"bad method", url, `{"method":"FETCH"}`, "method", "not one of"},
		{"lower-case method", url, `{"method":"get"}`, "method", "not one of"},
		{"body with GET", url, `{"body":"x"}`, "body", "not allowed with method GET"},
		{"bad header name", url, `{"headers":{"Bad Name":"x"}}`, "headers.Bad Name", "not a valid header name"},
		{"header value newline", url, `{"headers":{"X-A":"a\r\nX-B: b"}}`, "headers.X-A", "control character"},
		{"bad version", url, `{"http_version":"1.0"}`, "http_version", "not one of"},
		{"http3 in clear", "http://example.com/", `{"http_version":"3"}`, "http_version", "https"},
		{"bad prefer_ip", url, `{"prefer_ip":"5"}`, "prefer_ip", "not 4 or 6"},
		{"status out of range", url, `{"expect":{"status":[200,600]}}`, "expect.status[1]", "100..599"},
		{"status backwards", url, `{"expect":{"status":["299-200"]}}`, "expect.status[0]", "backwards"},
		{"status garbage", url, `{"expect":{"status":["2xxx"]}}`, "expect.status[0]", "not a status"},
		{"status object", url, `{"expect":{"status":[{}]}}`, "expect.status[0]", "expected a status"},
		{"status fraction", url, `{"expect":{"status":[200.5]}}`, "expect.status[0]", "not a status"},
		{"status not a list", url, `{"expect":{"status":200}}`, "expect.status", "expected"},
		{"bad body regex", url, `{"expect":{"body_regex":"("}}`, "expect.body_regex", "bad regex"},
		{"bad header regex", url, `{"expect":{"headers":{"X-A":"[a"}}}`, "expect.headers.X-A", "bad regex"},
		{"long regex", url, `{"expect":{"body_regex":"` + strings.Repeat("a", 2000) + `"}}`, "expect.body_regex", "longer than"},
		{"negative max_bytes", url, `{"max_bytes":-1}`, "max_bytes", "outside"},
		{"zero max_bytes is no default", url, `{"max_bytes":0}`, "max_bytes", "outside"},
		{"huge max_bytes", url, `{"max_bytes":1099511627776}`, "max_bytes", "outside"},
		{"max_bytes string", url, `{"max_bytes":"1MiB"}`, "max_bytes", "expected"},
		{"negative redirects", url, `{"max_redirects":-1}`, "max_redirects", "outside"},
		{"many redirects", url, `{"max_redirects":31}`, "max_redirects", "outside"},
		{"insecure with ca", url, `{"ca_file":"/ca.pem","insecure_skip_verify":true}`, "insecure_skip_verify", "ca_file"},
		{"ca_pem not PEM", url, `{"ca_pem":"hello"}`, "ca_pem", "no PEM certificate"},
		{"ca_pem with ca_file", url, `{"ca_file":"/ca.pem","ca_pem":"x"}`, "ca_pem", "ca_file"},
		{"insecure with ca_pem", url, `{"ca_pem":"x","insecure_skip_verify":true}`, "insecure_skip_verify", "ca_pem"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Kind{}.Parse(tc.target, json.RawMessage(tc.spec))
			if fe := checktest.WantFieldError(t, err); fe.Field != tc.field || !strings.Contains(fe.Reason, tc.reason) {
				t.Fatalf("Parse: field %q reason %q, want field %q reason containing %q", fe.Field, fe.Reason, tc.field, tc.reason)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

func TestParseDefaults(t *testing.T) {
	reg := checks.NewRegistry(Kind{})
	p, err := reg.Parse("HTTPS://example.com/x#frag", json.RawMessage(`{"kind":"http","interval":"30s","timeout":"5s"}`))
	if err != nil {
		t.Fatal(err)
	}
	c := p.Check.(*Check).cfg
	if c.method != "GET" || c.version != VersionAuto || c.maxBytes != DefaultMaxBytes || c.maxRedirects != DefaultMaxRedirects ||
		len(c.statuses) != 1 || c.statuses[0] != (statusRange{200, 299}) || c.url.String() != "https://example.com/x" {
		t.Fatalf("defaults: %+v", c)
	}
	// The DESIGN example, as YAML turns it into JSON.
	p, err = reg.Parse("https://api.example.com/health", json.RawMessage(`{"kind":"http","interval":"30s","timeout":"10s","expect":{"status":[200],"body":"ok"}}`))
	if err != nil {
		t.Fatal(err)
	}
	c = p.Check.(*Check).cfg
	if len(c.statuses) != 1 || c.statuses[0] != (statusRange{200, 200}) || string(c.bodySub) != "ok" {
		t.Fatalf("design example: %+v", c)
	}
	// An empty spec is all defaults.
	if _, err := (Kind{}).Parse("http://[2001:db8::1]:8080/", nil); err != nil {
		t.Fatal(err)
	}
}

func TestBindFlags(t *testing.T) {
	fs := flag.NewFlagSet("check http", flag.ContinueOnError)
	get := Kind{}.BindFlags(fs)
	err := fs.Parse([]string{
		"--method", "POST", "--header", "X-A: 1", "--header", "Host: api.example", "--body", "{}",
		"--http-version", "3", "--ip", "6",
		"--expect-status", "200", "--expect-status", "301-302,4xx",
		"--expect-body", "ok", "--expect-body-regex", "^o", "--expect-header", "Content-Type: ^text/",
		"--max-bytes", "2KiB", "--max-redirects", "0", "--ca-file", "/etc/ca.pem",
	})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := get()
	if err != nil {
		t.Fatal(err)
	}
	chk, err := Kind{}.Parse("https://example.com/", raw)
	if err != nil {
		t.Fatalf("Parse(%s): %v", raw, err)
	}
	c := chk.(*Check).cfg
	want := []statusRange{{200, 200}, {301, 302}, {400, 499}}
	if c.method != "POST" || c.header.Get("X-A") != "1" || c.host != "api.example" || string(c.body) != "{}" ||
		c.version != Version3 || c.preferIP != 6 || !slices.Equal(c.statuses, want) || string(c.bodySub) != "ok" ||
		c.bodyRe.String() != "^o" || len(c.headers) != 1 || c.headers[0].name != "Content-Type" ||
		c.maxBytes != 2048 || c.maxRedirects != 0 || c.caFile != "/etc/ca.pem" || c.insecure {
		t.Fatalf("flags gave %s -> %+v", raw, c)
	}

	// Without flags: the spec is empty and all defaults apply.
	fs = flag.NewFlagSet("check http", flag.ContinueOnError)
	get = Kind{}.BindFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if raw, err = get(); err != nil || string(raw) != "{}" {
		t.Fatalf("no flags: %s, %v", raw, err)
	}

	for _, bad := range [][]string{{"--header", "no colon"}, {"--expect-header", ": x"}, {"--max-bytes", "lots"}} {
		fs = flag.NewFlagSet("check http", flag.ContinueOnError)
		get = Kind{}.BindFlags(fs)
		if err := fs.Parse(bad); err != nil {
			t.Fatal(err)
		}
		if _, err := get(); err == nil || !strings.Contains(err.Error(), bad[0]) {
			t.Errorf("%v: error %v, want one naming %s", bad, err, bad[0])
		}
	}
}

// FuzzParse feeds random targets and specs to Parse: it must never panic,
// must reject with a *checks.FieldError, and what it accepts must be
// within bounds.
func FuzzParse(f *testing.F) {
	for _, seed := range []struct{ target, spec string }{
		{"https://example.com/", `{}`},
		{"http://example.com:8080/x?y=1", `{"method":"POST","body":"a","headers":{"X":"y"}}`},
		{"https://[::1]/", `{"http_version":"3","prefer_ip":"6"}`},
		{"https://example.com/", `{"expect":{"status":[200,"201-299","3xx"],"body":"ok","body_regex":"^o","headers":{"A":"b"}}}`},
		{"https://example.com/", `{"max_bytes":1,"max_redirects":0,"ca_file":"/x"}`},
		{"https://example.com/", `{"expect":{"status":[1e3,"-",null,true]}}`},
		{"https://example.com/", `{"kind":"http","interval":"30s","timeout":"1s"}`},
		{"example.com", `not json`},
	} {
		f.Add(seed.target, []byte(seed.spec))
	}
	f.Fuzz(func(t *testing.T, target string, spec []byte) {
		chk, err := Kind{}.Parse(target, spec)
		if err != nil {
			checktest.WantFieldError(t, err)
			return
		}
		c := chk.(*Check).cfg
		if c.url.Scheme != "http" && c.url.Scheme != "https" || c.url.Hostname() == "" {
			t.Fatalf("accepted target %q", target)
		}
		if !slices.Contains(methods(), c.method) || c.maxBytes < 1 || c.maxBytes > MaxMaxBytes ||
			c.maxRedirects < 0 || c.maxRedirects > MaxMaxRedirects || len(c.statuses) == 0 {
			t.Fatalf("accepted out-of-bounds config %+v", c)
		}
		for _, s := range c.statuses {
			if s.lo < 100 || s.hi > 599 || s.lo > s.hi {
				t.Fatalf("accepted status range %v", s)
			}
		}
		if _, _, err := splitHostPortOK(c); err != nil {
			t.Fatalf("accepted target %q with unusable host:port: %v", target, err)
		}
	})
}

func splitHostPortOK(c *config) (string, string, error) {
	host, port := hostPort(c.url)
	if host == "" || port == "" {
		return "", "", errors.New("empty host or port")
	}
	return host, port, nil
}
