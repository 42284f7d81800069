package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/picketnet/picket/collector/api"
	"github.com/picketnet/picket/collector/client"
	"github.com/picketnet/picket/collector/endpointspec"
	"github.com/picketnet/picket/internal/ctxtime"
	"github.com/picketnet/picket/results"
)

// Config is one ingest benchmark.
type Config struct {
	// Collector is the collector's base URL; AdminToken enrols the
	// vantages and registers the endpoints whose results they post.
	Collector  string
	AdminToken string
	Vantages   int
	// Rate is the total offered results per second across vantages.
	Rate     float64
	Duration time.Duration
	// BatchEvery is how often each vantage posts (default 1s). A vantage
	// that falls behind sends bigger batches, up to MaxBatchRecords, like
	// a prober draining its spool.
	BatchEvery time.Duration
	// Gzip compresses batches (default in the CLI: on).
	Gzip bool
	// Prefix names the vantages ("bench-<unix milliseconds>" when empty), so runs
	// against one collector do not collide.
	Prefix string
	Shape  Shape
	// HTTPClient is used for every request; nil makes one.
	HTTPClient *http.Client
	// Progress, when set, is called about once a second.
	Progress func(p Progress)
}

// Progress is a running count.
type Progress struct {
	Elapsed  time.Duration
	Accepted int64
}

// Report is the outcome of a benchmark.
type Report struct {
	Vantages int     `json:"vantages"`
	Offered  float64 `json:"offered_per_s"`
	// Duration is how long the rate was offered; Elapsed is from the first
	// batch to the last acknowledgement, or Duration when that was sooner.
	Duration time.Duration `json:"duration_ns"`
	Elapsed  time.Duration `json:"elapsed_ns"`
	Batches  int64         `json:"batches"`
	Sent     int64         `json:"sent"`
	// Unsent counts the results the run owed (Rate × Duration in all)
	// whose batch was never acknowledged: it failed, and so did the
	// catch-up after the last interval. 0 on a healthy run.
	Unsent   int64 `json:"unsent"`
	Accepted int64 `json:"accepted"`
	// Duplicate counts accepted ids that were already stored (should be 0).
	Duplicate int64 `json:"duplicate"`
	Rejected  int64 `json:"rejected"`
	// Failed counts batches that got no acknowledgement (errors, 5xx).
	Failed     int64  `json:"failed_batches"`
	FirstError string `json:"first_error,omitempty"`
	Bytes      int64  `json:"bytes_sent"`
	// PerSecond is Accepted over Elapsed: what the collector sustained.
	PerSecond float64 `json:"results_per_s"`
	// Ack latency percentiles over batches.
	P50 time.Duration `json:"p50_ns"`
	P95 time.Duration `json:"p95_ns"`
	P99 time.Duration `json:"p99_ns"`
	Max time.Duration `json:"max_ns"`
	// MeanBatch is the mean number of records per batch.
	MeanBatch float64 `json:"mean_batch"`
}

func (r Report) String() string {
	unsent := ""
	if r.Unsent > 0 {
		unsent = fmt.Sprintf(" (%d never sent)", r.Unsent)
	}
	return fmt.Sprintf("%d vantages offered %.0f/s for %s: %d results sent%s, %d acknowledged (%d rejected, %d duplicate, %d failed batches) in %s = %.0f results/s sustained; %d batches of %.0f records on average, %.1f MiB sent; ack latency p50 %s p95 %s p99 %s max %s",
		r.Vantages, r.Offered, r.Duration, r.Sent, unsent, r.Accepted, r.Rejected, r.Duplicate, r.Failed, r.Elapsed.Round(time.Millisecond), r.PerSecond,
		r.Batches, r.MeanBatch, float64(r.Bytes)/(1<<20), r.P50.Round(time.Microsecond), r.P95.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.Max.Round(time.Microsecond))
}

