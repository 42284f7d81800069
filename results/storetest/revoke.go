package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/picketnet/picket/results"
)

// testRotateTokens: a new token hash replaces the old one at once, the
// team or vantage keeps everything else, and unknown names, unknown ids
// and another row's hash are refused without changing anything.
func testRotateTokens(t *testing.T, s results.Store) {
	ctx := context.Background()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tm := range []results.Team{{Name: "pay", TokenHash: []byte("h-pay"), CreatedAt: at}, {Name: "shop", TokenHash: []byte("h-shop"), CreatedAt: at}} {
		if err := s.CreateTeam(ctx, tm); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetTeamToken(ctx, "pay", []byte("h-pay-2")); err != nil {
		t.Fatalf("set team token: %v", err)
	}
	if _, err := s.TeamByTokenHash(ctx, []byte("h-pay")); !errors.Is(err, results.ErrNotFound) {
		t.Errorf("old team token after rotation: %v, want ErrNotFound", err)
	}
	if got, err := s.TeamByTokenHash(ctx, []byte("h-pay-2")); err != nil || got.Name != "pay" || !got.CreatedAt.Equal(at) {
		t.Errorf("new team token: %+v %v, want team pay created at %v", got, err, at)
	}

	lat, lon := 60.17, 24.94
	hel := results.Vantage{ID: "hel1", Region: "eu-central", Provider: "hetzner", ASN: 24940, Lat: &lat, Lon: &lon, TokenHash: []byte("t-hel"), CreatedAt: at}
	if err := s.CreateVantage(ctx, hel); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateVantage(ctx, results.Vantage{ID: "fra1", Region: "eu-central", Provider: "aws", TokenHash: []byte("t-fra"), CreatedAt: at}); err != nil {
		t.Fatal(err)
	}
	hbAt := at.Add(time.Hour)
	if err := s.RecordHeartbeat(ctx, results.Heartbeat{Vantage: "hel1", At: hbAt, Every: 30 * time.Second, Version: "v1.2.3", SpoolDepth: 4}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetVantageToken(ctx, "hel1", []byte("t-hel-2")); err != nil {
		t.Fatalf("set vantage token: %v", err)
	}
	if _, err := s.VantageByTokenHash(ctx, []byte("t-hel")); !errors.Is(err, results.ErrNotFound) {
		t.Errorf("old vantage token after rotation: %v, want ErrNotFound", err)
	}
	got, err := s.VantageByTokenHash(ctx, []byte("t-hel-2"))
	if err != nil {
		t.Fatalf("new vantage token: %v", err)
	}
	if got.ID != "hel1" || got.Region != "eu-central" || got.Provider != "hetzner" || got.ASN != 24940 ||
		got.Lat == nil || *got.Lat != lat || got.Lon == nil || *got.Lon != lon || !got.CreatedAt.Equal(at) ||
		!got.LastHeartbeat.Equal(hbAt) || got.HeartbeatEvery != 30*time.Second || got.Version != "v1.2.3" || got.SpoolDepth != 4 {
		t.Errorf("vantage after rotation %+v, want everything but the token kept", got)
	}

	refused := []struct {
		name string
		set  func() error
		want error
	}{
		{"unknown team", func() error { return s.SetTeamToken(ctx, "ghost", []byte("h-ghost")) }, results.ErrNotFound},
		{"another team's hash", func() error { return s.SetTeamToken(ctx, "pay", []byte("h-shop")) }, results.ErrConflict},
		{"unknown vantage", func() error { return s.SetVantageToken(ctx, "ghost", []byte("t-ghost")) }, results.ErrNotFound},
		{"another vantage's hash", func() error { return s.SetVantageToken(ctx, "hel1", []byte("t-fra")) }, results.ErrConflict},
	}
	for _, tc := range refused {
		if err := tc.set(); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// The refusals changed nothing.
	for _, h := range []string{"h-pay-2", "h-shop"} {
		if _, err := s.TeamByTokenHash(ctx, []byte(h)); err != nil {
			t.Errorf("team token %s after refused changes: %v", h, err)
		}
	}
	for _, h := range []string{"t-hel-2", "t-fra"} {
		if _, err := s.VantageByTokenHash(ctx, []byte(h)); err != nil {
			t.Errorf("vantage token %s after refused changes: %v", h, err)
		}
	}
	if teams, err := s.Teams(ctx); err != nil || len(teams) != 2 {
		t.Errorf("teams after refused changes: %+v %v, want pay and shop", teams, err)
	}
}

// testRemoveVantage: a removed vantage is gone from the registry (token,
// list, heartbeats) but its results and rollups stay in reports, and its
// id can be enrolled again.
func testRemoveVantage(t *testing.T, s results.Store) {
	ctx := context.Background()
	for _, v := range []results.Vantage{
		{ID: v1.id, Region: v1.region, Provider: v1.provider, ASN: v1.asn, TokenHash: []byte("t-v1")},
		{ID: v3.id, Region: v3.region, Provider: v3.provider, ASN: v3.asn, TokenHash: []byte("t-v3")},
	} {
		if err := s.CreateVantage(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	// v1: 10 minutes, minute 4 fails; v3: 10 minutes, all fine.
	ingest(t, s, append(tenMinutes("v1", "pay", "api", v1, 20, 4), tenMinutes("v3", "pay", "api", v3, 30, -1)...))

	if err := s.DeleteVantage(ctx, v1.id); err != nil {
		t.Fatalf("delete vantage: %v", err)
	}
	if _, err := s.VantageByTokenHash(ctx, []byte("t-v1")); !errors.Is(err, results.ErrNotFound) {
		t.Errorf("token of a removed vantage: %v, want ErrNotFound", err)
	}
	if err := s.RecordHeartbeat(ctx, results.Heartbeat{Vantage: v1.id, At: t0}); !errors.Is(err, results.ErrNotFound) {
		t.Errorf("heartbeat of a removed vantage: %v, want ErrNotFound", err)
	}
	if err := s.SetVantageToken(ctx, v1.id, []byte("t-v1-2")); !errors.Is(err, results.ErrNotFound) {
		t.Errorf("new token for a removed vantage: %v, want ErrNotFound", err)
	}
	if err := s.DeleteVantage(ctx, v1.id); !errors.Is(err, results.ErrNotFound) {
		t.Errorf("removing it again: %v, want ErrNotFound", err)
	}
	if err := s.DeleteVantage(ctx, "ghost"); !errors.Is(err, results.ErrNotFound) {
		t.Errorf("removing an unknown vantage: %v, want ErrNotFound", err)
	}
	vs, err := s.Vantages(ctx)
	if err != nil || len(vs) != 1 || vs[0].ID != v3.id {
		t.Errorf("vantages after removal: %+v %v, want only %s", vs, err, v3.id)
	}
	if _, err := s.VantageByTokenHash(ctx, []byte("t-v3")); err != nil {
		t.Errorf("the other vantage's token: %v", err)
	}

	// The past stays: raw results, and the report from rollups.
	raw, err := s.Query(ctx, results.ResultQuery{Vantage: v1.id})
	if err != nil || len(raw) != 10 {
		t.Errorf("raw results of the removed vantage: %d, %v; want 10", len(raw), err)
	}
	rows, err := s.Availability(ctx, results.ReportQuery{Team: "pay", By: results.ByVantage, Since: t0, Until: t0.Add(10 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Group != v1.id || rows[0].Results != 10 || rows[0].Failures != 1 || rows[0].TopError != "http/status" ||
		rows[1].Group != v3.id || rows[1].Results != 10 || rows[1].Failures != 0 {
		t.Errorf("report by vantage after removal: %+v; want %s 10 results 1 failure, %s 10 results", rows, v1.id, v3.id)
	}

	// The id can be enrolled again, with a new token and a fresh record.
	if err := s.CreateVantage(ctx, results.Vantage{ID: v1.id, Region: "eu-north", Provider: v1.provider, TokenHash: []byte("t-v1-new")}); err != nil {
		t.Fatalf("enrol the removed id again: %v", err)
	}
	got, err := s.VantageByTokenHash(ctx, []byte("t-v1-new"))
	if err != nil || got.ID != v1.id || got.Region != "eu-north" || !got.LastHeartbeat.IsZero() {
		t.Errorf("re-enrolled vantage: %+v %v, want %s in eu-north, never heard from", got, err, v1.id)
	}
	if _, err := s.VantageByTokenHash(ctx, []byte("t-v1")); !errors.Is(err, results.ErrNotFound) {
		t.Errorf("the removed token after re-enrolment: %v, want ErrNotFound", err)
	}
}

// testRemoveTeam: a removed team is gone from the registry with its
// endpoints and silences, another team keeps all of its own, and the
// removed team's results, rollups, NEL reports and alerts stay: a team
// created again under the same name sees them, and only them.
func testRemoveTeam(t *testing.T, s results.Store) {
	ctx := context.Background()
	createTeams(t, s, "pay", "shop")
	for _, e := range []results.Endpoint{
		{Team: "pay", Name: "api", Target: "https://api.example.com/", Checks: []json.RawMessage{json.RawMessage(`{"kind":"http"}`)}, Regions: []string{"all"}},
		{Team: "pay", Name: "web", Target: "https://web.example.com/", Checks: []json.RawMessage{json.RawMessage(`{"kind":"tcp"}`)}, Regions: []string{"eu"}},
		{Team: "shop", Name: "shop-web", Target: "https://shop.example.com/", Checks: []json.RawMessage{json.RawMessage(`{"kind":"http"}`)}, Regions: []string{"all"}},
	} {
		if err := s.PutEndpoint(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	// An ongoing silence, a maintenance window to come and an expired
	// silence of pay; an ongoing silence of shop.
	for _, sil := range []results.SilenceRecord{
		silence("pay-now", "pay", t0.Add(-time.Hour), t0.Add(time.Hour)),
		silence("pay-later", "pay", t0.Add(24*time.Hour), t0.Add(26*time.Hour)),
		silence("pay-past", "pay", t0.Add(-3*time.Hour), t0.Add(-2*time.Hour)),
		silence("shop-now", "shop", t0.Add(-time.Hour), t0.Add(time.Hour)),
	} {
		if err := s.PutSilence(ctx, sil); err != nil {
			t.Fatal(err)
		}
	}
	ingest(t, s, append(tenMinutes("pay", "pay", "api", v1, 20, 4), tenMinutes("shop", "shop", "shop-web", v1, 30, -1)...))
	record(t, s, []results.AlertRecord{alertRec("reachability/pay/api/http", "pay", "firing", t0, t0.Add(time.Minute))})
	if err := s.InsertNELReports(ctx, []results.NELReport{{ReceivedAt: t0.Add(time.Second), OccurredAt: t0, Team: "pay", Endpoint: "api",
		URL: "https://api.example.com/", Phase: "connection", Type: "tcp.refused", SamplingFraction: 1}}); err != nil {
		t.Fatal(err)
	}

	n, err := s.DeleteTeam(ctx, "pay")
	if err != nil || n != 2 {
		t.Fatalf("delete team: %d endpoints, %v; want 2 deleted", n, err)
	}

	// Gone: its token, its place in the list, its endpoints, its silences.
	if _, err := s.TeamByTokenHash(ctx, []byte("h-pay")); !errors.Is(err, results.ErrNotFound) {
		t.Errorf("token of a removed team: %v, want ErrNotFound", err)
	}
	if teams, err := s.Teams(ctx); err != nil || len(teams) != 1 || teams[0].Name != "shop" {
		t.Errorf("teams after removal: %+v %v, want only shop", teams, err)
	}
	if eps, err := s.Endpoints(ctx, "pay"); err != nil || len(eps) != 0 {
		t.Errorf("endpoints of the removed team: %+v %v, want none", eps, err)
	}
	var left []string
	eps, err := s.Endpoints(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range eps {
		left = append(left, e.Team+"/"+e.Name)
	}
	if !slices.Equal(left, []string{"shop/shop-web"}) {
		t.Errorf("every endpoint after removal: %v, want [shop/shop-web]", left)
	}
	// Silences ending after a time before all of them: every silence kept.
	sils, err := s.Silences(ctx, "", t0.Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, sil := range sils {
		ids = append(ids, sil.ID)
	}
	if !slices.Equal(ids, []string{"shop-now"}) {
		t.Errorf("silences after removal: %v, want [shop-now]", ids)
	}
	if _, err := s.TeamByTokenHash(ctx, []byte("h-shop")); err != nil {
		t.Errorf("the other team's token: %v", err)
	}
	// A request authenticated before the removal registers nothing after
	// it.
	if err := s.PutEndpoint(ctx, results.Endpoint{Team: "pay", Name: "late", Target: "https://late.example.com/",
		Checks: []json.RawMessage{json.RawMessage(`{"kind":"http"}`)}, Regions: []string{"all"}}); !errors.Is(err, results.ErrNotFound) {
		t.Errorf("an endpoint of the removed team: %v, want ErrNotFound", err)
	}

	refused := []struct {
		name string
		team string
	}{
		{"removing it again", "pay"},
		{"an unknown team", "ghost"},
		{"a name that differs in case", "SHOP"},
	}
	for _, tc := range refused {
		if n, err := s.DeleteTeam(ctx, tc.team); !errors.Is(err, results.ErrNotFound) || n != 0 {
			t.Errorf("%s: %d, %v; want 0, ErrNotFound", tc.name, n, err)
		}
	}
	if eps, err := s.Endpoints(ctx, "shop"); err != nil || len(eps) != 1 {
		t.Errorf("shop's endpoints after the refused removals: %+v %v", eps, err)
	}

	// The past stays, and a team created again under the name sees it,
	// with a new token and nothing registered.
	if err := s.CreateTeam(ctx, results.Team{Name: "pay", TokenHash: []byte("h-pay-new")}); err != nil {
		t.Fatalf("create the removed team again: %v", err)
	}
	if got, err := s.TeamByTokenHash(ctx, []byte("h-pay-new")); err != nil || got.Name != "pay" {
		t.Errorf("the new team's token: %+v %v", got, err)
	}
	if _, err := s.TeamByTokenHash(ctx, []byte("h-pay")); !errors.Is(err, results.ErrNotFound) {
		t.Errorf("the removed token after the team came back: %v, want ErrNotFound", err)
	}
	if eps, err := s.Endpoints(ctx, "pay"); err != nil || len(eps) != 0 {
		t.Errorf("endpoints of the team created again: %+v %v, want none", eps, err)
	}
	if sils, err := s.Silences(ctx, "pay", t0.Add(-24*time.Hour)); err != nil || len(sils) != 0 {
		t.Errorf("silences of the team created again: %+v %v, want none", sils, err)
	}
	raw, err := s.Query(ctx, results.ResultQuery{Team: "pay"})
	if err != nil || len(raw) != 10 {
		t.Errorf("raw results of the removed team: %d, %v; want 10", len(raw), err)
	}
	rows, err := s.Availability(ctx, results.ReportQuery{Team: "pay", By: results.ByRegion, Since: t0, Until: t0.Add(10 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Endpoint != "api" || rows[0].Results != 10 || rows[0].Failures != 1 || rows[0].TopError != "http/status" {
		t.Errorf("report of the removed team: %+v; want api with 10 results, 1 http/status failure", rows)
	}
	if alerts := listAlerts(t, s, "pay", t0.Add(-time.Hour), 10); len(alerts) != 1 || alerts[0].Key != "reachability/pay/api/http" {
		t.Errorf("alerts of the removed team: %v, want its one alert", alertIDs(alerts))
	}
	if nel, err := s.NELReports(ctx, results.NELQuery{Team: "pay"}); err != nil || len(nel) != 1 {
		t.Errorf("NEL reports of the removed team: %d, %v; want 1", len(nel), err)
	}
	if raw, err := s.Query(ctx, results.ResultQuery{Team: "shop"}); err != nil || len(raw) != 10 {
		t.Errorf("raw results of shop: %d, %v; want 10", len(raw), err)
	}
}

// tenMinutes is a run a minute for ten minutes from t0 of the http check
// of team's endpoint at v, ids prefix-00 to prefix-09, each taking ms; the
// run of minute failAt (none when it is outside 0..9) fails with
// http/status.
func tenMinutes(prefix, team, endpoint string, v vantage, ms float64, failAt int) []results.Result {
	rs := make([]results.Result, 0, 10)
	for m := range 10 {
		var fail *results.Error
		if m == failAt {
			fail = &results.Error{Layer: results.LayerHTTP, Code: results.CodeStatus, Message: "status 503"}
		}
		rs = append(rs, rec(fmt.Sprintf("%s-%02d", prefix, m), team, endpoint, endpoint+"/http", v, t0.Add(time.Duration(m)*time.Minute), ms, fail))
	}
	return rs
}

// testRemoveTeamRace: endpoints registered while the team is being
// removed are either removed with it or refused, never left behind.
func testRemoveTeamRace(t *testing.T, s results.Store) {
	ctx := context.Background()
	createTeams(t, s, "racer")
	const maxPuts = 500 // per writer: without the rule, puts never stop succeeding
	var (
		wg      sync.WaitGroup
		put     atomic.Int64
		started = make(chan struct{})
		once    sync.Once
	)
	for w := range 2 {
		wg.Go(func() {
			defer once.Do(func() { close(started) })
			for i := range maxPuts {
				err := s.PutEndpoint(ctx, results.Endpoint{Team: "racer", Name: fmt.Sprintf("race-%d-%d", w, i), Target: "https://race.example.com/",
					Checks: []json.RawMessage{json.RawMessage(`{"kind":"tcp"}`)}, Regions: []string{"all"}})
				if errors.Is(err, results.ErrNotFound) {
					return
				}
				if err != nil {
					t.Errorf("put: %v", err)
					return
				}
				if put.Add(1) == 10 {
					once.Do(func() { close(started) })
				}
			}
		})
	}
	<-started // some endpoints are in, and the writers go on
	if _, err := s.DeleteTeam(ctx, "racer"); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if eps, err := s.Endpoints(ctx, "racer"); err != nil || len(eps) != 0 {
		t.Errorf("%d endpoints of the removed team left (%v), of %d registered", len(eps), err, put.Load())
	}
}
