package alerting

import (
	"slices"
	"time"
)

// Type is what an alert is about.
type Type string

const (
	// TypeOutage: a check is down in at least quorum regions.
	TypeOutage Type = "reachability"
	// TypeRegional: a check is down in fewer regions than the quorum.
	TypeRegional Type = "regional_reachability"
	TypeLatency  Type = "latency"
	TypeDetour   Type = "path_detour"
	// TypePathChange: the AS path changed without an RTT change (info).
	TypePathChange Type = "path_change"
	// TypeSpeedOfLight: an RTT below the physical bound for the distance.
	TypeSpeedOfLight   Type = "rtt_below_light_bound"
	TypeVantageMissing Type = "vantage_missing"
	TypeCertExpiry     Type = "cert_expiry"
)

// SilenceTypes are the alert types a team's silence can match: every
// type but vantage_missing, whose alerts belong to no team.
func SilenceTypes() []Type {
	return []Type{TypeOutage, TypeRegional, TypeLatency, TypeDetour, TypePathChange,
		TypeSpeedOfLight, TypeCertExpiry, TypeClientErrors}
}

// State is where an alert is in its lifecycle.
type State string

const (
	StatePending  State = "pending"
	StateFiring   State = "firing"
	StateResolved State = "resolved"
)

// Alert is one alert and what it knows of where the problem is.
type Alert struct {
	// Key identifies the condition: type, endpoint, check and, for
	// per-vantage conditions, the vantage. It is the dedup key notifiers
	// send (PagerDuty dedup_key, Alertmanager labels).
	Key      string   `json:"key"`
	Type     Type     `json:"type"`
	Severity Severity `json:"severity"`
	State    State    `json:"state"`
	Team     string   `json:"team,omitempty"`
	Endpoint string   `json:"endpoint,omitempty"`
	Check    string   `json:"check,omitempty"`
	Kind     string   `json:"kind,omitempty"`
	// Summary is one line for a human: what, where, how.
	Summary string `json:"summary"`
	// Where the problem is seen from.
	Regions  []string `json:"regions,omitempty"`
	ASNs     []uint32 `json:"asns,omitempty"`
	Vantages []string `json:"vantages,omitempty"`
	// Layer and Code of the failures, for reachability.
	Layer string `json:"layer,omitempty"`
	Code  string `json:"code,omitempty"`
	// Error is the error message of one vantage's latest failing run of
	// that layer and code, prefixed with the vantage ("fra-1: status 503,
	// expected 200"): the code says what kind of failure, the message
	// which one (the status, the address refused). Free text, so only for
	// people; Layer and Code are what to group by.
	Error string `json:"error,omitempty"`
	// Phase that grew, for latency anomalies.
	Phase string `json:"phase,omitempty"`
	// NewASNs and ExtraMS describe a detour.
	NewASNs []ASN   `json:"new_asns,omitempty"`
	ExtraMS float64 `json:"extra_ms,omitempty"`
	// Value and Threshold are the measured number and the limit it broke,
	// where one applies (ms, days).
	Value     float64 `json:"value,omitempty"`
	Threshold float64 `json:"threshold,omitempty"`
	// Client describes a client_errors alert: the NEL type, the
	// failures and the client networks hit.
	Client *ClientErrors `json:"client,omitempty"`

	StartsAt   time.Time `json:"starts_at"`
	FiredAt    time.Time `json:"fired_at,omitzero"`
	ResolvedAt time.Time `json:"resolved_at,omitzero"`
	UpdatedAt  time.Time `json:"updated_at"`
	// Silenced names the silence that mutes this alert's notifications.
	Silenced string `json:"silenced,omitempty"`
	// Notified says its firing was sent to notifiers: then its resolve is
	// sent too, silenced or not, to close what the firing opened.
	Notified bool `json:"notified,omitempty"`
}

// ASN is an AS number with its name, when known.
type ASN struct {
	Number uint32 `json:"asn"`
	Name   string `json:"name,omitempty"`
}

// Open reports whether the alert is pending or firing.
func (a Alert) Open() bool { return a.State == StatePending || a.State == StateFiring }

// Transition is a change of an alert's state: the event that notifies.
type Transition struct {
	Alert Alert
	From  State // "" for a new alert
	To    State
	At    time.Time
}

// condition is what a detector found to be true at one evaluation.
type condition struct {
	Alert // Key, Type, Severity and descriptive fields; lifecycle fields unset
}

// Silence mutes the notifications of matching alerts between StartsAt and
// EndsAt; the alerts are still recorded. A silence starting in the future
// is a maintenance window.
type Silence struct {
	ID       string    `json:"id"`
	Team     string    `json:"team,omitempty"`
	Endpoint string    `json:"endpoint,omitempty"` // "" matches every endpoint of the team
	Type     Type      `json:"type,omitempty"`     // "" matches every type
	Vantage  string    `json:"vantage,omitempty"`
	StartsAt time.Time `json:"starts_at"`
	EndsAt   time.Time `json:"ends_at"`
	Reason   string    `json:"reason"`
	Creator  string    `json:"creator,omitempty"`
}

// Matches reports whether s alone mutes a at time t. A silence of a
// vantage mutes only what that vantage alone sees: an alert also seen from
// vantages that are not silenced is a problem of the endpoint, not of the
// silenced prober, and must still page. silencedBy also mutes an alert
// whose vantages are all covered by several vantage silences.
func (s Silence) Matches(a Alert, t time.Time) bool {
	if !s.covers(a, t) {
		return false
	}
	return s.Vantage == "" || len(a.Vantages) > 0 && !slices.ContainsFunc(a.Vantages, func(v string) bool { return v != s.Vantage })
}

// covers reports whether s is in force at t and matches a by team,
// endpoint and type, whatever its vantage.
func (s Silence) covers(a Alert, t time.Time) bool {
	if t.Before(s.StartsAt) || !t.Before(s.EndsAt) {
		return false
	}
	if s.Team != "" && s.Team != a.Team {
		return false
	}
	if s.Endpoint != "" && s.Endpoint != a.Endpoint {
		return false
	}
	return s.Type == "" || s.Type == a.Type
}
