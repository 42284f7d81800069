package prober

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/picketnet/picket/internal/ctxtime"
	"github.com/picketnet/picket/prober/spool"
	"github.com/picketnet/picket/results"
)

// maxBatchBody keeps a batch under the collector's decompressed limit,
// leaving room for the envelope.
const maxBatchBody = results.MaxBatchBytes - 64<<10

// batcher holds the batch size between sends: halved to isolate a
// record the collector cannot read and then grown back, while ceiling is
// lowered for good when a collector says a batch is too large.
type batcher struct {
	size, ceiling int
}

// step sends one batch and adapts the size to the answer. It returns how
// many results it took from the spool and when not to retry before.
func (p *Prober) step(ctx context.Context, b *batcher) (int, time.Time, error) {
	n, wait, err := p.shipOnce(ctx, b.size)
	switch {
	case errors.Is(err, errBatchTooLarge):
		b.size = max(1, min(b.size, n)/2)
		b.ceiling = b.size
	case errors.Is(err, errSplit):
		b.size = max(1, min(b.size, n)/2)
	case err == nil && n > 0 && b.size < b.ceiling:
		b.size = min(b.ceiling, b.size*2)
	}
	return n, wait, err
}

// ship delivers spooled results until ctx ends: it waits for results,
// lingers for BatchLinger so that they travel together, then sends
// batches until the spool is empty or no collector answers.
func (p *Prober) ship(ctx context.Context, b *batcher) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.spool.Ready():
		}
		if !ctxtime.SleepUntil(ctx, time.Now().Add(p.cfg.BatchLinger)) {
			return
		}
		for ctx.Err() == nil {
			n, wait, err := p.step(ctx, b)
			switch {
			case err != nil && ctx.Err() == nil:
				p.shipTrouble.Fail(1, err, "spooled", p.spool.Stats().Records)
			case err == nil && n > 0:
				p.shipTrouble.OK()
			}
			if !wait.IsZero() {
				if !ctxtime.SleepUntil(ctx, wait) {
					return
				}
				continue
			}
			if n == 0 {
				break
			}
		}
	}
}

// drain sends what is spooled until it is empty, a collector asks to
// wait, or ctx ends.
func (p *Prober) drain(ctx context.Context, b *batcher) {
	for ctx.Err() == nil {
		n, wait, _ := p.step(ctx, b)
		if n == 0 || !wait.IsZero() {
			return
		}
	}
}

var (
	errBatchTooLarge = errors.New("collector refused the batch as too large")
	errSplit         = errors.New("collector refused the batch; splitting it to find the culprit")
)

