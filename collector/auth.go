package collector

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/vantage"
)

// Token prefixes. The collector looks a token up in the table its prefix
// names; tokens without a known prefix are tried as team tokens.
const (
	AdminTokenPrefix = "pka_"
	TeamTokenPrefix  = "pkt_"
)

// Principal is who made a request.
type Principal struct {
	// Admin is the operator.
	Admin bool
	// Team is set for a team token.
	Team string
	// Vantage is set for a vantage token.
	Vantage *results.Vantage
}

type principalKey struct{}

// PrincipalFrom returns the authenticated principal of a request's
// context, set by the auth middlewares (and TeamAuth).
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// authCache remembers recent token lookups for a few seconds, so that a
// busy vantage does not cost a store query per batch. A replica that
// replaces or revokes a token forgets it at once (forget); other replicas
// sharing the store keep accepting it for at most authCacheTTL.
type authCache struct {
	mu sync.Mutex
	m  map[string]cachedPrincipal
	// gen counts forget calls. A lookup notes it before asking the store
	// and caches its answer only if it is unchanged, so that an answer
	// read before a revocation is not cached after it.
	gen uint64
	now func() time.Time
}

type cachedPrincipal struct {
	p       Principal
	expires time.Time
}

const (
	authCacheTTL  = 10 * time.Second
	authCacheSize = 10000
)

func newAuthCache(now func() time.Time) *authCache {
	return &authCache{m: map[string]cachedPrincipal{}, now: now}
}

func (c *authCache) get(hash []byte) (Principal, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[string(hash)]
	if !ok || c.now().After(e.expires) {
		return Principal{}, false
	}
	return e.p, true
}

// generation is what put wants to know that no forget came between the
// store lookup and the put.
func (c *authCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put caches p for hash, unless forget was called since gen was read.
func (c *authCache) put(hash []byte, p Principal, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.m) >= authCacheSize {
		clear(c.m) // crude but bounded; a full cache is refilled in seconds
	}
	c.m[string(hash)] = cachedPrincipal{p: p, expires: c.now().Add(authCacheTTL)}
}

// forget drops the cached principals for which match is true, and keeps
// lookups already under way from caching what they read.
func (c *authCache) forget(match func(Principal) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.m {
		if match(e.p) {
			delete(c.m, k)
		}
	}
}

var errNoToken = errors.New("missing bearer token")

// authenticate resolves the request's bearer token.
func (s *Server) authenticate(r *http.Request) (Principal, error) {
	h := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(h, "Bearer ")
	token = strings.TrimSpace(token)
	if !ok || token == "" {
		return Principal{}, errNoToken
	}
	if len(token) > 256 {
		return Principal{}, results.ErrNotFound
	}
	hash := vantage.HashToken(token)
	if subtle.ConstantTimeCompare(hash, s.adminHash) == 1 {
		return Principal{Admin: true}, nil
	}
	if p, ok := s.auth.get(hash); ok {
		return p, nil
	}
	ctx := r.Context()
	gen := s.auth.generation()
	var p Principal
	if strings.HasPrefix(token, vantage.TokenPrefix) {
		v, err := s.store.VantageByTokenHash(ctx, hash)
		if err != nil {
			return Principal{}, err
		}
		p.Vantage = &v
	} else {
		t, err := s.store.TeamByTokenHash(ctx, hash)
		if err != nil {
			return Principal{}, err
		}
		p.Team = t.Name
	}
	s.health.OK()
	s.auth.put(hash, p, gen)
	return p, nil
}

// authFailed answers a failed authentication: 401 for a missing or
// unknown token, 503 when the store could not be asked.
func (s *Server) authFailed(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, errNoToken):
		s.writeError(w, r, http.StatusUnauthorized, apiErr(codeUnauthorized, "missing token: send Authorization: Bearer TOKEN"))
	case errors.Is(err, results.ErrNotFound):
		s.writeError(w, r, http.StatusUnauthorized, apiErr(codeUnauthorized, "unknown token"))
	default:
		s.health.Fail(1, err, "op", "authenticate")
		s.writeError(w, r, http.StatusServiceUnavailable, apiErr(codeUnavailable, "cannot check the token now; retry"))
	}
}

// vantageHandler is a handler for a vantage's request.
type vantageHandler func(w http.ResponseWriter, r *http.Request, v results.Vantage)

func (s *Server) vantageAuth(h vantageHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r)
		if err != nil {
			s.authFailed(w, r, err)
			return
		}
		if p.Vantage == nil {
			s.writeError(w, r, http.StatusForbidden, apiErr(codeForbidden, "this path needs a vantage token"))
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)), *p.Vantage)
	})
}

// scope is the team a request acts for: the token's team, or for the
// admin the team named with ?team= ("" meaning every team).
type scope struct {
	team  string
	admin bool
}

type teamHandler func(w http.ResponseWriter, r *http.Request, sc scope)

// teamAuth admits team tokens and the admin token. A team token that
// names another team with ?team= is refused.
func (s *Server) teamAuth(h teamHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r)
		if err != nil {
			s.authFailed(w, r, err)
			return
		}
		asked := r.URL.Query().Get("team")
		var sc scope
		switch {
		case p.Admin:
			if asked != "" {
				// Without this, a misspelt team reads as a team with
				// nothing, and a write creates things for no team.
				found, err := s.teamExists(r.Context(), asked)
				if err != nil {
					s.internal(w, r, err)
					return
				}
				if !found {
					s.writeError(w, r, http.StatusNotFound, noTeam(asked))
					return
				}
			}
			sc = scope{team: asked, admin: true}
		case p.Team != "":
			if asked != "" && asked != p.Team {
				s.writeError(w, r, http.StatusForbidden, apiErr(codeForbidden, "a team token can only act for its own team %q", p.Team))
				return
			}
			sc = scope{team: p.Team}
		default:
			s.writeError(w, r, http.StatusForbidden, apiErr(codeForbidden, "this path needs a team token"))
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)), sc)
	})
}

// teamExists says whether the store has team name. Only the admin token
// names a team with ?team=, so the list of teams, which is short, is read
// rather than adding a lookup to every store.
func (s *Server) teamExists(ctx context.Context, name string) (bool, error) {
	teams, err := s.store.Teams(ctx)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(teams, func(t results.Team) bool { return t.Name == name }), nil
}

func (s *Server) adminAuth(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r)
		if err != nil {
			s.authFailed(w, r, err)
			return
		}
		if !p.Admin {
			s.writeError(w, r, http.StatusForbidden, apiErr(codeForbidden, "this path needs the admin token"))
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

// TeamAuth wraps a handler of another package (alerts, silences) so that
// it runs only for a team token or the admin token; the handler reads the
// principal with PrincipalFrom. A team token naming another team with
// ?team= is refused.
func (s *Server) TeamAuth(h http.Handler) http.Handler {
	return s.teamAuth(func(w http.ResponseWriter, r *http.Request, _ scope) { h.ServeHTTP(w, r) })
}

// AdminAuth wraps a handler so that it runs only for the admin token.
func (s *Server) AdminAuth(h http.Handler) http.Handler { return s.adminAuth(h.ServeHTTP) }

// noTeam is the 404 for a team that does not exist (any more).
func noTeam(name string) *httpError {
	return apiErr(codeNotFound, "no team %q (picket teams list shows the teams)", name)
}
