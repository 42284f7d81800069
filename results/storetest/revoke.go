package storetest

import (
	"context"
	"errors"
	"fmt"
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
	var rs []results.Result
	for m := range 10 {
		var fail *results.Error
		if m == 4 {
			fail = &results.Error{Layer: results.LayerHTTP, Code: results.CodeStatus, Message: "status 503"}
		}
		at := t0.Add(time.Duration(m) * time.Minute)
		rs = append(rs, rec(fmt.Sprintf("v1-%02d", m), "pay", "api", "api/http", v1, at, 20, fail),
			rec(fmt.Sprintf("v3-%02d", m), "pay", "api", "api/http", v3, at, 30, nil))
	}
	ingest(t, s, rs)

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
