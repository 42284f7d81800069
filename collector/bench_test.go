package collector

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/picketnet/picket/collector/api"
	"github.com/picketnet/picket/results"
)

// BenchmarkIngestAPI posts 500-record gzip batches through the whole API
// (auth, decode, validation, group commit, SQLite) and reports results/s.
func BenchmarkIngestAPI(b *testing.B) {
	e := newEnvB(b)
	out, err := e.admin.EnrolVantage(context.Background(), api.EnrolVantage{ID: "v1", Region: "eu", Provider: "p"})
	if err != nil {
		b.Fatal(err)
	}
	at := time.Now().UTC()
	n := 0
	body := func() []byte {
		var batch results.Batch
		for range 500 {
			n++
			r := record(fmt.Sprintf("0192f1c4-0000-7000-8000-%012d", n), "t", "web", "v1", at, n%50 != 0, float64(n%300))
			r.Details = json.RawMessage(`{"status":200,"http_version":"HTTP/2.0","bytes":1534}`)
			batch.Results = append(batch.Results, r)
		}
		raw, _ := json.Marshal(batch)
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(raw)
		_ = zw.Close()
		return buf.Bytes()
	}
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		data := body()
		b.StartTimer()
		req := httptest.NewRequest(http.MethodPost, "/v1/results", bytes.NewReader(data))
		req.Header.Set("Authorization", "Bearer "+out.Token)
		req.Header.Set("Content-Encoding", "gzip")
		w := httptest.NewRecorder()
		e.srv.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
	b.ReportMetric(float64(b.N*500)/b.Elapsed().Seconds(), "results/s")
}
