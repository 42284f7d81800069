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
	"github.com/picketnet/picket/collector/endpointspec"
	"github.com/picketnet/picket/results"
)

// BenchmarkIngestAPI posts 500-record gzip batches through the whole API
// (auth, decode, validation against the registered checks, group commit,
// SQLite) and reports results/s.
func BenchmarkIngestAPI(b *testing.B) {
	e := newEnvB(b)
	out, err := e.admin.EnrolVantage(context.Background(), api.EnrolVantage{ID: "v1", Region: "eu", Provider: "p"})
	if err != nil {
		b.Fatal(err)
	}
	e.register("t", "web")
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
		b.StopTimer()
		var ack results.BatchAck
		if err := json.Unmarshal(w.Body.Bytes(), &ack); w.Code != 200 || err != nil || len(ack.Accepted) != 500 {
			b.Fatalf("status %d: %.300s; want every record accepted", w.Code, w.Body)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(b.N*500)/b.Elapsed().Seconds(), "results/s")
}

// BenchmarkRegisteredCheck measures what ingest adds per record to hold it
// against the registered checks: 5,000 endpoints of 3 checks in memory,
// records spread over them.
func BenchmarkRegisteredCheck(b *testing.B) {
	cs := &checkSet{endpoints: map[endpointKey]registeredEndpoint{}}
	recs := make([]results.Result, 5000)
	for i := range recs {
		name := fmt.Sprintf("endpoint-%04d", i)
		cs.endpoints[endpointKey{"payments", name}] = registeredEndpoint{regions: []string{"eu-central", "us-east"}, checks: []endpointspec.CheckRef{
			{ID: name + "/http", Kind: "http"}, {ID: name + "/tls", Kind: "tls"}, {ID: name + "/dns", Kind: "dns"},
		}}
		recs[i] = results.Result{Team: "payments", Endpoint: name, Check: name + "/dns", Kind: "dns"}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if reason, why := cs.check(&recs[i%len(recs)], "us-east"); reason != "" {
			b.Fatal(why)
		}
		i++
	}
}