// shipOnce sends one batch. It returns how many results it took from the
// spool, and when not to retry before (zero: go on).
func (p *Prober) shipOnce(ctx context.Context, size int) (int, time.Time, error) {
	recs, err := p.spool.Next(size, maxBatchBody)
	if err != nil {
		// Next may have handed out the records before the one it could
		// not read: give them back, or they would stay in flight, never
		// sent, until the next start.
		for _, r := range recs {
			p.spool.Release(r.ID)
		}
		p.setErr("spool_read", err)
		return 0, time.Now().Add(p.cfg.BackoffMin), err
	}
	p.setErr("spool_read", nil)
	if len(recs) == 0 {
		return 0, time.Time{}, nil
	}
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	body, err := encodeBatch(recs)
	if err != nil {
		p.spool.Release(ids...)
		return len(recs), time.Now().Add(p.cfg.BackoffMin), err
	}
	start := time.Now()
	hdr := http.Header{"Content-Type": {"application/json"}, "Content-Encoding": {"gzip"}}
	a, err := p.coll.do(ctx, http.MethodPost, "/v1/results", body, hdr)
	if err != nil {
		p.spool.Release(ids...)
		var un *unavailableError
		if errors.As(err, &un) {
			p.m.shipFailures.WithLabelValues("none", "unavailable").Inc()
			p.setErr("ship", err)
			return len(recs), un.Until, err
		}
		return len(recs), time.Time{}, err // ctx ended
	}
	p.m.shipAttempts.WithLabelValues(a.collector).Inc()
	if a.status != http.StatusOK {
		wait, err := p.refused(a, recs, ids)
		return len(recs), wait, err
	}
	var ack results.BatchAck
	if err := json.Unmarshal(a.body, &ack); err != nil {
		p.spool.Release(ids...)
		p.m.shipFailures.WithLabelValues(a.collector, "bad_ack").Inc()
		err = fmt.Errorf("%s answered an unreadable acknowledgement: %w", a.collector, err)
		p.setErr("ship", err)
		return len(recs), time.Now().Add(p.cfg.BackoffMax), err
	}
	p.m.batchSeconds.Observe(time.Since(start).Seconds())
	sent := make(map[string]bool, len(ids))
	for _, id := range ids {
		sent[id] = true
	}
	done := make([]string, 0, len(ids))
	for _, id := range ack.Accepted {
		if sent[id] {
			done = append(done, id)
			delete(sent, id)
		}
	}
	p.m.shipped.Add(float64(len(done)))
	rejected, example := 0, results.Rejection{}
	for _, r := range ack.Rejected {
		if sent[r.ID] {
			done = append(done, r.ID)
			delete(sent, r.ID)
			p.m.dropped.WithLabelValues("rejected").Inc()
			if rejected == 0 {
				example = r
			}
			rejected++
		}
	}
	if rejected > 0 {
		p.rejections.Fail(rejected, errors.New(example.Reason), "example_id", example.ID, "collector", a.collector)
	} else {
		p.rejections.OK()
	}
	if err := p.spool.Ack(done...); err != nil {
		p.log.Error("record acknowledgements", "err", err)
	}
	if len(sent) > 0 {
		rest := make([]string, 0, len(sent))
		for id := range sent {
			rest = append(rest, id)
		}
		p.spool.Release(rest...)
		p.m.shipFailures.WithLabelValues(a.collector, "partial").Inc()
		p.log.Warn("collector did not acknowledge every result; they will be sent again", "missing", len(rest), "collector", a.collector)
		return len(recs), time.Now().Add(p.cfg.BackoffMin), nil
	}
	p.setErr("ship", nil)
	return len(recs), time.Time{}, nil
}

// refused handles a 4xx answer to a whole batch. Such an answer would be
// the same if the batch were sent again as it is, so it is never retried
// blindly: a batch too large is split; a batch the collector cannot read
// is split until the offending result is alone, and that one is dropped
// and counted; an authentication failure waits BackoffMax (the operator
// must fix the token; nothing is dropped).
func (p *Prober) refused(a answer, recs []spool.Record, ids []string) (time.Time, error) {
	reason := fmt.Sprintf("status_%d", a.status)
	p.m.shipFailures.WithLabelValues(a.collector, reason).Inc()
	err := fmt.Errorf("%s refused a batch of %d: %d %s: %s", a.collector, len(recs), a.status,
		http.StatusText(a.status), bytes.TrimSpace(a.body[:min(len(a.body), 300)]))
	p.setErr("ship", err)
	switch {
	case a.status == http.StatusRequestEntityTooLarge && len(recs) > 1:
		p.spool.Release(ids...)
		return time.Time{}, fmt.Errorf("%w: %w", errBatchTooLarge, err)
	case (a.status == http.StatusBadRequest || a.status == http.StatusUnprocessableEntity) && len(recs) > 1:
		p.spool.Release(ids...)
		return time.Time{}, fmt.Errorf("%w: %w", errSplit, err)
	case a.status == http.StatusBadRequest || a.status == http.StatusUnprocessableEntity ||
		a.status == http.StatusRequestEntityTooLarge:
		p.log.Error("collector refused a single result; dropped", "id", ids[0], "err", err)
		p.m.dropped.WithLabelValues("refused").Inc()
		if aerr := p.spool.Ack(ids...); aerr != nil {
			// Not fatal: an unrecorded acknowledgement only makes the
			// result be offered (and refused) again after a restart.
			p.log.Error("record acknowledgement", "err", aerr)
		}
		return time.Time{}, err
	default:
		// Logged by ship, once per problem.
		p.spool.Release(ids...)
		return time.Now().Add(p.cfg.BackoffMax), fmt.Errorf("%w; retrying in %s", err, p.cfg.BackoffMax)
	}
}

// encodeBatch gzips {"results":[...]} from the spooled JSON records as
// they are, without decoding them.
func encodeBatch(recs []spool.Record) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(`{"results":[`))
	for i, r := range recs {
		if i > 0 {
			zw.Write([]byte{','})
		}
		zw.Write(r.Data)
	}
	zw.Write([]byte(`]}`))
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("gzip batch: %w", err)
	}
	return buf.Bytes(), nil
}
