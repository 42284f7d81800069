package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/picketnet/picket/results"
)

// RunNEL checks a store's NEL reports: what is inserted comes back field
// for field, newest first, filtered by team, endpoint and time; counts
// aggregate per minute, type and client network, weighted by the
// sampling fraction; retention deletes by occurrence time.
func RunNEL(t *testing.T, s results.NELStore) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	rep := func(team, ep, typ string, at time.Time, sf float64, asn uint32) results.NELReport {
		phase := "connection"
		if typ == "ok" {
			phase = "application"
		}
		return results.NELReport{
			ReceivedAt: at.Add(2 * time.Second), OccurredAt: at, Team: team, Endpoint: ep,
			URL: "https://api.example.com/", Phase: phase, Type: typ, SamplingFraction: sf,
			ElapsedMS: 123, ServerIP: "192.0.2.1", Protocol: "h2", Method: "GET", StatusCode: 0,
			ClientASN: asn, ClientCountry: "DE", ClientPrefix: "198.51.100.0/24", Browser: "Chrome 131",
		}
	}
	in := []results.NELReport{
		rep("pay", "api", "tcp.refused", t0.Add(5*time.Second), 1, 3320),
		rep("pay", "api", "tcp.refused", t0.Add(10*time.Second), 0.5, 3320),
		rep("pay", "api", "tcp.refused", t0.Add(20*time.Second), 1, 7922),
		rep("pay", "api", "ok", t0.Add(30*time.Second), 0.01, 3320),
		rep("pay", "api", "tcp.refused", t0.Add(70*time.Second), 1, 3320),
		rep("pay", "web", "tcp.refused", t0.Add(15*time.Second), 1, 3320),
		rep("ops", "api", "tcp.refused", t0.Add(15*time.Second), 1, 3320),
	}
	in[0].StatusCode = 503
	in[0].Type, in[0].Phase = "http.error", "application"
	if err := s.InsertNELReports(ctx, in); err != nil {
		t.Fatal(err)
	}
	got, err := s.NELReports(ctx, results.NELQuery{Team: "pay", Endpoint: "api"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 {
		t.Fatalf("got %d reports of pay/api, want 5", len(got))
	}
	if got[0].OccurredAt != in[4].OccurredAt {
		t.Errorf("first report occurred %v, want the newest %v", got[0].OccurredAt, in[4].OccurredAt)
	}
	if last := got[4]; last != in[0] {
		t.Errorf("round trip:\n got %+v\nwant %+v", last, in[0])
	}
	got, err = s.NELReports(ctx, results.NELQuery{Team: "pay", Since: t0.Add(15 * time.Second), Until: t0.Add(70 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 { // web at 15s, api at 20s and 30s
		t.Errorf("time filter: got %d reports, want 3: %+v", len(got), got)
	}

	counts, err := s.NELCounts(ctx, results.NELQuery{Team: "pay", Endpoint: "api"})
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		min int
		typ string
		asn uint32
	}
	type val struct {
		n int64
		w float64
	}
	want := map[key]val{
		{0, "http.error", 3320}:  {1, 1},
		{0, "tcp.refused", 3320}: {1, 2},
		{0, "tcp.refused", 7922}: {1, 1},
		{0, "ok", 3320}:          {1, 100},
		{1, "tcp.refused", 3320}: {1, 1},
	}
	if len(counts) != len(want) {
		t.Fatalf("got %d count rows, want %d: %+v", len(counts), len(want), counts)
	}
	for i, c := range counts {
		if i > 0 && c.Bucket.Before(counts[i-1].Bucket) {
			t.Errorf("counts not oldest first: %v after %v", c.Bucket, counts[i-1].Bucket)
		}
		k := key{int(c.Bucket.Sub(t0) / time.Minute), c.Type, c.ClientASN}
		w, ok := want[k]
		if !ok || c.Reports != w.n || c.Weighted < w.w-1e-6 || c.Weighted > w.w+1e-6 {
			t.Errorf("count %+v, want %+v for %+v", c, w, k)
		}
		if c.Bucket.Sub(t0)%time.Minute != 0 || c.ClientCountry != "DE" || c.Team != "pay" || c.Endpoint != "api" {
			t.Errorf("count %+v: bad bucket or labels", c)
		}
	}

	// Wider buckets: the two minutes are one hour.
	counts, err = s.NELCounts(ctx, results.NELQuery{Team: "pay", Endpoint: "api", Step: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	hourly := map[key]val{
		{0, "http.error", 3320}:  {1, 1},
		{0, "tcp.refused", 3320}: {2, 3},
		{0, "tcp.refused", 7922}: {1, 1},
		{0, "ok", 3320}:          {1, 100},
	}
	if len(counts) != len(hourly) {
		t.Fatalf("hourly: got %d count rows, want %d: %+v", len(counts), len(hourly), counts)
	}
	for _, c := range counts {
		k := key{int(c.Bucket.Sub(t0) / time.Minute), c.Type, c.ClientASN}
		w, ok := hourly[k]
		if !ok || !c.Bucket.Equal(t0) || c.Reports != w.n || c.Weighted < w.w-1e-6 || c.Weighted > w.w+1e-6 {
			t.Errorf("hourly count %+v, want %+v for %+v", c, w, k)
		}
	}

	if err := s.DeleteNELReportsBefore(ctx, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	got, err = s.NELReports(ctx, results.NELQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].OccurredAt != in[4].OccurredAt {
		t.Errorf("after retention: %+v, want only the report at +70s", got)
	}
}
