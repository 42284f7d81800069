package collector

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/picketnet/picket/collector/api"
	"github.com/picketnet/picket/collector/endpointspec"
	"github.com/picketnet/picket/results"
)

func (s *Server) handleListEndpoints(w http.ResponseWriter, r *http.Request, sc scope) {
	eps, err := s.store.Endpoints(r.Context(), sc.team)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if eps == nil {
		eps = []results.Endpoint{}
	}
	writeJSON(w, http.StatusOK, api.Endpoints{Endpoints: eps})
}

func (s *Server) handleGetEndpoint(w http.ResponseWriter, r *http.Request, sc scope) {
	if sc.team == "" {
		s.writeError(w, r, http.StatusBadRequest, apiErr(codeBadRequest, "the admin token must name the team with ?team="))
		return
	}
	eps, err := s.store.Endpoints(r.Context(), sc.team)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	name := r.PathValue("name")
	for _, e := range eps {
		if e.Name == name {
			writeJSON(w, http.StatusOK, e)
			return
		}
	}
	s.writeError(w, r, http.StatusNotFound, apiErr(codeNotFound, "team %s has no endpoint %q", sc.team, name))
}

func (s *Server) handleDeleteEndpoint(w http.ResponseWriter, r *http.Request, sc scope) {
	if sc.team == "" {
		s.writeError(w, r, http.StatusBadRequest, apiErr(codeBadRequest, "the admin token must name the team with ?team="))
		return
	}
	name := r.PathValue("name")
	if name == "" {
		name = r.URL.Query().Get("name")
	}
	if name == "" {
		s.writeError(w, r, http.StatusBadRequest, apiErr(codeBadRequest, "name the endpoint: DELETE /v1/endpoints/NAME"))
		return
	}
	err := s.store.DeleteEndpoint(r.Context(), sc.team, name)
	s.checks.invalidate()
	switch {
	case errors.Is(err, results.ErrNotFound):
		s.writeError(w, r, http.StatusNotFound, apiErr(codeNotFound, "team %s has no endpoint %q", sc.team, name))
	case err != nil:
		s.internal(w, r, err)
	default:
		writeJSON(w, http.StatusOK, api.Applied{Changes: []api.Change{{Op: "delete", Name: name}}, Unchanged: []string{}})
	}
}

func (s *Server) handleApplyEndpoints(w http.ResponseWriter, r *http.Request, sc scope) {
	if sc.team == "" {
		s.writeError(w, r, http.StatusBadRequest, apiErr(codeBadRequest, "the admin token must name the team with ?team="))
		return
	}
	var req api.ApplyEndpoints
	if !s.decodeJSON(w, r, maxEndpointsBody, &req) {
		return
	}
	for i := range req.Endpoints {
		e := &req.Endpoints[i]
		if e.Team != "" && e.Team != sc.team {
			s.writeError(w, r, http.StatusForbidden, &httpError{code: codeForbidden, field: fmt.Sprintf("endpoints[%d].team", i),
				msg: fmt.Sprintf("endpoints[%d] (%s) team: %q is not the token's team %q", i, e.Name, e.Team, sc.team)})
			return
		}
		e.Team = sc.team
	}
	if err := s.validator.ValidateAll(r.Context(), req.Endpoints); err != nil {
		var ve *endpointspec.Error
		if errors.As(err, &ve) {
			s.writeError(w, r, http.StatusUnprocessableEntity, &httpError{code: codeInvalid, msg: ve.Error(), field: ve.Path()})
			return
		}
		s.internal(w, r, err)
		return
	}
	// The bounds are for teams; the operator (picket bench ingest registers
	// more in steps) is not held to them.
	limits := teamLimits{endpoints: s.opt.MaxTeamEndpoints, runs: s.opt.MaxTeamRunsPerSecond, targetRuns: s.opt.MaxTargetRunsPerSecond}
	if sc.admin {
		limits = teamLimits{}
	}
	out, err := s.apply(r.Context(), sc.team, req, limits)
	var refused *httpError
	switch {
	case errors.As(err, &refused) && refused.code == codeInvalid:
		s.writeError(w, r, http.StatusUnprocessableEntity, refused)
	case errors.As(err, &refused):
		s.writeError(w, r, http.StatusConflict, refused)
	case errors.Is(err, results.ErrNotFound):
		// The team was removed while the request was being processed.
		s.writeError(w, r, http.StatusNotFound, noTeam(sc.team))
	case err != nil:
		s.internal(w, r, err)
	default:
		writeJSON(w, http.StatusOK, out)
	}
}

