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
	id := *p.ident.Load()
	id.ASN = asn
	p.ident.Store(&id)
	p.log.Info("public address and ASN discovered", "addr", addr, "asn", asn)
	return nil
}
