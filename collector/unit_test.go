package collector

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/picketnet/picket/results"
)

func TestEtagMatch(t *testing.T) {
	tests := []struct {
		header, etag string
		want         bool
	}{
		{"", `"abc"`, false},
		{`"abc"`, `"abc"`, true},
		{`abc`, `"abc"`, true},
		{`W/"abc"`, `"abc"`, true},
		{`"x", "abc"`, `"abc"`, true},
		{`"x"`, `"abc"`, false},
		{`*`, `"abc"`, true},
	}
	for _, tc := range tests {
		if got := etagMatch(tc.header, tc.etag); got != tc.want {
			t.Errorf("etagMatch(%q, %q) = %v, want %v", tc.header, tc.etag, got, tc.want)
		}
	}
}

// TestProbeSeriesBound: the probe gauges never exceed their bound, evict
// the least recently updated series, and drop stale ones.
func TestProbeSeriesBound(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := newProbeSeries(10, time.Hour, func() time.Time { return now })
	reg := prometheus.NewRegistry()
	reg.MustRegister(p)
	for i := range 25 {
		now = now.Add(time.Second)
		p.observe([]results.Result{{Team: "t", Endpoint: "e", Check: fmt.Sprintf("e/c%d", i), Region: "r", Vantage: "v", StartedAt: now, OK: true, DurationMS: 5}})
	}
	if n := countSeries(t, reg, "picket_probe_success"); n > 10 {
		t.Errorf("%d success series, want at most 10", n)
	}
	if got := gaugeValue(t, reg, "picket_probe_series_evicted_total"); got < 15 {
		t.Errorf("evicted %v series, want at least 15", got)
	}
	p.mu.Lock()
	_, newest := p.series[probeKey{"t", "e", "e/c24", "r", "v"}]
	_, oldest := p.series[probeKey{"t", "e", "e/c0", "r", "v"}]
	p.mu.Unlock()
	if !newest || oldest {
		t.Errorf("newest kept=%v oldest kept=%v; want the newest kept and the oldest evicted", newest, oldest)
	}
	// A late result does not overwrite a newer one.
	p.observe([]results.Result{{Team: "t", Endpoint: "e", Check: "e/c24", Region: "r", Vantage: "v", StartedAt: now.Add(-time.Hour), OK: false}})
	p.mu.Lock()
	ok := p.series[probeKey{"t", "e", "e/c24", "r", "v"}].ok
	p.mu.Unlock()
	if !ok {
		t.Error("a late failed result overwrote the newer success")
	}
	now = now.Add(2 * time.Hour)
	if n := countSeries(t, reg, "picket_probe_success"); n != 0 {
		t.Errorf("%d series after the TTL, want 0", n)
	}
}

// TestProbeSuccessMeansUp: picket_probe_success is 1 when the latest run
// found the endpoint up, as blackbox_exporter's probe_success means
// reachable: a certificate about to expire fails the check but is up.
func TestProbeSuccessMeansUp(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		err  *results.Error
		want float64
	}{
		{"ok", nil, 1},
		{"connect/refused", &results.Error{Layer: results.LayerConnect, Code: results.CodeRefused}, 0},
		{"tls/cert_expired", &results.Error{Layer: results.LayerTLS, Code: results.CodeCertExpired}, 0},
		{"tls/cert_expiring", &results.Error{Layer: results.LayerTLS, Code: results.CodeCertExpiring}, 1},
	} {
		p := newProbeSeries(10, time.Hour, func() time.Time { return now })
		reg := prometheus.NewRegistry()
		reg.MustRegister(p)
		p.observe([]results.Result{{Team: "t", Endpoint: "e", Check: "e/tls", Kind: "tls", Region: "r", Vantage: "v",
			StartedAt: now, OK: tc.err == nil, Error: tc.err, DurationMS: 40}})
		if got := gaugeValue(t, reg, "picket_probe_success"); got != tc.want {
			t.Errorf("%s: picket_probe_success %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestEnsureAdminToken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "admin.token")
	tok, created, err := EnsureAdminToken(path)
	if err != nil || !created || !strings.HasPrefix(tok, AdminTokenPrefix) || len(tok) < 40 {
		t.Fatalf("first call: %q created=%v %v", tok, created, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600", fi.Mode().Perm())
	}
	again, created, err := EnsureAdminToken(path)
	if err != nil || created || again != tok {
		t.Errorf("second call: %q created=%v %v; want the same token", again, created, err)
	}
	if err := os.WriteFile(path, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := EnsureAdminToken(path); err == nil {
		t.Error("empty token file accepted")
	}
}

func TestDecodeBatch(t *testing.T) {
	body := []byte(`{"results":[{"id":"a","future_field":1},{"id":"b"}]}`)
	for _, enc := range []string{"", "gzip"} {
		in := body
		if enc == "gzip" {
			in = gzipped(t, body)
		}
		b, err := DecodeBatch(bytes.NewReader(in), enc)
		if err != nil || len(b.Results) != 2 || b.Results[1].ID != "b" {
			t.Errorf("encoding %q: %+v, %v", enc, b, err)
		}
	}
	if _, err := DecodeBatch(strings.NewReader(`{"results":[]}`), "deflate"); !errors.Is(err, ErrBatchEncoding) {
		t.Errorf("deflate: %v, want ErrBatchEncoding", err)
	}
}

// FuzzDecodeBatch: any body, compressed or not, decodes or fails with one
// of the batch errors, never panics, and never yields more than the limit.
func FuzzDecodeBatch(f *testing.F) {
	rec, _ := json.Marshal(results.Batch{Results: []results.Result{{ID: "x", Endpoint: "e", Check: "e/http", Kind: "http", Vantage: "v", StartedAt: time.Unix(0, 0)}}})
	for _, s := range [][]byte{rec, []byte(`{"results":[]}`), []byte(`{"results":null}`), []byte(`[]`), []byte(`{"results":[1,2,3]}`), []byte(`{"a":{"results":[]},"results":[{}]}`), []byte(`{`)} {
		f.Add(s, false)
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(s)
		_ = zw.Close()
		f.Add(buf.Bytes(), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, compressed bool) {
		enc := ""
		if compressed {
			enc = "gzip"
		}
		b, err := DecodeBatch(bytes.NewReader(data), enc)
		if err != nil {
			if !errors.Is(err, ErrBatchMalformed) && !errors.Is(err, ErrBatchTooLarge) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if len(b.Results) > results.MaxBatchRecords || b.Results == nil {
			t.Fatalf("decoded %d records (nil=%v)", len(b.Results), b.Results == nil)
		}
	})
}

func countSeries(t *testing.T, reg *prometheus.Registry, name string) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return len(mf.GetMetric())
		}
	}
	return 0
}

func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			m := mf.GetMetric()[0]
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no single series %s", name)
	return 0
}