// nameTaken is the error for endpoints[i], whose name another team has.
func nameTaken(i int, name string) *httpError {
	return &httpError{code: codeConflict, field: fmt.Sprintf("endpoints[%d].name", i),
		msg: fmt.Sprintf("endpoints[%d] (%s) name: another team has an endpoint named %q; endpoint names are unique on a collector, like the check ids made of them (%s/<kind>)",
			i, name, name, name)}
}

// checkNames refuses the endpoints of req that would take a name another
// team has. PutEndpoint refuses them too, one at a time; checking first
// leaves nothing half-applied, and lets a dry run say so.
func (s *Server) checkNames(ctx context.Context, team string, req api.ApplyEndpoints, have map[string]results.Endpoint) error {
	if !slices.ContainsFunc(req.Endpoints, func(e results.Endpoint) bool { _, ok := have[e.Name]; return !ok }) {
		return nil
	}
	all, err := s.store.Endpoints(ctx, "")
	if err != nil {
		return err
	}
	owner := make(map[string]string, len(all))
	for _, e := range all {
		owner[e.Name] = e.Team
	}
	for i, e := range req.Endpoints {
		if t, ok := owner[e.Name]; ok && t != team {
			return nameTaken(i, e.Name)
		}
	}
	return nil
}

// apply makes the team's endpoints match req and reports the changes.
// Everything was validated before, so a failure here is the store's, or
// the team would have more than limit endpoints (0: no limit).
// teamLimits bound what one team's endpoints make the prober network do;
// zero is no bound.
type teamLimits struct {
	endpoints int
	// runs is checks a second at each vantage, over all the team's
	// endpoints; targetRuns the same, sent to one target host.
	runs, targetRuns float64
}

func (s *Server) apply(ctx context.Context, team string, req api.ApplyEndpoints, limits teamLimits) (api.Applied, error) {
	current, err := s.store.Endpoints(ctx, team)
	if err != nil {
		return api.Applied{}, err
	}
	have := make(map[string]results.Endpoint, len(current))
	for _, e := range current {
		if err := endpointspec.Normalize(&e); err == nil {
			have[e.Name] = e
		}
	}
	if err := s.checkNames(ctx, team, req, have); err != nil {
		return api.Applied{}, err
	}
	out := api.Applied{Changes: []api.Change{}, Unchanged: []string{}, DryRun: req.DryRun}
	var puts []results.Endpoint
	want := make(map[string]bool, len(req.Endpoints))
	for _, e := range req.Endpoints {
		want[e.Name] = true
		old, ok := have[e.Name]
		if !ok {
			out.Changes = append(out.Changes, api.Change{Op: "create", Name: e.Name})
			puts = append(puts, e)
			continue
		}
		if fields := diffFields(old, e); len(fields) > 0 {
			out.Changes = append(out.Changes, api.Change{Op: "update", Name: e.Name, Fields: fields})
			puts = append(puts, e)
			continue
		}
		out.Unchanged = append(out.Unchanged, e.Name)
	}
	var dels []string
	if req.Prune {
		for _, e := range current {
			if !want[e.Name] {
				out.Changes = append(out.Changes, api.Change{Op: "delete", Name: e.Name})
				dels = append(dels, e.Name)
			}
		}
	}
	if total := len(current) + count(out.Changes, "create") - len(dels); limits.endpoints > 0 && total > limits.endpoints {
		return api.Applied{}, &httpError{code: codeInvalid, field: "endpoints",
			msg: fmt.Sprintf("endpoints: team %s would have %d endpoints; at most %d (apply with prune to replace them)", team, total, limits.endpoints)}
	}
	if err := checkRates(team, req, current, puts, dels, limits); err != nil {
		return api.Applied{}, err
	}
	if req.DryRun {
		return out, nil
	}
	// Ingest holds records against the registered checks: from the end of
	// this call on, it sees the change (even a partial one, when a write
	// fails).
	defer s.checks.invalidate()
	now := s.opt.Now().UTC()
	for _, e := range puts {
		e.UpdatedAt = now
		if err := s.store.PutEndpoint(ctx, e); errors.Is(err, results.ErrConflict) {
			// Another team took the name since checkNames.
			return api.Applied{}, nameTaken(slices.IndexFunc(req.Endpoints, func(r results.Endpoint) bool { return r.Name == e.Name }), e.Name)
		} else if err != nil {
			return api.Applied{}, err
		}
	}
	for _, name := range dels {
		if err := s.store.DeleteEndpoint(ctx, team, name); err != nil && !errors.Is(err, results.ErrNotFound) {
			return api.Applied{}, err
		}
	}
	return out, nil
}

