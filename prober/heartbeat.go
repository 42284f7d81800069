package prober

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/picketnet/picket/internal/ctxtime"
	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/vantage"
)

// heartbeats tells the collectors that this vantage is alive, now and
// every heartbeat period.
func (p *Prober) heartbeats(ctx context.Context) {
	for {
		if err := p.heartbeat(ctx); err != nil && ctx.Err() == nil {
			p.log.Debug("heartbeat", "err", err)
		}
		if !ctxtime.SleepUntil(ctx, time.Now().Add(time.Duration(p.hbEvery.Load()))) {
			return
		}
	}
}

func (p *Prober) heartbeat(ctx context.Context) error {
	st := p.spoolStats()
	p.noteSpoolDrops(st.Dropped)
	p.checkClock()
	ident := p.ident.Load()
	hb := results.Heartbeat{
		Vantage: ident.ID, At: time.Now().UTC(), Every: time.Duration(p.hbEvery.Load()), Version: p.version,
		SpoolDepth: st.Records, SpoolBytes: st.Bytes, Running: p.sched.Running(), LastError: p.lastError(),
		ASN: ident.ASN,
	}
	if a := p.public.Load(); a != nil {
		hb.PublicAddr = a.String()
	}
	body, err := json.Marshal(hb)
	if err != nil {
		return err
	}
	a, err := p.coll.do(ctx, http.MethodPost, "/v1/heartbeat", body, http.Header{"Content-Type": {"application/json"}})
	if err != nil {
		return err
	}
	if a.status/100 != 2 {
		err := fmt.Errorf("%s refused the heartbeat: %d %s", a.collector, a.status, http.StatusText(a.status))
		p.setErr("heartbeat", err)
		return err
	}
	p.setErr("heartbeat", nil)
	p.m.heartbeatsSent.Inc()
	return nil
}

// discover finds the public address, and the ASN when the configuration
// does not give one. It never blocks start-up: it runs beside everything
// else and retries with growing pauses until it has an answer.
func (p *Prober) discover(ctx context.Context) {
	d := vantage.Discovery{}
	if p.cfg.Discovery != nil {
		d = *p.cfg.Discovery
	}
	if d.Disabled {
		return
	}
	wait := 10 * time.Second
	for {
		addr, err := d.PublicAddr(ctx)
		if err == nil {
			p.public.Store(&addr)
			if p.ident.Load().ASN != 0 {
				p.log.Info("public address discovered", "addr", addr)
				return
			}
			if err = p.discoverASN(ctx, d, addr); err == nil {
				return
			}
		}
		if ctx.Err() != nil {
			return
		}
		p.log.Warn("vantage discovery failed; will retry", "err", err, "retry_in", wait)
		if !ctxtime.SleepUntil(ctx, time.Now().Add(wait)) {
			return
		}
		wait = min(2*wait, 30*time.Minute)
	}
}

func (p *Prober) discoverASN(ctx context.Context, d vantage.Discovery, addr netip.Addr) error {
	asn, err := d.ASN(ctx, addr)
	if err != nil {
		return err
	}
	p.identMu.Lock()
	id := *p.ident.Load()
	id.ASN = asn
	p.ident.Store(&id)
	p.identMu.Unlock()
	p.log.Info("public address and ASN discovered", "addr", addr, "asn", asn)
	return nil
}

// noteSpoolDrops reports, in the heartbeat's last error, results the
// spool dropped since the previous heartbeat to honour max_bytes or to
// make room on a full disk, so that `picket vantages list` shows a
// vantage losing results, not only its spool depth.
func (p *Prober) noteSpoolDrops(dropped int64) {
	p.errMu.Lock()
	n := dropped - p.seenDropped
	p.seenDropped = dropped
	p.errMu.Unlock()
	if n <= 0 {
		p.setErr("spool_full", nil)
		return
	}
	p.setErr("spool_full", fmt.Errorf("spool full (max_bytes %d, or the disk): dropped the %d oldest undelivered results since the last heartbeat, %d since start",
		p.cfg.SpoolMaxBytes, n, dropped))
}

// maxClockOffset is how far this prober's clock may be from the
// collectors' before it says so: well above what the Date header's
// one-second resolution and a slow round trip explain, well below the
// five minutes ahead past which collectors refuse results.
const maxClockOffset = 30 * time.Second

// checkClock compares this host's clock with the collectors'. Results are
// stamped with this host's clock: behind, they are filed in the past;
// more than five minutes ahead, collectors refuse them. An offset is
// logged once when it appears and once when it is gone, and reported in
// heartbeats meanwhile.
func (p *Prober) checkClock() {
	off, ok := p.coll.clockOffset()
	if !ok {
		return
	}
	p.errMu.Lock()
	was := p.clockOff
	p.clockOff = off > maxClockOffset || off < -maxClockOffset
	now := p.clockOff
	p.errMu.Unlock()
	if !now {
		p.setErr("clock", nil)
		if was {
			p.log.Info("clock agrees with the collectors again", "offset", off.Round(time.Second).String())
		}
		return
	}
	dir := "ahead of"
	if off < 0 {
		dir = "behind"
	}
	err := fmt.Errorf("this host's clock is %s %s the collectors'; results carry wrong times (more than 5m ahead, collectors refuse them): fix NTP on this host",
		abs(off).Round(time.Second), dir)
	p.setErr("clock", err)
	if !was {
		p.log.Error("clock offset", "err", err)
	}
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
