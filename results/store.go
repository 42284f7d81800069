package results

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// The collector's database. results/sqlite and results/postgres implement
// Store; both pass the shared suite in results/storetest. Consumers define
// the smaller interfaces they need (the collector API, alerting, the
// dashboard) and are handed a Store.

// Errors every store returns, checked with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("already exists")
)

// Store is everything the collector keeps.
type Store interface {
	ResultStore
	RegistryStore
	AlertStore
	NELStore
	Locker
	Close() error
}

// IngestOutcome reports, per record id, what ingest did with it.
type IngestOutcome struct {
	// Accepted ids were stored by this call.
	Accepted []string
	// Duplicate ids were already stored; they are acknowledged, not stored again.
	Duplicate []string
}

// ResultStore keeps raw results, their rollups, and answers reports.
type ResultStore interface {
	// Ingest stores records durably (committed) before it returns, and
	// updates the minute and hour rollups in the same transaction. A record
	// whose ID is already stored is reported as Duplicate and changes
	// nothing, also when the same id arrives concurrently. Records must
	// have passed Validate.
	Ingest(ctx context.Context, rs []Result) (IngestOutcome, error)
	// Query returns raw results, newest first.
	Query(ctx context.Context, q ResultQuery) ([]Result, error)
	// ResultsAfter is the feed of stored results in the order they
	// became visible: what alert evaluation reads, instead of querying a
	// window of started_at again and again. It appends to dst the results
	// committed after cursor, about limit of them (a store may end a page
	// at a batch boundary), and returns the cursor to pass next time. A
	// reader that passes the slice of its last page as dst, emptied,
	// reads page after page into the same memory. A reader that always
	// passes back the cursor it got sees each stored result exactly once,
	// late (spooled) ones included. The empty cursor returns no results,
	// only the cursor of "now". Cursors are opaque.
	ResultsAfter(ctx context.Context, dst []Result, cursor string, limit int) ([]Result, string, error)
	// Rollups returns rollup buckets of one resolution, oldest first.
	Rollups(ctx context.Context, q RollupQuery) ([]Rollup, error)
	// Availability computes the availability report from rollups.
	Availability(ctx context.Context, q ReportQuery) ([]AvailabilityRow, error)
	// ApplyRetention deletes raw results and rollups older than the
	// retention periods allow, relative to now.
	ApplyRetention(ctx context.Context, r Retention, now time.Time) error
}

// ResultQuery selects raw results. Zero fields do not filter.
type ResultQuery struct {
	Team         string
	Endpoint     string
	Check        string
	Vantage      string
	Region       string
	Kind         string
	OnlyFailed   bool
	Since, Until time.Time // [Since, Until) on started_at
	Limit        int       // 0 means DefaultRowLimit; capped at MaxRowLimit
}

// How many raw results or reports one query returns: DefaultRowLimit when
// it asks for none, MaxRowLimit at most, whatever it asks for.
const (
	DefaultRowLimit = 1000
	MaxRowLimit     = 100000
)

// RowLimit is the number of rows a store returns for a query's Limit n.
func RowLimit(n int) int {
	if n <= 0 {
		return DefaultRowLimit
	}
	return min(n, MaxRowLimit)
}

// Resolution of a rollup bucket.
type Resolution string

const (
	Minute Resolution = "minute"
	Hour   Resolution = "hour"
)

// Rollup aggregates the results of one (check, vantage) in one bucket.
type Rollup struct {
	Bucket     time.Time // start of the minute or hour, UTC
	Resolution Resolution
	Team       string
	Endpoint   string
	Check      string
	Kind       string
	Vantage    string
	Region     string
	Provider   string
	ASN        uint32
	Count      int64
	// Failures counts the results that were down (Result.Down): a
	// tls/cert_expiring warning is in Count but not here.
	Failures int64
	// FailuresByCode counts failures by "layer/code".
	FailuresByCode map[string]int64
	// Latency is the histogram of duration_ms of every result in the bucket.
	Latency Histogram
}

// RollupQuery selects rollups. Zero fields do not filter.
type RollupQuery struct {
	Resolution   Resolution
	Team         string
	Endpoint     string
	Check        string
	Vantage      string
	Region       string
	Since, Until time.Time
}

