package collector

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/picketnet/picket/alerting"
	"github.com/picketnet/picket/checks"
	"github.com/picketnet/picket/collector/api"
	iconfig "github.com/picketnet/picket/internal/config"
	"github.com/picketnet/picket/results"
)

// alertSource is what the alerts API needs of the alerting service.
type alertSource interface {
	Alerts(ctx context.Context, team string, window time.Duration) ([]alerting.Alert, error)
	AddSilence(ctx context.Context, team string, s alerting.Silence) (alerting.Silence, error)
	Silences(ctx context.Context, team string) ([]alerting.Silence, error)
}

// Bounds of GET /v1/alerts?window=.
const (
	defaultAlertWindow = 24 * time.Hour
	maxAlertWindow     = 90 * 24 * time.Hour
)

// MountAlerts serves GET /v1/alerts and GET/POST/DELETE /v1/silences from
// the alerting service, scoped to the token's team.
func (s *Server) MountAlerts(src alertSource) {
	s.mux.Handle("/v1/alerts", methods{http.MethodGet: s.teamAuth(func(w http.ResponseWriter, r *http.Request, sc scope) {
		window := defaultAlertWindow
		if v := r.URL.Query().Get("window"); v != "" {
			d, err := iconfig.ParseDuration(v)
			if err != nil || d <= 0 || d > maxAlertWindow {
				s.writeError(w, r, http.StatusBadRequest, &httpError{code: codeBadRequest, field: "window",
					msg: "window: expected a duration up to 90d, such as 24h or 7d"})
				return
			}
			window = d
		}
		as, err := src.Alerts(r.Context(), sc.team, window)
		if err != nil {
			s.internal(w, r, err)
			return
		}
		if as == nil {
			as = []alerting.Alert{}
		}
		writeJSON(w, http.StatusOK, api.Alerts{Alerts: as})
	})})
	s.mux.Handle("/v1/silences", methods{
		http.MethodGet: s.teamAuth(func(w http.ResponseWriter, r *http.Request, sc scope) {
			ss, err := src.Silences(r.Context(), sc.team)
			if err != nil {
				s.internal(w, r, err)
				return
			}
			if ss == nil {
				ss = []alerting.Silence{}
			}
			writeJSON(w, http.StatusOK, api.Silences{Silences: ss})
		}),
		http.MethodPost: s.teamAuth(func(w http.ResponseWriter, r *http.Request, sc scope) {
			if sc.team == "" {
				s.writeError(w, r, http.StatusBadRequest, apiErr(codeBadRequest, "the admin token must name the team with ?team="))
				return
			}
			var req api.NewSilence
			if !s.decodeJSON(w, r, maxSmallBody, &req) {
				return
			}
			sil := alerting.Silence{Endpoint: req.Endpoint, Type: alerting.Type(req.Type), Vantage: req.Vantage,
				StartsAt: req.StartsAt, EndsAt: req.EndsAt, Reason: req.Reason}
			if p, ok := PrincipalFrom(r.Context()); ok && p.Admin {
				sil.Creator = "admin"
			} else {
				sil.Creator = "team:" + sc.team
			}
			if sil.EndsAt.IsZero() && req.For != "" {
				d, err := iconfig.ParseDuration(req.For)
				switch {
				case err != nil && !strings.HasPrefix(strings.TrimSpace(req.For), "-"):
					s.writeError(w, r, http.StatusBadRequest, &httpError{code: codeInvalid, field: "for", msg: "for: expected a duration such as 2h"})
					return
				case err != nil || d <= 0:
					s.writeError(w, r, http.StatusBadRequest, &httpError{code: codeInvalid, field: "for",
						msg: fmt.Sprintf("for: %q: the duration must be positive, such as 2h", req.For)})
					return
				}
				start := sil.StartsAt
				if start.IsZero() {
					start = s.opt.Now()
				}
				sil.StartsAt, sil.EndsAt = start, start.Add(d)
			}
			created, err := src.AddSilence(r.Context(), sc.team, sil)
			var fe *checks.FieldError
			switch {
			case errors.As(err, &fe):
				s.writeError(w, r, http.StatusUnprocessableEntity, &httpError{code: codeInvalid, field: fe.Field, msg: fe.Error()})
				return
			case err != nil:
				s.internal(w, r, err)
				return
			}
			writeJSON(w, http.StatusCreated, created)
		}),
	})
	s.mux.Handle("/v1/silences/{id}", methods{http.MethodDelete: s.teamAuth(func(w http.ResponseWriter, r *http.Request, sc scope) {
		if sc.team == "" {
			s.writeError(w, r, http.StatusBadRequest, apiErr(codeBadRequest, "the admin token must name the team with ?team="))
			return
		}
		err := s.store.DeleteSilence(r.Context(), sc.team, r.PathValue("id"))
		switch {
		case errors.Is(err, results.ErrNotFound):
			s.writeError(w, r, http.StatusNotFound, apiErr(codeNotFound, "team %s has no silence %q", sc.team, r.PathValue("id")))
		case err != nil:
			s.internal(w, r, err)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})})
}