// checkRates refuses an apply that would make the team's checks run more
// often than limits allow, at every vantage or against one target host.
// Only an apply that adds to a rate over its limit is refused: after the
// operator lowers a limit, a team can still apply what brings it down.
func checkRates(team string, req api.ApplyEndpoints, current, puts []results.Endpoint, dels []string, limits teamLimits) error {
	if limits.runs <= 0 && limits.targetRuns <= 0 {
		return nil
	}
	before := rates(current)
	after := make(map[string]results.Endpoint, len(current)+len(puts))
	for _, e := range current {
		after[e.Name] = e
	}
	for _, e := range puts {
		after[e.Name] = e
	}
	for _, name := range dels {
		delete(after, name)
	}
	now := rates(slices.Collect(maps.Values(after)))
	if limits.runs > 0 && now.total > limits.runs && now.total > before.total {
		return &httpError{code: codeInvalid, field: "endpoints",
			msg: fmt.Sprintf("endpoints: team %s's checks would run %.1f times a second at every vantage; at most %g (lengthen intervals or remove checks)",
				team, now.total, limits.runs)}
	}
	if limits.targetRuns <= 0 {
		return nil
	}
	for i, e := range req.Endpoints {
		host := endpointspec.TargetHost(e.Target)
		if rate := now.host[host]; rate > limits.targetRuns && rate > before.host[host] {
			return &httpError{code: codeInvalid, field: fmt.Sprintf("endpoints[%d].target", i),
				msg: fmt.Sprintf("endpoints[%d] (%s) target: team %s's checks would run %.1f times a second against %s at every vantage; at most %g per target host",
					i, e.Name, team, rate, host, limits.targetRuns)}
		}
	}
	return nil
}

// checkRate is what a set of endpoints costs each vantage: checks run a
// second, in all and per target host.
type checkRate struct {
	total float64
	host  map[string]float64
}

func rates(eps []results.Endpoint) checkRate {
	r := checkRate{host: make(map[string]float64)}
	for _, e := range eps {
		n, err := endpointspec.RunsPerSecond(e)
		if err != nil {
			continue // not a runnable endpoint: probers skip it too
		}
		r.total += n
		r.host[endpointspec.TargetHost(e.Target)] += n
	}
	return r
}

// count returns how many of changes are op.
func count(changes []api.Change, op string) int {
	n := 0
	for _, c := range changes {
		if c.Op == op {
			n++
		}
	}
	return n
}

// diffFields names the fields that differ between two normalized endpoints.
func diffFields(a, b results.Endpoint) []string {
	var f []string
	if a.Target != b.Target {
		f = append(f, "target")
	}
	if !slices.EqualFunc(a.Checks, b.Checks, func(x, y json.RawMessage) bool { return bytes.Equal(x, y) }) {
		f = append(f, "checks")
	}
	if strings.Join(a.Regions, ",") != strings.Join(b.Regions, ",") {
		f = append(f, "regions")
	}
	if !bytes.Equal(a.Alert, b.Alert) {
		f = append(f, "alert")
	}
	return f
}
