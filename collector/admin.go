package collector

import (
	"context"
	"errors"
	"net/http"

	"github.com/picketnet/picket/collector/api"
	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/vantage"
)

func (s *Server) handleCreateTeam(w http.ResponseWriter, r *http.Request) {
	var req api.CreateTeam
	if !s.decodeJSON(w, r, maxSmallBody, &req) {
		return
	}
	if !vantage.ValidName(req.Name) {
		s.writeError(w, r, http.StatusUnprocessableEntity, &httpError{code: codeInvalid, field: "name",
			msg: "name: " + quote(req.Name) + ": use 1-63 lower-case letters, digits, '.', '_' or '-'"})
		return
	}
	token, err := vantage.NewToken(TeamTokenPrefix)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	t := results.Team{Name: req.Name, TokenHash: vantage.HashToken(token), CreatedAt: s.opt.Now().UTC()}
	err = s.store.CreateTeam(r.Context(), t)
	switch {
	case errors.Is(err, results.ErrConflict):
		s.writeError(w, r, http.StatusConflict, apiErr(codeConflict, "team %q already exists", req.Name))
	case err != nil:
		s.internal(w, r, err)
	default:
		writeJSON(w, http.StatusCreated, api.TeamCreated{Team: t, Token: token})
	}
}

func (s *Server) handleListTeams(w http.ResponseWriter, r *http.Request) {
	ts, err := s.store.Teams(r.Context())
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if ts == nil {
		ts = []results.Team{}
	}
	writeJSON(w, http.StatusOK, api.Teams{Teams: ts})
}

func (s *Server) handleEnrolVantage(w http.ResponseWriter, r *http.Request) {
	var req api.EnrolVantage
	if !s.decodeJSON(w, r, maxSmallBody, &req) {
		return
	}
	id := vantage.Identity{ID: req.ID, Region: req.Region, Provider: req.Provider, ASN: req.ASN}
	if req.Lat != nil || req.Lon != nil {
		if req.Lat == nil || req.Lon == nil {
			s.writeError(w, r, http.StatusUnprocessableEntity, apiErr(codeInvalid, "lat and lon go together"))
			return
		}
		id.Location = &vantage.Location{Lat: *req.Lat, Lon: *req.Lon}
	}
	v, token, err := s.vantages.Enrol(r.Context(), id)
	switch {
	case errors.Is(err, vantage.ErrInvalid):
		s.writeError(w, r, http.StatusUnprocessableEntity, apiErr(codeInvalid, "%v", err))
	case errors.Is(err, results.ErrConflict):
		s.writeError(w, r, http.StatusConflict, apiErr(codeConflict, "vantage %q already exists", req.ID))
	case err != nil:
		s.internal(w, r, err)
	default:
		writeJSON(w, http.StatusCreated, api.VantageEnrolled{Vantage: v, Token: token})
	}
}

// handleRotateVantageToken gives a vantage a new token. The old one is
// refused from the answer on by this replica (and within authCacheTTL by
// replicas sharing the store); the vantage keeps its id and history.
func (s *Server) handleRotateVantageToken(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	token, err := s.replaceVantageToken(r.Context(), id)
	s.answerRegistryChange(w, r, err, "vantage", id, "vantage token replaced", api.VantageToken{Vantage: id, Token: token})
}

// replaceVantageToken gives vantage id a new token and forgets the old
// one; results.ErrNotFound when there is no such vantage.
func (s *Server) replaceVantageToken(ctx context.Context, id string) (string, error) {
	token, err := vantage.NewToken(vantage.TokenPrefix)
	if err != nil {
		return "", err
	}
	err = s.store.SetVantageToken(ctx, id, vantage.HashToken(token))
	s.auth.forget(func(p Principal) bool { return p.Vantage != nil && p.Vantage.ID == id })
	return token, err
}

// handleRemoveVantage revokes a vantage: its token stops working and it
// leaves the registry (so it gets no assignments and is not counted in
// quorums); its results and rollups stay for reports over the past.
func (s *Server) handleRemoveVantage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	err := s.store.DeleteVantage(r.Context(), id)
	s.auth.forget(func(p Principal) bool { return p.Vantage != nil && p.Vantage.ID == id })
	s.answerRegistryChange(w, r, err, "vantage", id, "vantage removed", api.VantageRemoved{Vantage: id})
}

// handleRotateTeamToken gives a team a new token, like
// handleRotateVantageToken.
func (s *Server) handleRotateTeamToken(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	token, err := vantage.NewToken(TeamTokenPrefix)
	if err == nil {
		err = s.store.SetTeamToken(r.Context(), name, vantage.HashToken(token))
		s.auth.forget(func(p Principal) bool { return p.Team == name })
	}
	s.answerRegistryChange(w, r, err, "team", name, "team token replaced", api.TeamToken{Team: name, Token: token})
}

// handleRemoveTeam removes a team, and with it, in one store
// transaction, its endpoints and silences: its token stops working like a
// replaced one, and probers drop its checks at their next assignment
// fetch. Its results, rollups, NEL reports and alerts stay, for a team
// created again under the name.
func (s *Server) handleRemoveTeam(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	n, err := s.store.DeleteTeam(r.Context(), name)
	s.auth.forget(func(p Principal) bool { return p.Team == name })
	s.answerRegistryChange(w, r, err, "team", name, "team removed", api.TeamRemoved{Team: name, EndpointsDeleted: n},
		"endpoints_deleted", n)
}

// answerRegistryChange answers a change to the registry's kind key (a
// vantage id or a team name): 404 when there is none, 500 when the change
// failed, else body, after logging done with attrs.
func (s *Server) answerRegistryChange(w http.ResponseWriter, r *http.Request, err error, kind, key, done string, body any, attrs ...any) {
	switch {
	case errors.Is(err, results.ErrNotFound):
		s.writeError(w, r, http.StatusNotFound, apiErr(codeNotFound, "no %s %s", kind, quote(key)))
	case err != nil:
		s.internal(w, r, err)
	default:
		s.log.Info(done, append([]any{kind, key}, attrs...)...)
		writeJSON(w, http.StatusOK, body)
	}
}

func (s *Server) handleListVantages(w http.ResponseWriter, r *http.Request, _ scope) {
	list, err := s.vantages.List(r.Context())
	if err != nil {
		s.internal(w, r, err)
		return
	}
	out := api.Vantages{Vantages: make([]api.VantageStatus, len(list))}
	for i, v := range list {
		out.Vantages[i] = api.VantageStatus{Vantage: v.Vantage, State: v.State}
	}
	writeJSON(w, http.StatusOK, out)
}

func quote(s string) string {
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return `"` + s + `"`
}
