package api

import (
	"time"

	"github.com/picketnet/picket/alerting"
	"github.com/picketnet/picket/results"
)

// Error is the body of every 4xx and 5xx answer.
type Error struct {
	// Error is one line for humans.
	Error string `json:"error"`
	// Code is a stable machine-readable reason: bad_request, unauthorized,
	// method_not_allowed, forbidden, not_found, too_large, conflict, invalid,
	// internal, unavailable.
	Code string `json:"code"`
	// Field is the path of the offending field when the request body was
	// invalid, e.g. "endpoints[0].checks[2].expect.status".
	Field string `json:"field,omitempty"`
}

// Error codes.
const (
	CodeBadRequest   = "bad_request"
	CodeMethod       = "method_not_allowed"
	CodeUnauthorized = "unauthorized"
	CodeForbidden    = "forbidden"
	CodeNotFound     = "not_found"
	CodeTooLarge     = "too_large"
	CodeConflict     = "conflict"
	CodeInvalid      = "invalid"
	CodeInternal     = "internal"
	CodeUnavailable  = "unavailable"
)

// CreateTeam is the body of POST /v1/teams (admin).
type CreateTeam struct {
	Name string `json:"name"`
}

// TeamCreated answers POST /v1/teams. The token is shown only here.
type TeamCreated struct {
	Team  results.Team `json:"team"`
	Token string       `json:"token"`
}

// EnrolVantage is the body of POST /v1/vantages (admin).
type EnrolVantage struct {
	ID       string   `json:"id"`
	Region   string   `json:"region"`
	Provider string   `json:"provider"`
	ASN      uint32   `json:"asn,omitempty"`
	Lat      *float64 `json:"lat,omitempty"`
	Lon      *float64 `json:"lon,omitempty"`
}

// VantageEnrolled answers POST /v1/vantages. The token is shown only here.
type VantageEnrolled struct {
	Vantage results.Vantage `json:"vantage"`
	Token   string          `json:"token"`
}

// VantageToken answers POST /v1/vantages/{id}/token (admin): the
// vantage's new token, shown only here. The old token no longer works.
type VantageToken struct {
	Vantage string `json:"vantage"`
	Token   string `json:"token"`
}

// VantageRemoved answers DELETE /v1/vantages/{id} (admin).
type VantageRemoved struct {
	Vantage string `json:"vantage"`
}

// TeamToken answers POST /v1/teams/{name}/token (admin): the team's new
// token, shown only here. The old token no longer works.
type TeamToken struct {
	Team  string `json:"team"`
	Token string `json:"token"`
}

// TeamRemoved answers DELETE /v1/teams/{name} (admin). EndpointsDeleted
// counts the endpoints removed with the team.
type TeamRemoved struct {
	Team             string `json:"team"`
	EndpointsDeleted int    `json:"endpoints_deleted"`
}

// VantageStatus is one vantage in GET /v1/vantages.
type VantageStatus struct {
	results.Vantage
	// State is "live", "missing" (no heartbeat for 3 intervals) or
	// "never" (enrolled, never heard from).
	State string `json:"state"`
}

// Vantages answers GET /v1/vantages.
type Vantages struct {
	Vantages []VantageStatus `json:"vantages"`
}

// Teams answers GET /v1/teams.
type Teams struct {
	Teams []results.Team `json:"teams"`
}

// Endpoints answers GET /v1/endpoints.
type Endpoints struct {
	Endpoints []results.Endpoint `json:"endpoints"`
}

// ApplyEndpoints is the body of POST /v1/endpoints. The team comes from
// the token (an admin names it with ?team=).
type ApplyEndpoints struct {
	Endpoints []results.Endpoint `json:"endpoints"`
	// Prune deletes the team's endpoints that are not in Endpoints, which
	// makes the request declarative (picket endpoints apply).
	Prune bool `json:"prune"`
	// DryRun computes and returns the diff without changing anything.
	DryRun bool `json:"dry_run"`
}

// Change is one line of an apply diff.
type Change struct {
	// Op is "create", "update" or "delete".
	Op   string `json:"op"`
	Name string `json:"name"`
	// Fields lists what an update changes: target, checks, regions, alert.
	Fields []string `json:"fields,omitempty"`
}

// Applied answers POST /v1/endpoints.
type Applied struct {
	Changes   []Change `json:"changes"`
	Unchanged []string `json:"unchanged"`
	DryRun    bool     `json:"dry_run,omitempty"`
}

// Report answers GET /v1/reports/availability.
type Report struct {
	By    results.GroupBy           `json:"by"`
	Since time.Time                 `json:"since"`
	Until time.Time                 `json:"until"`
	Rows  []results.AvailabilityRow `json:"rows"`
}

// HeartbeatAck answers POST /v1/heartbeat.
type HeartbeatAck struct {
	// HeartbeatEvery is the interval the collector expects.
	HeartbeatEvery time.Duration `json:"heartbeat_every_ns"`
}

// Alerts answers GET /v1/alerts: open alerts first, then those updated in
// the window, newest first.
type Alerts struct {
	Alerts []alerting.Alert `json:"alerts"`
}

// Silences answers GET /v1/silences: the silences that have not ended.
type Silences struct {
	Silences []alerting.Silence `json:"silences"`
}

// NewSilence is the body of POST /v1/silences. Give either ends_at, or
// for (a positive duration from starts_at, which defaults to now). Empty
// matchers match everything of the team; a matcher that is set must name
// one of the team's endpoints, an alert type or an enrolled vantage, or
// the silence is refused with a 4xx naming the field.
type NewSilence struct {
	Endpoint string    `json:"endpoint,omitempty"`
	Type     string    `json:"type,omitempty"`
	Vantage  string    `json:"vantage,omitempty"`
	StartsAt time.Time `json:"starts_at,omitzero"`
	EndsAt   time.Time `json:"ends_at,omitzero"`
	For      string    `json:"for,omitempty"`
	Reason   string    `json:"reason"`
}
