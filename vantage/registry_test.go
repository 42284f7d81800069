package vantage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/results/sqlite/sqlitetest"
)

func TestRegistry(t *testing.T) {
	ctx := context.Background()
	st := sqlitetest.Open(t)
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	r := NewRegistry(st, 30*time.Second)
	r.Now = func() time.Time { return now }

	v, token, err := r.Enrol(ctx, Identity{ID: "hel1-hetzner-a", Region: "eu-central", Provider: "hetzner", ASN: 24940, Location: &Location{Lat: 60.17, Lon: 24.94}})
	if err != nil {
		t.Fatal(err)
	}
	if len(token) < 40 || !bytes.Equal(v.TokenHash, HashToken(token)) {
		t.Errorf("token %q, hash %x", token, v.TokenHash)
	}
	for _, bad := range []Identity{
		{ID: "Has Space", Region: "eu", Provider: "p"},
		{ID: "ok", Region: "", Provider: "p"},
		{ID: "ok", Region: "eu", Provider: "p", Location: &Location{Lat: 91}},
	} {
		if _, _, err := r.Enrol(ctx, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("enrol %+v: %v, want ErrInvalid", bad, err)
		}
	}
	if _, _, err := r.Enrol(ctx, Identity{ID: "hel1-hetzner-a", Region: "eu", Provider: "p"}); !errors.Is(err, results.ErrConflict) {
		t.Errorf("second enrol: %v, want ErrConflict", err)
	}
	got, err := r.Authenticate(ctx, token)
	if err != nil || got.ID != "hel1-hetzner-a" || got.ASN != 24940 {
		t.Errorf("authenticate: %+v %v", got, err)
	}
	if _, err := r.Authenticate(ctx, token+"x"); !errors.Is(err, results.ErrNotFound) {
		t.Errorf("wrong token: %v, want ErrNotFound", err)
	}

	list, _ := r.List(ctx)
	if len(list) != 1 || list[0].State != StateNever {
		t.Fatalf("before any heartbeat: %+v", list)
	}
	// The prober's clock is ignored: the collector stamps the heartbeat.
	if err := r.Heartbeat(ctx, got, results.Heartbeat{At: now.Add(-48 * time.Hour), Every: 10 * time.Second, Version: "1.0", SpoolDepth: 3}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		after time.Duration
		want  string
	}{{0, StateLive}, {30 * time.Second, StateLive}, {31 * time.Second, StateMissing}} {
		now2 := now.Add(tc.after)
		r.Now = func() time.Time { return now2 }
		list, err := r.List(ctx)
		if err != nil || len(list) != 1 || list[0].State != tc.want || list[0].SpoolDepth != 3 || list[0].Version != "1.0" {
			t.Errorf("%s after the heartbeat: %+v %v, want %s", tc.after, list, err, tc.want)
		}
	}
	if err := r.Heartbeat(ctx, got, results.Heartbeat{Running: -1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("negative running: %v", err)
	}
}

// TestHeartbeatIntervalBound: the interval a heartbeat announces decides
// when its vantage counts as missing, so it is bounded: a vantage token
// announcing a year must not keep a silent vantage live (and counted in
// quorums) for three years.
func TestHeartbeatIntervalBound(t *testing.T) {
	ctx := context.Background()
	st := sqlitetest.Open(t)
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	const every = 30 * time.Second
	tests := []struct {
		collector time.Duration // the collector's heartbeat_every
		announced time.Duration
		liveFor   time.Duration // the longest silence after which the vantage is still live
	}{
		{every, 0, MissedHeartbeats * every},                                     // none announced: the collector's
		{every, 10 * time.Second, MissedHeartbeats * 10 * time.Second},           // a shorter one is the prober's own business
		{every, 5 * time.Minute, MissedHeartbeats * 5 * time.Minute},             // up to the bound, as announced
		{every, 365 * 24 * time.Hour, MissedHeartbeats * MaxEveryFactor * every}, // beyond it, the bound
		// A prober's first heartbeat may announce its own default (30s)
		// before it learns a collector's 1s: that stays within the bound.
		{time.Second, 30 * time.Second, MissedHeartbeats * 30 * time.Second},
		{time.Second, time.Hour, MissedHeartbeats * MinEveryBound},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprintf("%s/%s", tt.collector, tt.announced), func(t *testing.T) {
			r := NewRegistry(st, tt.collector)
			r.Now = func() time.Time { return now }
			v, _, err := r.Enrol(ctx, Identity{ID: fmt.Sprintf("v%d", i), Region: "eu", Provider: "p"})
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Heartbeat(ctx, v, results.Heartbeat{Every: tt.announced}); err != nil {
				t.Fatal(err)
			}
			vs, err := st.Vantages(ctx)
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(vs, func(x results.Vantage) bool { return x.ID == v.ID })
			if i < 0 {
				t.Fatalf("vantage %s not listed", v.ID)
			}
			if got := r.State(vs[i], now.Add(tt.liveFor)); got != StateLive {
				t.Errorf("%s after the heartbeat: %s, want live", tt.liveFor, got)
			}
			if got := r.State(vs[i], now.Add(tt.liveFor+time.Second)); got != StateMissing {
				t.Errorf("%s after the heartbeat: %s, want missing", tt.liveFor+time.Second, got)
			}
		})
	}
}
