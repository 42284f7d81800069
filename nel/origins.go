package nel

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/picketnet/picket/results"
)

// EndpointSource lists the registered endpoints (results.Store does).
type EndpointSource interface {
	Endpoints(ctx context.Context, team string) ([]results.Endpoint, error)
}

// registered is a cached index from origin to the endpoints whose target
// lives on it, refreshed from the store at most every refresh.
type registered struct {
	src     EndpointSource
	refresh time.Duration

	mu     sync.Mutex
	loaded time.Time
	byOrig map[string][]endpointRef
}

type endpointRef struct{ team, name string }

// lookup returns the endpoint a report about origin belongs to: the one
// named want when it is on origin, else the first on origin when they all
// belong to one team. ok is false, with the reason, when no team
// registered the origin, or when several teams did and want names none of
// their endpoints: registering an endpoint on another team's origin must
// not give a team that team's client reports.
func (r *registered) lookup(ctx context.Context, origin, want string, now time.Time) (ref endpointRef, ok bool, reason string, err error) {
	idx, err := r.index(ctx, now)
	if err != nil {
		return endpointRef{}, false, "", err
	}
	refs := idx[origin]
	if len(refs) == 0 {
		return endpointRef{}, false, fmt.Sprintf("no team registered the origin %s", origin), nil
	}
	for _, e := range refs {
		if e.name == want {
			return e, true, "", nil
		}
	}
	for _, e := range refs[1:] {
		if e.team != refs[0].team {
			return endpointRef{}, false, fmt.Sprintf("several teams registered the origin %s: name the endpoint with ?endpoint= in the report URL", origin), nil
		}
	}
	return refs[0], true, "", nil
}

func (r *registered) index(ctx context.Context, now time.Time) (map[string][]endpointRef, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byOrig != nil && now.Sub(r.loaded) < r.refresh {
		return r.byOrig, nil
	}
	eps, err := r.src.Endpoints(ctx, "")
	if err != nil {
		if r.byOrig != nil {
			// A stale index beats refusing every report while the
			// store is briefly away.
			return r.byOrig, nil
		}
		return nil, err
	}
	idx := make(map[string][]endpointRef)
	for _, e := range eps {
		for _, o := range targetOrigins(e.Target) {
			idx[o] = append(idx[o], endpointRef{team: e.Team, name: e.Name})
		}
	}
	for _, refs := range idx {
		sort.Slice(refs, func(i, j int) bool {
			if refs[i].team != refs[j].team {
				return refs[i].team < refs[j].team
			}
			return refs[i].name < refs[j].name
		})
	}
	r.byOrig, r.loaded = idx, now
	return idx, nil
}

// targetOrigins are the web origins an endpoint's target stands for: the
// origin of a URL target, and for a bare host (a dns, tcp or icmp
// target) its https and http origins.
func targetOrigins(target string) []string {
	if strings.Contains(target, "://") {
		u, err := url.Parse(target)
		if err != nil || u.Hostname() == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil
		}
		return []string{Origin(u)}
	}
	host := target
	if h, _, err := net.SplitHostPort(target); err == nil {
		host = h
	}
	if host == "" {
		return nil
	}
	var out []string
	for _, scheme := range []string{"https", "http"} {
		u := &url.URL{Scheme: scheme, Host: target}
		if strings.Contains(host, ":") && !strings.HasPrefix(target, "[") {
			u.Host = "[" + host + "]"
		}
		out = append(out, Origin(u))
	}
	return out
}
