package collector

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	// The bound is for teams; the operator (picket bench ingest registers
	// more in steps) is not held to it.
	limit := s.opt.MaxTeamEndpoints
	if sc.admin {
		limit = 0
	}
	out, err := s.apply(r.Context(), sc.team, req, limit)
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
func (s *Server) apply(ctx context.Context, team string, req api.ApplyEndpoints, limit int) (api.Applied, error) {
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
	if total := len(current) + count(out.Changes, "create") - len(dels); limit > 0 && total > limit {
		return api.Applied{}, &httpError{code: codeInvalid, field: "endpoints",
			msg: fmt.Sprintf("endpoints: team %s would have %d endpoints; at most %d (apply with prune to replace them)", team, total, limit)}
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
