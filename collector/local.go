package collector

import (
	"context"
	"errors"
	"fmt"

	"github.com/picketnet/picket/collector/api"
	"github.com/picketnet/picket/collector/endpointspec"
	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/vantage"
)

// ApplyLocal registers the endpoints of `picket up`'s picket.yaml for
// team, creating the team on first use, with the same validation, target
// policy and declarative diff as `picket endpoints apply`. token is the new
// team's token when this call created it, and "" otherwise.
func (rt *Runtime) ApplyLocal(ctx context.Context, team string, f *endpointspec.File) (out api.Applied, token string, err error) {
	s := rt.Server
	tok, err := vantage.NewToken(TeamTokenPrefix)
	if err != nil {
		return api.Applied{}, "", err
	}
	err = s.store.CreateTeam(ctx, results.Team{Name: team, TokenHash: vantage.HashToken(tok), CreatedAt: s.opt.Now().UTC()})
	switch {
	case err == nil:
		token = tok
	case !errors.Is(err, results.ErrConflict):
		return api.Applied{}, "", fmt.Errorf("create team %s: %w", team, err)
	}
	eps := make([]results.Endpoint, len(f.Endpoints))
	for i, e := range f.Endpoints {
		e.Team = team
		eps[i] = e
	}
	// picket.yaml is the operator's own file, probed by the prober in this
	// process: its checks may read the operator's files (ca_file).
	v := *s.validator
	v.AllowLocalFiles = true
	if err := v.ValidateAll(ctx, eps); err != nil {
		return api.Applied{}, token, f.Locate(err)
	}
	out, err = s.apply(ctx, team, api.ApplyEndpoints{Endpoints: eps, Prune: true}, teamLimits{})
	return out, token, err
}
