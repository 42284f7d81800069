package prober

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/picketnet/picket/internal/ctxtime"
	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/scheduler"
	"github.com/picketnet/picket/vantage"
)

// assignmentFile is the last good assignment, kept in the spool directory
// so that a prober restarted while no collector answers keeps probing.
const assignmentFile = "assignment.json"

func (p *Prober) loadCachedAssignment() (vantage.Assignment, bool) {
	path := filepath.Join(p.cfg.SpoolDir, assignmentFile)
	b, err := os.ReadFile(path)
	if err != nil {
		if !os.IsNotExist(err) {
			p.log.Warn("cached assignment unreadable", "file", path, "err", err)
		}
		return vantage.Assignment{}, false
	}
	var a vantage.Assignment
	if err := json.Unmarshal(b, &a); err != nil {
		p.log.Warn("cached assignment unreadable; ignored", "file", path, "err", err)
		return vantage.Assignment{}, false
	}
	return a, true
}

// saveAssignment replaces the cached copy atomically: a crash leaves the
// old copy or the new one, never a mix.
func (p *Prober) saveAssignment(a vantage.Assignment) error {
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(p.cfg.SpoolDir, assignmentFile+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(p.cfg.SpoolDir, assignmentFile))
}

// pollAssignments fetches the assignment every PollEvery (with jitter)
// and applies it when it changed.
func (p *Prober) pollAssignments(ctx context.Context, etag string) {
	for {
		a, changed, err := p.fetchAssignment(ctx, etag)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			p.setErr("assignments", err)
			p.assignTrouble.Fail(1, err)
		case changed:
			p.assignTrouble.OK()
			if err := p.apply(a); err != nil {
				// Keep the old ETag, so that the next poll fetches the
				// assignment again and retries, instead of being told it
				// has not changed.
				p.setErr("assignments", err)
				break
			}
			p.setErr("assignments", nil)
			etag = a.ETag
			if err := p.saveAssignment(a); err != nil {
				p.log.Warn("cache assignment", "err", err)
			}
		default:
			p.assignTrouble.OK()
			p.setErr("assignments", nil)
		}
		jitter := time.Duration(rand.Int64N(int64(p.cfg.PollEvery)/5 + 1))
		if !ctxtime.SleepUntil(ctx, time.Now().Add(p.cfg.PollEvery-p.cfg.PollEvery/10+jitter)) {
			return
		}
	}
}

// maxAssignmentBytes bounds an assignment (10,000 checks of 16 KiB specs
// would be larger; real ones are far smaller).
const maxAssignmentBytes = maxAnswerBytes

func (p *Prober) fetchAssignment(ctx context.Context, etag string) (vantage.Assignment, bool, error) {
	hdr := http.Header{"Accept": {"application/json"}}
	if etag != "" {
		hdr.Set("If-None-Match", etag)
	}
	a, err := p.coll.do(ctx, http.MethodGet, "/v1/assignments", nil, hdr)
	if err != nil {
		return vantage.Assignment{}, false, err
	}
	switch a.status {
	case http.StatusNotModified:
		return vantage.Assignment{}, false, nil
	case http.StatusOK:
	default:
		return vantage.Assignment{}, false, fmt.Errorf("%s: GET /v1/assignments: %d %s: %s", a.collector, a.status,
			http.StatusText(a.status), bytes.TrimSpace(a.body[:min(len(a.body), 300)]))
	}
	var as vantage.Assignment
	if len(a.body) > maxAssignmentBytes {
		return vantage.Assignment{}, false, fmt.Errorf("%s: assignment larger than %d bytes", a.collector, maxAssignmentBytes)
	}
	if err := json.Unmarshal(a.body, &as); err != nil {
		return vantage.Assignment{}, false, fmt.Errorf("%s: unreadable assignment: %w", a.collector, err)
	}
	if as.Vantage != "" && as.Vantage != p.cfg.Identity.ID {
		return vantage.Assignment{}, false, fmt.Errorf("%s: assignment is for vantage %q, this is %q", a.collector, as.Vantage, p.cfg.Identity.ID)
	}
	if tag := a.header.Get("ETag"); tag != "" {
		as.ETag = tag
	}
	return as, true, nil
}

// apply makes a the running assignment. Checks that did not change keep
// running undisturbed; a check that does not parse is logged, counted and
// left out, and the rest still run. It fails only when the scheduler
// cannot take the jobs.
func (p *Prober) apply(a vantage.Assignment) error {
	p.adoptEnrolment(a)
	pol := a.Policy
	p.policy.Store(&pol)
	if a.HeartbeatEvery > 0 {
		// Bounded, so that a mistaken collector can neither silence the
		// vantage nor make it flood.
		p.hbEvery.Store(int64(min(max(a.HeartbeatEvery, time.Second), time.Hour)))
	}
	jobs := make([]scheduler.Job, 0, len(a.Checks))
	seen := make(map[string]bool, len(a.Checks))
	bad := 0
	for _, ac := range a.Checks {
		if seen[ac.ID] {
			p.log.Error("assignment lists a check twice; the first is kept", "check", ac.ID)
			bad++
			continue
		}
		if ac.ID == "" || len(ac.ID) > results.MaxNameBytes {
			// The scheduler would refuse the whole set for an empty key.
			p.log.Error("assigned check id empty or too long; not running it", "check", ac.ID[:min(len(ac.ID), 64)], "target", ac.Target)
			bad++
			continue
		}
		parsed, err := p.kinds.Parse(ac.Target, ac.Spec)
		if err != nil {
			p.log.Error("assigned check does not parse; not running it", "check", ac.ID, "err", err)
			bad++
			continue
		}
		seen[ac.ID] = true
		jobs = append(jobs, p.job(ac, parsed))
	}
	p.m.assignErrors.Add(float64(bad))
	ch, err := p.sched.Set(jobs)
	if err != nil {
		p.log.Error("apply assignment", "err", err)
		return fmt.Errorf("apply assignment: %w", err)
	}
	p.m.assigned.Set(float64(len(jobs)))
	p.log.Info("assignment applied", "etag", a.ETag, "checks", len(jobs), "added", ch.Added, "changed", ch.Changed,
		"removed", ch.Removed, "kept", ch.Kept, "unusable", bad)
	return nil
}

// adoptEnrolment makes results carry the region and provider the
// operator enrolled this vantage with. The collector refuses results that
// carry others, and assigns checks by the enrolled region, so a typo in
// prober.yaml would otherwise have every result refused and dropped. The
// mismatch is logged once and reported in heartbeats until prober.yaml
// is corrected.
func (p *Prober) adoptEnrolment(a vantage.Assignment) {
	if a.Region == "" && a.Provider == "" {
		return // a collector that does not say
	}
	p.identMu.Lock()
	defer p.identMu.Unlock()
	cur := p.ident.Load()
	id := *cur
	if a.Region != "" {
		id.Region = a.Region
	}
	if a.Provider != "" {
		id.Provider = a.Provider
	}
	conf := p.cfg.Identity
	if id.Region == conf.Region && id.Provider == conf.Provider {
		p.setErr("identity", nil)
	} else {
		err := fmt.Errorf("prober.yaml says vantage %s is region %q, provider %q, but it is enrolled as region %q, provider %q; results carry the enrolment until prober.yaml is corrected (or the vantage enrolled again)",
			conf.ID, conf.Region, conf.Provider, id.Region, id.Provider)
		p.setErr("identity", err)
		if id.Region != cur.Region || id.Provider != cur.Provider {
			p.log.Error("vantage identity differs from its enrolment", "err", err)
		}
	}
	p.ident.Store(&id)
}
