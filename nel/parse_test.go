package nel

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse: whatever the input, Parse does not panic, and what it
// accepts satisfies every rule the store relies on.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/chromium-*.json")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(envelope(f, report("https://api.example.com/a?b=c", nil))))
	f.Add([]byte(envelope(f, report("https://[2001:db8::1]:8443/", map[string]any{"phase": "dns", "type": "dns.name_not_resolved", "server_ip": ""}))))
	f.Add([]byte(`[{"age":0,"type":"network-error","url":"http://x","body":{"phase":"application","type":"http.error","status_code":500,"sampling_fraction":1e-9}}]`))
	f.Add([]byte(`[null]`))
	f.Add([]byte(`[{"age":1e400}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		reports, err := Parse(data, 100)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("multi-line error %q", err)
			}
			return
		}
		if len(reports) == 0 || len(reports) > 100 {
			t.Fatalf("accepted %d reports", len(reports))
		}
		for _, r := range reports {
			b := r.Body
			if !KnownType(b.Type) || (b.Phase != PhaseDNS && b.Phase != PhaseConnection && b.Phase != PhaseApplication) {
				t.Errorf("accepted phase %q type %q", b.Phase, b.Type)
			}
			if !(b.SamplingFraction > 0 && b.SamplingFraction <= 1) || b.Elapsed < 0 || r.Age < 0 || r.Age > maxAge {
				t.Errorf("accepted numbers out of range: %+v", r)
			}
			if b.StatusCode != 0 && (b.StatusCode < 100 || b.StatusCode > 599) {
				t.Errorf("accepted status %d", b.StatusCode)
			}
			if len(r.UserAgent) > maxUserAgentLen || len(b.Protocol) > maxProtocolLen || len(b.Method) > maxMethodLen {
				t.Errorf("accepted oversize strings")
			}
			stored := StoredURL(r.URL, b.Phase)
			u, err := url.Parse(stored)
			if err != nil || u.RawQuery != "" || u.Fragment != "" || u.User != nil || strings.Contains(stored, "?") {
				t.Errorf("stored URL %q keeps more than origin and path", stored)
			}
			if (b.Phase == PhaseDNS || b.Phase == PhaseConnection) && u.Path != "/" {
				t.Errorf("stored URL %q keeps the path of a %s failure", stored, b.Phase)
			}
			if Origin(u) != Origin(r.URL) {
				t.Errorf("stored URL %q changed the origin %q", stored, Origin(r.URL))
			}
			if br := Browser(r.UserAgent); strings.ContainsAny(br, "();/") || len(br) > 40 {
				t.Errorf("browser %q from %q", br, r.UserAgent)
			}
		}
	})
}

func TestBrowser(t *testing.T) {
	tests := map[string]string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.86 Safari/537.36":                            "Chrome 131",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.70":              "Edge 131",
		"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0":                                                                         "Firefox 133",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15":                          "Safari 18",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/130.0.6723.90 Mobile/15E148 Safari/604.1": "Chrome 130",
		"Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36":     "Samsung Internet 26",
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36":                                  "HeadlessChrome 156",
		"picket-reporting/1 (checkout-cli)":  "picket-reporting 1",
		"":                                   "other",
		"SomeBot/2.0 (+https://bot.example)": "other",
	}
	for ua, want := range tests {
		if got := Browser(ua); got != want {
			t.Errorf("Browser(%q) = %q, want %q", ua, got, want)
		}
	}
}

func TestStoredURL(t *testing.T) {
	tests := []struct{ in, phase, want string }{
		{"https://API.Example.com:443/a/b?c=d#e", PhaseApplication, "https://api.example.com/a/b"},
		{"https://api.example.com/a/b?c=d", PhaseConnection, "https://api.example.com/"},
		{"http://u:p@api.example.com:8080/a", PhaseDNS, "http://api.example.com:8080/"},
		{"https://[2001:db8::1]:443/x?y", PhaseApplication, "https://[2001:db8::1]/x"},
		{"https://api.example.com", PhaseApplication, "https://api.example.com/"},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := StoredURL(u, tt.phase); got != tt.want {
			t.Errorf("StoredURL(%q, %s) = %q, want %q", tt.in, tt.phase, got, tt.want)
		}
	}
}

func TestBuildHeaders(t *testing.T) {
	zero := 0.0
	h, err := BuildHeaders(HeaderOptions{
		Collectors:      []string{"https://collector.picket-a.example", "https://collector.picket-b.example.net/"},
		Endpoint:        "checkout api",
		SuccessFraction: &zero,
	})
	if err != nil {
		t.Fatal(err)
	}
	var nel struct {
		ReportTo        string  `json:"report_to"`
		MaxAge          int     `json:"max_age"`
		SuccessFraction float64 `json:"success_fraction"`
		FailureFraction float64 `json:"failure_fraction"`
	}
	var rt struct {
		Group     string `json:"group"`
		MaxAge    int    `json:"max_age"`
		Endpoints []struct {
			URL      string `json:"url"`
			Priority int    `json:"priority"`
		} `json:"endpoints"`
	}
	if err := json.Unmarshal([]byte(h.NEL), &nel); err != nil {
		t.Fatalf("NEL %q: %v", h.NEL, err)
	}
	if err := json.Unmarshal([]byte(h.ReportTo), &rt); err != nil {
		t.Fatalf("Report-To %q: %v", h.ReportTo, err)
	}
	if nel.ReportTo != rt.Group || nel.MaxAge != 2592000 || nel.SuccessFraction != 0 || nel.FailureFraction != 1 {
		t.Errorf("NEL %+v", nel)
	}
	if len(rt.Endpoints) != 2 || rt.Endpoints[0].URL != "https://collector.picket-a.example/v1/reports/nel?endpoint=checkout+api" ||
		rt.Endpoints[1].Priority != 2 {
		t.Errorf("Report-To %+v", rt)
	}
	if h.ReportingEndpoints != `picket-nel="https://collector.picket-a.example/v1/reports/nel?endpoint=checkout+api", picket-nel-2="https://collector.picket-b.example.net/v1/reports/nel?endpoint=checkout+api"` {
		t.Errorf("Reporting-Endpoints %s", h.ReportingEndpoints)
	}

	for _, bad := range []HeaderOptions{
		{Collectors: []string{"https://a.picket.example", "https://b.picket.example"}, Endpoint: "x"},
		{Collectors: []string{"http://a.picket.example", "https://b.other.example"}, Endpoint: "x"},
		{Collectors: []string{"https://a.picket.example", "https://b.other.example"}},
		{Endpoint: "x"},
	} {
		if _, err := BuildHeaders(bad); err == nil {
			t.Errorf("BuildHeaders(%+v) accepted", bad)
		}
	}
}
