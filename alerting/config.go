package alerting

import (
	"encoding/json"
	"time"

	"github.com/picketnet/picket/checks"
)

// Config holds the evaluation settings of collector.yaml's alerting block.
// Zero fields take the defaults of DefaultConfig.
type Config struct {
	EvaluateEvery time.Duration
	// FailAfter consecutive failures make a check down at a vantage;
	// RecoverAfter consecutive successes make it up again.
	FailAfter    int
	RecoverAfter int
	// PendingFor is how long a condition must hold before its alert fires.
	// 0 fires at the evaluation that first sees it.
	PendingFor time.Duration
	// WarmUp is how long after its first evaluation an engine (a new
	// replica taking over) does not resolve alerts it restored or found:
	// absence of data is not recovery.
	WarmUp time.Duration

	Latency LatencyConfig
	Path    PathConfig

	// MissingAfter heartbeat intervals without a heartbeat make a vantage
	// missing.
	MissingAfter int
	// DefaultHeartbeat is assumed for a vantage that never said its
	// heartbeat interval.
	DefaultHeartbeat time.Duration
	// CertMinDaysLeft is the certificate threshold when neither the
	// endpoint's alert block nor its tls check sets one.
	CertMinDaysLeft float64
}

// LatencyConfig tunes latency anomaly detection. A window is anomalous when
// its p50 or p95 exceeds max(median + K·MAD, median·(1+Ratio),
// median + FloorMS) of the baseline windows, or its p50 exceeds the
// endpoint's absolute latency_ms.
type LatencyConfig struct {
	Window   time.Duration // length of one window
	Baseline time.Duration // how far back the baseline reaches
	K        float64
	Ratio    float64
	FloorMS  float64
	// Windows is how many consecutive anomalous windows fire.
	Windows int
	// MinBaselineWindows are needed before the relative rule applies.
	MinBaselineWindows int
	// MinVantages must see the anomaly (capped at the vantages with data).
	MinVantages int
}

// PathConfig tunes path detour detection.
type PathConfig struct {
	// History is how many recent rounds per (vantage, check) are kept.
	History int
	// UsualShare is the share of recent rounds an AS must appear in to be
	// part of the usual paths.
	UsualShare float64
	// MinHistory rounds are needed before anything is judged unusual.
	MinHistory int
	// Rounds is how many consecutive detour rounds fire.
	Rounds  int
	K       float64
	Ratio   float64
	FloorMS float64
}

// DefaultConfig returns the defaults of DESIGN.md §3.
func DefaultConfig() Config {
	return Config{
		EvaluateEvery: 5 * time.Second,
		FailAfter:     2,
		RecoverAfter:  2,
		WarmUp:        time.Minute,
		Latency: LatencyConfig{
			Window: time.Minute, Baseline: time.Hour,
			K: 5, Ratio: 0.5, FloorMS: 50,
			Windows: 3, MinBaselineWindows: 5, MinVantages: 2,
		},
		Path: PathConfig{
			History: 30, UsualShare: 0.2, MinHistory: 3, Rounds: 2,
			K: 5, Ratio: 0.2, FloorMS: 20,
		},
		MissingAfter:     3,
		DefaultHeartbeat: 30 * time.Second,
		CertMinDaysLeft:  14,
	}
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	set := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	setF := func(v *float64, def float64) {
		if *v <= 0 {
			*v = def
		}
	}
	setD := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	setD(&c.EvaluateEvery, d.EvaluateEvery)
	set(&c.FailAfter, d.FailAfter)
	set(&c.RecoverAfter, d.RecoverAfter)
	setD(&c.WarmUp, d.WarmUp)
	setD(&c.Latency.Window, d.Latency.Window)
	setD(&c.Latency.Baseline, d.Latency.Baseline)
	setF(&c.Latency.K, d.Latency.K)
	setF(&c.Latency.Ratio, d.Latency.Ratio)
	setF(&c.Latency.FloorMS, d.Latency.FloorMS)
	set(&c.Latency.Windows, d.Latency.Windows)
	set(&c.Latency.MinBaselineWindows, d.Latency.MinBaselineWindows)
	set(&c.Latency.MinVantages, d.Latency.MinVantages)
	set(&c.Path.History, d.Path.History)
	setF(&c.Path.UsualShare, d.Path.UsualShare)
	set(&c.Path.MinHistory, d.Path.MinHistory)
	set(&c.Path.Rounds, d.Path.Rounds)
	setF(&c.Path.K, d.Path.K)
	setF(&c.Path.Ratio, d.Path.Ratio)
	setF(&c.Path.FloorMS, d.Path.FloorMS)
	set(&c.MissingAfter, d.MissingAfter)
	setD(&c.DefaultHeartbeat, d.DefaultHeartbeat)
	setF(&c.CertMinDaysLeft, d.CertMinDaysLeft)
	return c
}

