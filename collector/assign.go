package collector

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/picketnet/picket/collector/endpointspec"
	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/vantage"
)

// Assignment builds the assignment of vantage v from every registered
// endpoint whose regions include v's region or "all". Checks are sorted by
// team, endpoint and check id, so equal content gives an equal ETag.
func (s *Server) Assignment(r *http.Request, v results.Vantage) (vantage.Assignment, error) {
	start := time.Now()
	eps, err := s.store.Endpoints(r.Context(), "")
	s.metrics.storeSeconds.WithLabelValues("endpoints").Observe(time.Since(start).Seconds())
	if err != nil {
		return vantage.Assignment{}, err
	}
	a := vantage.Assignment{
		Vantage:        v.ID,
		Region:         v.Region,
		Provider:       v.Provider,
		Checks:         []vantage.AssignedCheck{},
		Policy:         s.opt.Policy,
		HeartbeatEvery: s.opt.HeartbeatEvery,
	}
	for _, e := range eps {
		if !assignedTo(e.Regions, v.Region) {
			continue
		}
		ids, err := endpointspec.CheckIDs(e)
		if err != nil {
			s.log.Warn("assignment: skipping endpoint", "team", e.Team, "endpoint", e.Name, "err", err)
			continue
		}
		for i, id := range ids {
			a.Checks = append(a.Checks, vantage.AssignedCheck{ID: id, Endpoint: e.Name, Team: e.Team, Target: e.Target, Spec: e.Checks[i]})
		}
	}
	slices.SortFunc(a.Checks, func(x, y vantage.AssignedCheck) int {
		return cmp.Or(strings.Compare(x.Team, y.Team), strings.Compare(x.ID, y.ID))
	})
	body, err := json.Marshal(a)
	if err != nil {
		return vantage.Assignment{}, err
	}
	sum := sha256.Sum256(body)
	a.ETag = `"` + hex.EncodeToString(sum[:16]) + `"`
	return a, nil
}

// assignedTo says whether an endpoint with these regions is assigned to
// the vantages of region: its regions name the region or "all". Ingest
// asks the same question of every record, so that a vantage can post
// results only for what it could have been assigned.
func assignedTo(regions []string, region string) bool {
	return slices.Contains(regions, endpointspec.AllRegions) || slices.Contains(regions, region)
}

func (s *Server) handleAssignments(w http.ResponseWriter, r *http.Request, v results.Vantage) {
	a, err := s.Assignment(r, v)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	w.Header().Set("ETag", a.ETag)
	w.Header().Set("Cache-Control", "no-cache")
	if etagMatch(r.Header.Get("If-None-Match"), a.ETag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

// etagMatch implements If-None-Match's weak comparison over a list.
func etagMatch(header, etag string) bool {
	if header == "" {
		return false
	}
	norm := func(t string) string {
		t = strings.TrimSpace(t)
		t = strings.TrimPrefix(t, "W/")
		return strings.Trim(t, `"`)
	}
	want := norm(etag)
	for _, t := range strings.Split(header, ",") {
		if t = strings.TrimSpace(t); t == "*" || norm(t) == want {
			return true
		}
	}
	return false
}
