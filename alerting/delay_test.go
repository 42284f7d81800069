package alerting

import (
	"testing"
	"time"

	"github.com/picketnet/picket/results"
)

// TestDetectionDelayAtDefaults measures, in simulated time at the default
// settings, how long each alert type takes from the first result that
// shows the fault to the transition that notifies. Checks run every 10 s,
// traceroutes every minute, heartbeats every 10 s; evaluation follows every
// tick. The README's table of detection delays comes from this test (run
// it with -v); the expected values are the documented rules, so a change of
// the rules shows here.
func TestDetectionDelayAtDefaults(t *testing.T) {
	tests := []struct {
		name  string
		kinds []string
		alert string
		// warm is how long the healthy lab runs first (baselines).
		warm time.Duration
		// fault turns the world bad; it returns the world.
		fault func(s *sim) world
		key   string
		want  time.Duration
		rule  string
	}{
		{
			name: "reachability (quorum regions down)", warm: time.Minute,
			fault: func(*sim) world {
				return func(now time.Time, v vantageSpec, kind string) outcome {
					if kind == "http" {
						return fail(results.LayerConnect, results.CodeTimeout)
					}
					return healthy(now, v, kind)
				}
			},
			key: "reachability/payments/checkout-api/http", want: 10 * time.Second,
			rule: "(fail_after − 1) × check interval, + evaluate_every",
		},
		{
			name: "regional reachability", warm: time.Minute,
			fault: func(*sim) world {
				return func(now time.Time, v vantageSpec, kind string) outcome {
					if kind == "http" && v.region == "ap-south" {
						return fail(results.LayerConnect, results.CodeTimeout)
					}
					return healthy(now, v, kind)
				}
			},
			key: "regional_reachability/payments/checkout-api/http", want: 10 * time.Second,
			rule: "(fail_after − 1) × check interval, + evaluate_every",
		},
		{
			name: "latency anomaly", warm: 20 * time.Minute,
			fault: func(*sim) world { return slowHTTP(190) },
			key:   "latency/payments/checkout-api/http", want: 2*time.Minute + 50*time.Second,
			rule: "until the third anomalous 1-minute window closes: between 2 and 3 minutes, by where in a window the rise starts",
		},
		{
			name: "path detour", kinds: []string{"traceroute"}, warm: 10 * time.Minute,
			fault: func(*sim) world {
				return traceWorld("eu-central", []uint32{64500, 64666, 64520, 64999}, 101)
			},
			key: "path_detour/payments/checkout-api/traceroute/eu-1", want: time.Minute,
			rule: "(rounds − 1) × traceroute interval, + evaluate_every",
		},
		{
			name: "vantage missing", warm: time.Minute,
			fault: func(s *sim) world {
				s.silent["us-1"] = true
				return healthy
			},
			key: "vantage_missing/us-1", want: 40 * time.Second,
			rule: "more than missing_after (3) heartbeat intervals after the last heartbeat",
		},
		{
			name: "certificate expiry", kinds: []string{"tls"}, warm: time.Minute,
			fault: func(*sim) world {
				return func(now time.Time, v vantageSpec, kind string) outcome {
					return outcome{ms: 50, details: results.TLSDetails{NotAfter: now.Add(72 * time.Hour), DaysLeft: 3, ChainVerified: true}}
				}
			},
			key: "cert_expiry/payments/checkout-api/tls", want: 0,
			rule: "the first tls result below min_days_left, + evaluate_every",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSim(t, Config{}, "", tt.kinds...)
			var w world = healthy
			if len(tt.kinds) > 0 && tt.kinds[0] == "traceroute" {
				w = traceWorld("", nil, 0)
			}
			if len(tt.kinds) > 0 && tt.kinds[0] == "tls" {
				w = func(now time.Time, v vantageSpec, kind string) outcome {
					return outcome{ms: 50, details: results.TLSDetails{NotAfter: now.Add(60 * 24 * time.Hour), DaysLeft: 60, ChainVerified: true}}
				}
			}
			if tt.name == "latency anomaly" {
				w = slowHTTP(40)
			}
			s.run(tt.warm, w)
			if got := s.take(); len(got) != 0 {
				t.Fatalf("alerts while healthy:%s", describe(got))
			}
			fault := tt.fault(s)
			// The first result that shows the fault comes one tick after the
			// fault starts (traceroutes: at the next whole minute).
			firstBad := s.now.Add(tick)
			if len(tt.kinds) > 0 && tt.kinds[0] == "traceroute" {
				firstBad = s.now.Truncate(time.Minute).Add(time.Minute)
			}
			if tt.name == "vantage missing" {
				// Measured from the last heartbeat the vantage sent.
				firstBad = s.now
			}
			s.run(10*time.Minute, fault)
			for _, tr := range s.take() {
				if tr.Alert.Key == tt.key && tr.To == StateFiring {
					delay := tr.At.Sub(firstBad)
					t.Logf("| %s | %s | %s |", tt.name, delay, tt.rule)
					if delay != tt.want {
						t.Errorf("fired %s after the first bad result, want %s (%s)", delay, tt.want, tt.rule)
					}
					return
				}
			}
			t.Fatalf("%s never fired", tt.key)
		})
	}
}