// Run registers the endpoints of cfg.Shape's team, enrols cfg.Vantages
// vantages and has them offer cfg.Rate results/s for cfg.Duration: the
// run sends Rate × Duration results in all, and the report divides what
// the collector acknowledged by the time from the first batch to the last
// acknowledgement (at least Duration).
func Run(ctx context.Context, cfg Config) (Report, error) {
	if cfg.Vantages <= 0 || cfg.Rate <= 0 || cfg.Duration <= 0 {
		return Report{}, errors.New("loadgen: vantages, rate and duration must be positive")
	}
	if cfg.BatchEvery <= 0 {
		cfg.BatchEvery = time.Second
	}
	if cfg.Prefix == "" {
		cfg.Prefix = fmt.Sprintf("bench-%d", time.Now().UnixMilli())
	}
	if cfg.Shape.Team == "" {
		cfg.Shape.Team = "bench"
	}
	if cfg.Shape.Checks <= 0 {
		cfg.Shape.Checks = 1000
	}
	hc := cfg.HTTPClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = cfg.Vantages
		hc = &http.Client{Transport: tr, Timeout: 2 * time.Minute}
	}
	admin, err := client.New(cfg.Collector, cfg.AdminToken, hc)
	if err != nil {
		return Report{}, err
	}
	if err := Register(ctx, admin, cfg.Shape); err != nil {
		return Report{}, err
	}
	clients := make([]*client.Client, cfg.Vantages)
	idents := make([]results.Vantage, cfg.Vantages)
	for i := range cfg.Vantages {
		id, region, provider, asn := VantageIdentity(cfg.Prefix, i)
		out, err := admin.EnrolVantage(ctx, api.EnrolVantage{ID: id, Region: region, Provider: provider, ASN: asn})
		if err != nil {
			return Report{}, fmt.Errorf("enrol vantage %s: %w", id, err)
		}
		if clients[i], err = client.New(cfg.Collector, out.Token, hc); err != nil {
			return Report{}, err
		}
		idents[i] = out.Vantage
	}

	var (
		rep       = Report{Vantages: cfg.Vantages, Offered: cfg.Rate, Duration: cfg.Duration}
		mu        sync.Mutex
		latencies []time.Duration
		accepted  atomic.Int64
	)
	// The run offers exactly Rate × Duration results, shared out among
	// the vantages as evenly as whole numbers allow.
	total := int64(math.Round(cfg.Rate * cfg.Duration.Seconds()))
	share := func(i int) int64 {
		n := total / int64(cfg.Vantages)
		if int64(i) < total%int64(cfg.Vantages) {
			n++
		}
		return n
	}
	names := make([]checkNames, cfg.Shape.Checks)
	for c := range names {
		names[c] = namesOf(c)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for i := range cfg.Vantages {
		wg.Go(func() {
			w := &worker{cfg: cfg, names: names, c: clients[i], v: idents[i], rng: rand.New(rand.NewPCG(uint64(i), uint64(start.UnixNano())))}
			// Stagger the vantages across the first interval, as real
			// probers are.
			offset := time.Duration(float64(cfg.BatchEvery) * float64(i) / float64(cfg.Vantages))
			s := w.run(ctx, start, offset, share(i), &accepted)
			mu.Lock()
			defer mu.Unlock()
			latencies = append(latencies, s.latencies...)
			rep.Batches += s.batches
			rep.Sent += s.sent
			rep.Unsent += s.unsent
			rep.Duplicate += s.duplicate
			rep.Rejected += s.rejected
			rep.Failed += s.failed
			rep.Bytes += s.bytes
			if rep.FirstError == "" && s.firstErr != nil {
				rep.FirstError = s.firstErr.Error()
			}
		})
	}
	// Progress is not called once Run has returned: the caller may be
	// writing its report where Progress writes.
	progressDone := make(chan struct{})
	var progress sync.WaitGroup
	if cfg.Progress != nil {
		progress.Go(func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-progressDone:
					return
				case <-t.C:
					cfg.Progress(Progress{Elapsed: time.Since(start), Accepted: accepted.Load()})
				}
			}
		})
	}
	wg.Wait()
	// The last batches go out before the end of the duration; when they
	// are acknowledged sooner, the rate was still offered until the end.
	ctxtime.SleepUntil(ctx, start.Add(cfg.Duration))
	close(progressDone)
	progress.Wait()
	rep.Elapsed = time.Since(start)
	rep.Accepted = accepted.Load()
	rep.PerSecond = float64(rep.Accepted) / rep.Elapsed.Seconds()
	if rep.Batches > 0 {
		rep.MeanBatch = float64(rep.Sent) / float64(rep.Batches)
	}
	slices.Sort(latencies)
	rep.P50, rep.P95, rep.P99 = percentile(latencies, 0.50), percentile(latencies, 0.95), percentile(latencies, 0.99)
	if n := len(latencies); n > 0 {
		rep.Max = latencies[n-1]
	}
	if rep.Accepted == 0 && rep.FirstError != "" {
		return rep, fmt.Errorf("no result was acknowledged: %s", rep.FirstError)
	}
	return rep, nil
}

// benchCheck is the check every bench endpoint registers. No prober runs
// it: the endpoints are assigned only to the bench's own regions.
// benchAlert makes their alerts (the generated failures raise some)
// severity info, which is recorded and notifies nobody.
const (
	benchCheck = `{"kind":"http","interval":"60s"}`
	benchAlert = `{"severity":"info"}`
)