// ReportQuery asks for an availability report.
type ReportQuery struct {
	Team     string // "" for every team (admin)
	Endpoint string // "" for every endpoint
	By       GroupBy
	Since    time.Time
	Until    time.Time
}

// GroupBy is the second dimension of the availability report.
type GroupBy string

const (
	ByRegion   GroupBy = "region"
	ByASN      GroupBy = "asn"
	ByProvider GroupBy = "provider"
	ByVantage  GroupBy = "vantage"
)

// AvailabilityRow is one line of the availability report: one endpoint
// seen from one group (a region, an ASN, a provider or a vantage).
type AvailabilityRow struct {
	Team     string `json:"team"`
	Endpoint string `json:"endpoint"`
	Group    string `json:"group"` // the region, ASN, provider or vantage
	Results  int64  `json:"results"`
	// Failures counts the results that were down (Result.Down), so a
	// tls/cert_expiring warning lowers neither it nor AvailabilityPct.
	Failures int64 `json:"failures"`
	// AvailabilityPct is 100 * (Results - Failures) / Results.
	AvailabilityPct float64 `json:"availability_pct"`
	// FailedRounds counts the minutes in which at least one result failed.
	FailedRounds int64 `json:"failed_rounds"`
	// DowntimeMinutes counts the minutes in which most results failed.
	DowntimeMinutes int64 `json:"downtime_minutes"`
	// P50MS, P95MS and P99MS are latency percentiles over the results
	// that have a latency (Result.Latency), none (JSON null) when no
	// result has: a traceroute-only endpoint has no latency, not 0 ms.
	P50MS OptionalMS `json:"p50_ms"`
	P95MS OptionalMS `json:"p95_ms"`
	P99MS OptionalMS `json:"p99_ms"`
	// TopError is the most frequent "layer/code" among failures, "" if none.
	TopError      string `json:"top_error,omitempty"`
	TopErrorCount int64  `json:"top_error_count,omitempty"`
}

// OptionalMS is a latency in milliseconds that may be absent (Valid false),
// in JSON a number or null. It is a value, unlike a *float64, so that
// rows holding it compare with ==.
type OptionalMS struct {
	MS    float64
	Valid bool
}

// MarshalJSON writes the latency, or null when there is none.
func (m OptionalMS) MarshalJSON() ([]byte, error) {
	if !m.Valid {
		return []byte("null"), nil
	}
	return json.Marshal(m.MS)
}

// UnmarshalJSON reads a number, or null for none.
func (m *OptionalMS) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*m = OptionalMS{}
		return nil
	}
	if err := json.Unmarshal(b, &m.MS); err != nil {
		return fmt.Errorf("latency: %w", err)
	}
	m.Valid = true
	return nil
}

// Retention says how long each resolution is kept (DESIGN.md §3).
type Retention struct {
	Raw    time.Duration
	Minute time.Duration
	Hour   time.Duration
}

// RegistryStore keeps teams, vantages and endpoints.
type RegistryStore interface {
	CreateTeam(ctx context.Context, t Team) error // ErrConflict when the name exists
	Teams(ctx context.Context) ([]Team, error)
	TeamByTokenHash(ctx context.Context, hash []byte) (Team, error)
	// SetTeamToken replaces the token hash of team name: from its return
	// on, TeamByTokenHash finds the team by the new hash only. ErrNotFound
	// when there is no such team, ErrConflict when another team has hash.
	SetTeamToken(ctx context.Context, name string, hash []byte) error
	// DeleteTeam removes team name with, in the same transaction, its
	// endpoints and its silences (maintenance windows included, past and
	// future), and returns how many endpoints it deleted. From its return
	// on TeamByTokenHash no longer finds the team's token, Teams no
	// longer lists it, and Endpoints, which every vantage's assignment is
	// built from, no longer has its endpoints: left behind, they would go
	// on being probed for a team that no longer exists, and its silences
	// would mute a team created later under the same name. Results, rollups, NEL
	// reports and alerts carry the team's name themselves and are kept
	// like any team's (the first three until retention drops them), so
	// such a later team sees them as its own past. ErrNotFound, with
	// nothing deleted, when there is no such team.
	DeleteTeam(ctx context.Context, name string) (endpoints int, err error)

	CreateVantage(ctx context.Context, v Vantage) error // ErrConflict when the id exists
	Vantages(ctx context.Context) ([]Vantage, error)
	VantageByTokenHash(ctx context.Context, hash []byte) (Vantage, error)
	// SetVantageToken replaces the token hash of vantage id, keeping
	// everything else about it. ErrNotFound when there is no such vantage,
	// ErrConflict when another vantage has hash.
	SetVantageToken(ctx context.Context, id string, hash []byte) error
	// DeleteVantage removes vantage id from the registry: its token no
	// longer finds it and Vantages no longer lists it, so CreateVantage may
	// enrol the id again. Its results and rollups stay, so reports over the
	// past still show it. ErrNotFound when there is no such vantage.
	DeleteVantage(ctx context.Context, id string) error
	// RecordHeartbeat updates the liveness fields of vantage hb.Vantage.
	RecordHeartbeat(ctx context.Context, hb Heartbeat) error

	// PutEndpoint creates or replaces the endpoint (team, name).
	// Endpoint names are unique across teams, because check ids are made
	// of them ("web/http"): ErrConflict when another team has one named
	// e.Name; ErrNotFound when there is no team e.Team (it may have been
	// removed since the request was authenticated).
	PutEndpoint(ctx context.Context, e Endpoint) error
	DeleteEndpoint(ctx context.Context, team, name string) error // ErrNotFound
	// Endpoints lists a team's endpoints, or every endpoint for team "".
	Endpoints(ctx context.Context, team string) ([]Endpoint, error)
}

