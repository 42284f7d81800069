package vantage

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/picketnet/picket/results"
)

// RegistryStore is the part of the results store the registry uses.
type RegistryStore interface {
	CreateVantage(ctx context.Context, v results.Vantage) error
	Vantages(ctx context.Context) ([]results.Vantage, error)
	VantageByTokenHash(ctx context.Context, hash []byte) (results.Vantage, error)
	RecordHeartbeat(ctx context.Context, hb results.Heartbeat) error
}

// Registry is the collector-side list of enrolled vantages: it enrols them
// with a token, authenticates their requests, records their heartbeats and
// says which are alive. Its state lives in the store, so collector
// replicas sharing a store agree.
type Registry struct {
	store RegistryStore
	// DefaultEvery is the heartbeat interval assumed for a vantage that
	// has not announced one.
	DefaultEvery time.Duration
	// Now returns the current time; tests replace it.
	Now func() time.Time
}

// NewRegistry returns a registry over store.
func NewRegistry(store RegistryStore, defaultEvery time.Duration) *Registry {
	return &Registry{store: store, DefaultEvery: defaultEvery, Now: time.Now}
}

// TokenPrefix starts every vantage token, so an operator (and the
// collector) can tell a vantage token from a team token at a glance.
const TokenPrefix = "pkv_"

// MaxEveryFactor and MinEveryBound bound the interval a heartbeat may
// announce: MaxEveryFactor times DefaultEvery (the interval the collector
// asks of probers), and never less than MinEveryBound. A prober follows
// the collector's interval once it has its first assignment; the slack
// covers the interval it used before (30 s by default, which its first
// heartbeat may announce, whatever the collector's), and a change of the
// collector's setting. Without a bound, a vantage (or whoever holds its
// token) announcing a year would never be declared missing, nor left out
// of quorums, when it went silent.
const (
	MaxEveryFactor = 10
	MinEveryBound  = time.Minute
)

// MissedHeartbeats is how many heartbeat intervals may pass before a
// vantage counts as missing (DESIGN.md §6).
const MissedHeartbeats = 3

// Liveness states of a vantage.
const (
	StateLive    = "live"
	StateMissing = "missing"
	StateNever   = "never"
)

// ErrInvalid is wrapped by errors about bad enrolment input.
var ErrInvalid = errors.New("invalid vantage")

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// ValidName reports whether s can be a vantage id, region or provider:
// lower case letters, digits, '.', '_' and '-', at most 63 bytes.
func ValidName(s string) bool { return namePattern.MatchString(s) }

// Enrol creates the vantage and returns it with its token. The token is
// returned only here; the store keeps its SHA-256 hash.
func (r *Registry) Enrol(ctx context.Context, id Identity) (results.Vantage, string, error) {
	for _, f := range []struct{ name, v string }{{"id", id.ID}, {"region", id.Region}, {"provider", id.Provider}} {
		if !ValidName(f.v) {
			return results.Vantage{}, "", fmt.Errorf("%w: %s %q: use 1-63 lower-case letters, digits, '.', '_' or '-'", ErrInvalid, f.name, f.v)
		}
	}
	v := results.Vantage{ID: id.ID, Region: id.Region, Provider: id.Provider, ASN: id.ASN, CreatedAt: r.Now().UTC()}
	if l := id.Location; l != nil {
		if l.Lat < -90 || l.Lat > 90 || l.Lon < -180 || l.Lon > 180 {
			return results.Vantage{}, "", fmt.Errorf("%w: location %v,%v is not a latitude,longitude", ErrInvalid, l.Lat, l.Lon)
		}
		v.Lat, v.Lon = &l.Lat, &l.Lon
	}
	token, err := NewToken(TokenPrefix)
	if err != nil {
		return results.Vantage{}, "", err
	}
	v.TokenHash = HashToken(token)
	if err := r.store.CreateVantage(ctx, v); err != nil {
		return results.Vantage{}, "", fmt.Errorf("enrol vantage %s: %w", id.ID, err)
	}
	return v, token, nil
}

// Authenticate returns the vantage a token belongs to, or an error
// wrapping results.ErrNotFound.
func (r *Registry) Authenticate(ctx context.Context, token string) (results.Vantage, error) {
	return r.store.VantageByTokenHash(ctx, HashToken(token))
}

// Heartbeat records a heartbeat of vantage v. The collector's clock, not
// the prober's, stamps it, so liveness does not depend on prober clocks.
// The interval it announces counts for at most MaxEveryFactor times
// DefaultEvery, or MinEveryBound when that is longer.
func (r *Registry) Heartbeat(ctx context.Context, v results.Vantage, hb results.Heartbeat) error {
	hb.Vantage = v.ID
	hb.At = r.Now().UTC()
	if hb.Every <= 0 {
		hb.Every = r.DefaultEvery
	}
	if limit := max(MaxEveryFactor*r.DefaultEvery, MinEveryBound); hb.Every > limit {
		hb.Every = limit
	}
	if hb.SpoolDepth < 0 || hb.SpoolBytes < 0 || hb.Running < 0 {
		return fmt.Errorf("%w: negative counters in heartbeat", ErrInvalid)
	}
	if len(hb.Version) > 128 || len(hb.LastError) > results.MaxMessageBytes || len(hb.PublicAddr) > 64 {
		return fmt.Errorf("%w: heartbeat field too long", ErrInvalid)
	}
	return r.store.RecordHeartbeat(ctx, hb)
}

// Status is a vantage with its liveness.
type Status struct {
	results.Vantage
	State string
}

// List returns every vantage with its liveness, in the store's order.
func (r *Registry) List(ctx context.Context) ([]Status, error) {
	vs, err := r.store.Vantages(ctx)
	if err != nil {
		return nil, err
	}
	now := r.Now()
	out := make([]Status, len(vs))
	for i, v := range vs {
		out[i] = Status{Vantage: v, State: r.State(v, now)}
	}
	return out, nil
}

// State says whether v is live at now: it is missing after
// MissedHeartbeats intervals without a heartbeat.
func (r *Registry) State(v results.Vantage, now time.Time) string {
	if v.LastHeartbeat.IsZero() {
		return StateNever
	}
	every := v.HeartbeatEvery
	if every <= 0 {
		every = r.DefaultEvery
	}
	if now.Sub(v.LastHeartbeat) > MissedHeartbeats*every {
		return StateMissing
	}
	return StateLive
}

// NewToken returns a random token: prefix and 32 random bytes, base64url.
func NewToken(prefix string) (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("make token: %w", err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// HashToken is how tokens are stored: their SHA-256. Tokens carry 256
// random bits, so a plain hash (no salt, no stretching) is enough and lets
// the store look a token up by its hash.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}