// Register makes shape's team (unless it exists) and registers one
// endpoint per generated check for it with the admin token, as an
// operator would, so that the collector accepts the generated results:
// it accepts results only for registered checks. It is idempotent: a
// second run against the same collector changes nothing, and it never
// deletes endpoints. The endpoints name addresses in 203.0.113.0/24
// (documentation space, where nothing answers) and are assigned only to
// the bench vantages' regions, so no real prober is given them; their
// alerts are of severity info, which notifies nobody.
func Register(ctx context.Context, admin *client.Client, shape Shape) error {
	if _, err := admin.CreateTeam(ctx, shape.Team); err != nil && !client.IsStatus(err, http.StatusConflict) {
		return fmt.Errorf("create team %s: %w", shape.Team, err)
	}
	eps := make([]results.Endpoint, 0, min(shape.Checks, endpointspec.MaxEndpoints))
	for c := range shape.Checks {
		n := namesOf(c)
		eps = append(eps, results.Endpoint{Name: n.endpoint, Target: n.target, Checks: []json.RawMessage{json.RawMessage(benchCheck)}, Regions: regions, Alert: json.RawMessage(benchAlert)})
		if len(eps) < endpointspec.MaxEndpoints && c < shape.Checks-1 {
			continue
		}
		if _, err := admin.ApplyEndpoints(ctx, shape.Team, api.ApplyEndpoints{Endpoints: eps}); err != nil {
			return fmt.Errorf("register team %s's endpoints: %w", shape.Team, err)
		}
		eps = eps[:0]
	}
	return nil
}

// percentile is the nearest-rank percentile of sorted values.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

type worker struct {
	cfg   Config
	names []checkNames
	c     *client.Client
	v     results.Vantage
	rng   *rand.Rand
	check int

	zipped  bytes.Buffer
	zw      *gzip.Writer
	batch   []results.Result
	jsonBuf []byte
}

type workerStats struct {
	latencies                                                 []time.Duration
	batches, sent, unsent, duplicate, rejected, failed, bytes int64
	firstErr                                                  error
}

// run posts the vantage's share of the run, total results, from start +
// offset on, a batch every BatchEvery. Each batch brings what was sent up
// to what is due by the next one, so the first batch carries a whole
// interval's results and the last, sent before the end of the duration,
// completes the total. A vantage that falls behind (slow acknowledgements,
// failed batches) skips the ticks it missed and sends their results in
// one bigger batch, up to MaxBatchRecords, like a prober draining its
// spool; what is still owed after the last tick is sent right after it.
func (w *worker) run(ctx context.Context, start time.Time, offset time.Duration, total int64, accepted *atomic.Int64) workerStats {
	var s workerStats
	w.zw, _ = gzip.NewWriterLevel(&w.zipped, gzip.BestSpeed)
	w.check = w.rng.IntN(w.cfg.Shape.Checks)
	every, dur := w.cfg.BatchEvery, w.cfg.Duration
	var sent int64
	for at := offset; at < dur; at += every {
		if !ctxtime.SleepUntil(ctx, start.Add(at)) {
			break
		}
		if behind := time.Since(start) - at; behind >= every {
			at += behind / every * every
		}
		due := total
		if at+every < dur {
			due = int64(float64(total) * float64(at+every) / float64(dur))
		}
		if n := min(due-sent, results.MaxBatchRecords); n > 0 {
			sent += w.post(ctx, n, &s, accepted)
		}
	}
	// Catch up: batches capped at MaxBatchRecords, or failed.
	for sent < total && ctx.Err() == nil {
		n := w.post(ctx, min(total-sent, results.MaxBatchRecords), &s, accepted)
		if n == 0 {
			break
		}
		sent += n
	}
	s.sent = sent
	s.unsent = total - sent
	return s
}

// post sends one batch of n new results and returns n once it is
// acknowledged, 0 when it is not.
func (w *worker) post(ctx context.Context, n int64, s *workerStats, accepted *atomic.Int64) int64 {
	now := time.Now()
	w.batch = w.batch[:0]
	for range n {
		w.check = (w.check + 1) % w.cfg.Shape.Checks
		at := now.Add(-time.Duration(w.rng.IntN(int(w.cfg.BatchEvery)))).UTC()
		w.batch = append(w.batch, w.cfg.Shape.record(w.rng, w.names[w.check], w.v.ID, w.v.Region, w.v.Provider, w.v.ASN, at))
	}
	w.jsonBuf = appendBatch(w.jsonBuf[:0], w.batch)
	body, enc := w.jsonBuf, ""
	if w.cfg.Gzip {
		w.zipped.Reset()
		w.zw.Reset(&w.zipped)
		_, _ = w.zw.Write(w.jsonBuf)
		_ = w.zw.Close()
		body, enc = w.zipped.Bytes(), "gzip"
	}
	t0 := time.Now()
	ack, err := w.c.PostEncoded(ctx, body, enc)
	lat := time.Since(t0)
	if err != nil {
		if ctx.Err() != nil {
			return 0 // the run was interrupted: not a measurement
		}
		s.batches++
		s.bytes += int64(len(body))
		s.failed++
		if s.firstErr == nil {
			s.firstErr = err
		}
		return 0
	}
	s.batches++
	s.bytes += int64(len(body))
	s.latencies = append(s.latencies, lat)
	accepted.Add(int64(len(ack.Accepted)))
	s.duplicate += int64(ack.Duplicate)
	s.rejected += int64(len(ack.Rejected))
	if len(ack.Rejected) > 0 && s.firstErr == nil {
		s.firstErr = fmt.Errorf("rejected %s: %s", ack.Rejected[0].ID, ack.Rejected[0].Reason)
	}
	return n
}