// Severity routes a notification: page wakes someone, notify goes to chat,
// info is recorded only.
type Severity string

const (
	SeverityPage   Severity = "page"
	SeverityNotify Severity = "notify"
	SeverityInfo   Severity = "info"
)

// Policy is an endpoint's alert block (DESIGN.md §3 endpoints: alert).
type Policy struct {
	Severity Severity `json:"severity,omitempty"`
	// Quorum regions down page; default 2, or all regions when fewer.
	Quorum int `json:"quorum,omitempty"`
	// LatencyMS is an absolute p50 threshold; 0 disables it.
	LatencyMS float64 `json:"latency_ms,omitempty"`
	// MinDaysLeft is the certificate expiry threshold.
	MinDaysLeft float64 `json:"min_days_left,omitempty"`
	// Location of the target, for the speed-of-light check of RTTs.
	Location *struct {
		Lat float64 `json:"lat"`
		Lon float64 `json:"lon"`
	} `json:"location,omitempty"`
}

// ParsePolicy reads an endpoint's alert block; empty means defaults.
// Errors name the field ("alert.severity: ...").
func ParsePolicy(raw json.RawMessage) (Policy, error) {
	var p Policy
	if len(raw) > 0 && string(raw) != "null" {
		if err := checks.DecodeOptions(raw, &p); err != nil {
			return Policy{}, checks.Within("alert", err)
		}
	}
	if err := p.Validate(); err != nil {
		return Policy{}, checks.Within("alert", err)
	}
	if p.Severity == "" {
		p.Severity = SeverityPage
	}
	if p.Quorum == 0 {
		p.Quorum = 2
	}
	return p, nil
}

// ValidatePolicy checks an endpoint's alert block at registration: unknown
// keys and bad values are errors naming the field, relative to the block.
func ValidatePolicy(raw json.RawMessage) error {
	var p Policy
	if err := checks.DecodeOptions(raw, &p); err != nil {
		return err
	}
	return p.Validate()
}

// Validate names the field of a bad alert block with a *checks.FieldError.
func (p Policy) Validate() error {
	switch p.Severity {
	case "", SeverityPage, SeverityNotify, SeverityInfo:
	default:
		return checks.Errorf("severity", "%q is not one of page, notify, info", p.Severity)
	}
	if p.Quorum < 0 || p.Quorum > 1000 {
		return checks.Errorf("quorum", "%d is out of range 1..1000", p.Quorum)
	}
	if p.LatencyMS < 0 {
		return checks.Errorf("latency_ms", "%v is negative", p.LatencyMS)
	}
	if p.MinDaysLeft < 0 {
		return checks.Errorf("min_days_left", "%v is negative", p.MinDaysLeft)
	}
	if l := p.Location; l != nil && (l.Lat < -90 || l.Lat > 90 || l.Lon < -180 || l.Lon > 180) {
		return checks.Errorf("location", "(%v, %v) is not a point on Earth", l.Lat, l.Lon)
	}
	return nil
}