// Team owns endpoints. Its token is stored only as a SHA-256 hash.
type Team struct {
	Name      string    `json:"name"`
	TokenHash []byte    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
}

// Vantage is an enrolled prober and what the collector last heard of it.
type Vantage struct {
	ID        string    `json:"id"`
	Region    string    `json:"region"`
	Provider  string    `json:"provider"`
	ASN       uint32    `json:"asn,omitempty"`
	Lat       *float64  `json:"lat,omitempty"`
	Lon       *float64  `json:"lon,omitempty"`
	TokenHash []byte    `json:"-"`
	CreatedAt time.Time `json:"created_at"`

	LastHeartbeat time.Time `json:"last_heartbeat,omitzero"`
	// HeartbeatEvery is the interval the prober promised in its heartbeats.
	HeartbeatEvery time.Duration `json:"heartbeat_every_ns,omitempty"`
	Version        string        `json:"version,omitempty"`
	SpoolDepth     int64         `json:"spool_depth"`
	Running        int           `json:"running"`
	LastError      string        `json:"last_error,omitempty"`
	PublicAddr     string        `json:"public_addr,omitempty"`
}

// Heartbeat is what a prober reports about itself (POST /v1/heartbeat).
type Heartbeat struct {
	Vantage    string        `json:"vantage"`
	At         time.Time     `json:"at"`
	Every      time.Duration `json:"every_ns"`
	Version    string        `json:"version"`
	SpoolDepth int64         `json:"spool_depth"`
	SpoolBytes int64         `json:"spool_bytes"`
	Running    int           `json:"running"`
	LastError  string        `json:"last_error,omitempty"`
	ASN        uint32        `json:"asn,omitempty"`
	PublicAddr string        `json:"public_addr,omitempty"`
}

// Endpoint is a registered endpoint as the collector keeps it.
type Endpoint struct {
	Team   string `json:"team"`
	Name   string `json:"name"`
	Target string `json:"target"`
	// Checks are the check specs as JSON objects (checks.Spec plus the
	// kind's options), in the order the team wrote them.
	Checks  []json.RawMessage `json:"checks"`
	Regions []string          `json:"regions"` // ["all"] or region names
	// Alert is the endpoint's alert settings as JSON (severity, quorum,
	// latency_ms, ...), interpreted by alerting.
	Alert     json.RawMessage `json:"alert,omitempty"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// Locker guards work that must happen once across collector replicas.
type Locker interface {
	// TryLock takes the named lock without waiting. The lock is held until
	// unlock is called or the process dies (for Postgres: a session-level
	// advisory lock on a dedicated connection). acquired is false when
	// another holder has it.
	TryLock(ctx context.Context, name string) (unlock func(), acquired bool, err error)
	// HoldsLock reports whether a lock this process took with TryLock is
	// still held: a Postgres lock ends with its session, which can end
	// without the holder unlocking (a partition, a server restart).
	HoldsLock(ctx context.Context, name string) (bool, error)
}
