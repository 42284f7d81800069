package netpath

import (
	"math"
	"slices"
	"testing"
	"time"
)

func TestCollapseASPath(t *testing.T) {
	const (
		A = 64500
		B = 64501
		C = 64502
	)
	s := PathHop{Silent: true}
	priv := PathHop{} // answered, no ASN
	as := func(n uint32) PathHop { return PathHop{ASN: n} }
	tests := []struct {
		name string
		hops []PathHop
		want []uint32
	}{
		{"empty", nil, []uint32{}},
		{"collapse", []PathHop{as(A), as(A), as(B), as(B), as(C)}, []uint32{A, B, C}},
		{"private skipped", []PathHop{priv, priv, as(A), priv, as(B)}, []uint32{A, B}},
		{"private between same AS", []PathHop{as(A), priv, as(A)}, []uint32{A}},
		{"silent run is one wildcard", []PathHop{as(A), s, s, s, as(B)}, []uint32{A, 0, B}},
		{"silent inside one AS", []PathHop{as(A), s, as(A), as(B)}, []uint32{A, B}},
		{"leading silence", []PathHop{s, as(A)}, []uint32{0, A}},
		{"trailing silence", []PathHop{as(A), as(B), s, s}, []uint32{A, B, 0}},
		{"silence then private then same", []PathHop{as(A), s, priv, as(A)}, []uint32{A}},
		{"return to an AS", []PathHop{as(A), as(B), as(A)}, []uint32{A, B, A}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CollapseASPath(tt.hops); !slices.Equal(got, tt.want) {
				t.Errorf("CollapseASPath = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDistanceAndMinRTT(t *testing.T) {
	tests := []struct {
		name                   string
		lat1, lon1, lat2, lon2 float64
		km                     float64
		tol                    float64
	}{
		{"same point", 60.17, 24.94, 60.17, 24.94, 0, 1e-9},
		{"quarter of the equator", 0, 0, 0, 90, math.Pi * EarthRadiusKm / 2, 1e-6},
		{"pole to pole", 90, 0, -90, 0, math.Pi * EarthRadiusKm, 1e-6},
		{"antimeridian", 0, 179.5, 0, -179.5, math.Pi * EarthRadiusKm / 180, 1e-6},
		{"London-Paris", 51.5074, -0.1278, 48.8566, 2.3522, 343.5, 1},
		{"Helsinki-New York", 60.1699, 24.9384, 40.7128, -74.0060, 6618, 10},
	}
	for _, tt := range tests {
		if got := Distance(tt.lat1, tt.lon1, tt.lat2, tt.lon2); math.Abs(got-tt.km) > tt.tol {
			t.Errorf("%s: Distance = %.3f km, want %.3f±%g", tt.name, got, tt.km, tt.tol)
		}
	}
	// About 1 ms of round trip per 100 km of fibre.
	if got := MinRTT(1000); got < 9900*time.Microsecond || got > 10100*time.Microsecond {
		t.Errorf("MinRTT(1000 km) = %v, want about 10ms", got)
	}
	if got := MinRTT(0); got != 0 {
		t.Errorf("MinRTT(0) = %v", got)
	}
}
