package collector

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/picketnet/picket/collector/endpointspec"
	"github.com/picketnet/picket/results"
)

// Timing of the registered checks' reloads. A record that names no
// registered check may be for an endpoint another replica sharing the
// store registered a moment ago (a prober can fetch its assignment from
// one replica and post to another), so it is held against a reload that
// began after its batch arrived before it is rejected; misses wait for
// and share such reloads, which start at most once per reloadSpacing, so
// that a prober posting results for a deleted endpoint, or a hostile one
// posting garbage, costs the store one read a second and not one per
// batch. Deletions and region changes made on other replicas are seen
// within maxCheckAge; those made on this one at once.
const (
	reloadSpacing = time.Second
	maxCheckAge   = time.Minute
)

// registeredChecks is the collector's picture of every registered check,
// which ingest holds each record against: a vantage's token lets it post
// results only for checks that exist, under the team and endpoint they
// belong to, and whose endpoint is assigned to the vantage's region.
// Ingest never reads the store per record or per batch for this: the
// picture is loaded once, reloaded when this collector changes endpoints
// (invalidate), when it is older than maxCheckAge, and on a miss.
type registeredChecks struct {
	load func(ctx context.Context) ([]results.Endpoint, error)
	// observe is told how long each load took.
	observe func(time.Duration)
	log     *slog.Logger
	// now is the clock of the reload timing: the real one, even when
	// tests move the collector's clock (Options.Now).
	now func() time.Time
	// spacing and maxAge are reloadSpacing and maxCheckAge; tests shorten them.
	spacing, maxAge time.Duration

	cur atomic.Pointer[checkSet]
	// gen counts invalidations. A load notes it before reading the store,
	// so that a picture read before a change is never taken for one read
	// after it.
	gen atomic.Uint64
	// loading serialises loads; a channel so that waiting honours ctx.
	loading chan struct{}
}

// checkSet is one immutable picture of the registered checks.
type checkSet struct {
	endpoints map[endpointKey]registeredEndpoint
	gen       uint64
	// started is when the load that read it began.
	started time.Time
}

type endpointKey struct{ team, name string }

type registeredEndpoint struct {
	regions []string
	checks  []endpointspec.CheckRef
}

func newRegisteredChecks(load func(context.Context) ([]results.Endpoint, error), observe func(time.Duration), log *slog.Logger) *registeredChecks {
	return &registeredChecks{
		load: load, observe: observe, log: log, now: time.Now,
		spacing: reloadSpacing, maxAge: maxCheckAge,
		loading: make(chan struct{}, 1),
	}
}

// invalidate makes the next lookup reload: this collector changed
// endpoints. Call it after the change is in the store.
func (r *registeredChecks) invalidate() { r.gen.Add(1) }

// current returns the picture to check a batch against: the cached one
// unless it is out of date.
func (r *registeredChecks) current(ctx context.Context) (*checkSet, error) {
	if cs := r.cur.Load(); cs.fresh(r.gen.Load(), r.now().Add(-r.maxAge)) {
		return cs, nil
	}
	return r.since(ctx, r.now().Add(-r.maxAge), false)
}

// reloaded returns a picture read from the store after t, for a record
// that missed in an older one: it waits for a load that began at or
// after t, starting one when none is under way, but never sooner than
// spacing after the previous load.
func (r *registeredChecks) reloaded(ctx context.Context, t time.Time) (*checkSet, error) {
	return r.since(ctx, t, true)
}

// fresh says whether cs is of generation gen and was read after t.
func (cs *checkSet) fresh(gen uint64, t time.Time) bool {
	return cs != nil && cs.gen == gen && cs.readAfter(t)
}

// readAfter says whether the load that made cs began at or after t.
func (cs *checkSet) readAfter(t time.Time) bool { return !cs.started.Before(t) }

func (r *registeredChecks) since(ctx context.Context, t time.Time, spaced bool) (*checkSet, error) {
	for {
		cs := r.cur.Load()
		if cs.fresh(r.gen.Load(), t) {
			return cs, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		// Wait out the spacing without holding the lock, so that a load
		// this collector's own change needs is not held up.
		if wait := r.untilNext(cs, spaced); wait > 0 {
			timer := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				timer.Stop()
				return nil, ctx.Err()
			case <-timer.C:
			}
			continue
		}
		select {
		case r.loading <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		cs = r.cur.Load()
		if cs.fresh(r.gen.Load(), t) || r.untilNext(cs, spaced) > 0 {
			<-r.loading // someone else loaded meanwhile: look again
			continue
		}
		cs, err := r.read(ctx)
		<-r.loading
		return cs, err
	}
}

// untilNext is how long a spaced load must still wait after cs's. A
// picture this collector's own change made out of date is reloaded at
// once.
func (r *registeredChecks) untilNext(cs *checkSet, spaced bool) time.Duration {
	if !spaced || cs == nil || cs.gen != r.gen.Load() {
		return 0
	}
	return cs.started.Add(r.spacing).Sub(r.now())
}

// read loads the picture from the store and publishes it.
func (r *registeredChecks) read(ctx context.Context) (*checkSet, error) {
	cs := &checkSet{gen: r.gen.Load(), started: r.now()}
	eps, err := r.load(ctx)
	r.observe(r.now().Sub(cs.started))
	if err != nil {
		return nil, fmt.Errorf("load registered checks: %w", err)
	}
	cs.endpoints = make(map[endpointKey]registeredEndpoint, len(eps))
	for _, e := range eps {
		refs, err := endpointspec.Checks(e)
		if err != nil {
			// As in assignments: such an endpoint has no checks anyone runs.
			r.log.Warn("registered checks: skipping endpoint", "team", e.Team, "endpoint", e.Name, "err", err)
			continue
		}
		cs.endpoints[endpointKey{e.Team, e.Name}] = registeredEndpoint{regions: e.Regions, checks: refs}
	}
	r.cur.Store(cs)
	return cs, nil
}

// check says whether rec names a registered check, under its team and
// endpoint and of its kind, whose endpoint is assigned to region. It
// returns a metric reason and a message when it does not.
func (cs *checkSet) check(rec *results.Result, region string) (reason, why string) {
	if rec.Team == "" {
		return rejectUnregistered, "team: missing"
	}
	ep, ok := cs.endpoints[endpointKey{rec.Team, rec.Endpoint}]
	if !ok {
		return rejectUnregistered, fmt.Sprintf("endpoint: team %q has no registered endpoint %q", rec.Team, rec.Endpoint)
	}
	kind, found := "", false
	for _, c := range ep.checks {
		if c.ID == rec.Check {
			kind, found = c.Kind, true
			break
		}
	}
	if !found {
		return rejectUnregistered, fmt.Sprintf("check: %q is not a check of endpoint %q of team %q", rec.Check, rec.Endpoint, rec.Team)
	}
	if rec.Kind != kind {
		return rejectUnregistered, fmt.Sprintf("kind: check %q is of kind %q, not %q", rec.Check, kind, rec.Kind)
	}
	if !assignedTo(ep.regions, region) {
		return rejectNotAssigned, fmt.Sprintf("region: endpoint %q of team %q is not assigned to region %q (its regions: %s)",
			rec.Endpoint, rec.Team, region, strings.Join(ep.regions, ", "))
	}
	return "", ""
}
