package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/picketnet/picket/collector/api"
	"github.com/picketnet/picket/collector/client"
	"github.com/picketnet/picket/results"
)

// Config is one ingest benchmark.
type Config struct {
	// Collector is the collector's base URL; AdminToken enrols the vantages.
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
	// Prefix names the vantages ("bench-<unix time>" when empty), so runs
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
	Vantages int           `json:"vantages"`
	Offered  float64       `json:"offered_per_s"`
	Elapsed  time.Duration `json:"elapsed_ns"`
	Batches  int64         `json:"batches"`
	Sent     int64         `json:"sent"`
	Accepted int64         `json:"accepted"`
	// Duplicate counts accepted ids that were already stored (should be 0).
	Duplicate int64 `json:"duplicate"`
	Rejected  int64 `json:"rejected"`
	// Failed counts batches that got no acknowledgement (errors, 5xx).
	Failed     int64   `json:"failed_batches"`
	FirstError string  `json:"first_error,omitempty"`
	Bytes      int64   `json:"bytes_sent"`
	PerSecond  float64 `json:"results_per_s"`
	// Ack latency percentiles over batches.
	P50 time.Duration `json:"p50_ns"`
	P95 time.Duration `json:"p95_ns"`
	P99 time.Duration `json:"p99_ns"`
	Max time.Duration `json:"max_ns"`
	// MeanBatch is the mean number of records per batch.
	MeanBatch float64 `json:"mean_batch"`
}

func (r Report) String() string {
	return fmt.Sprintf("%d vantages, offered %.0f/s for %s: %d results acknowledged (%d rejected, %d duplicate, %d failed batches) = %.0f results/s sustained; %d batches of %.0f records on average, %.1f MiB sent; ack latency p50 %s p95 %s p99 %s max %s",
		r.Vantages, r.Offered, r.Elapsed.Round(time.Millisecond), r.Accepted, r.Rejected, r.Duplicate, r.Failed, r.PerSecond,
		r.Batches, r.MeanBatch, float64(r.Bytes)/(1<<20), r.P50.Round(time.Microsecond), r.P95.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.Max.Round(time.Microsecond))
}

// Run enrols cfg.Vantages vantages and posts load for cfg.Duration.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if cfg.Vantages <= 0 || cfg.Rate <= 0 || cfg.Duration <= 0 {
		return Report{}, errors.New("loadgen: vantages, rate and duration must be positive")
	}
	if cfg.BatchEvery <= 0 {
		cfg.BatchEvery = time.Second
	}
	if cfg.Prefix == "" {
		cfg.Prefix = fmt.Sprintf("bench-%d", time.Now().Unix())
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
		rep       = Report{Vantages: cfg.Vantages, Offered: cfg.Rate}
		mu        sync.Mutex
		latencies []time.Duration
		accepted  atomic.Int64
	)
	runCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	start := time.Now()
	perVantage := cfg.Rate / float64(cfg.Vantages)
	names := make([]checkNames, cfg.Shape.Checks)
	for c := range names {
		names[c] = namesOf(c)
	}
	var wg sync.WaitGroup
	for i := range cfg.Vantages {
		wg.Go(func() {
			w := &worker{cfg: cfg, names: names, c: clients[i], v: idents[i], rng: rand.New(rand.NewPCG(uint64(i), uint64(start.UnixNano())))}
			// Stagger the vantages across the first interval, as real
			// probers are.
			offset := time.Duration(float64(cfg.BatchEvery) * float64(i) / float64(cfg.Vantages))
			select {
			case <-runCtx.Done():
				return
			case <-time.After(offset):
			}
			s := w.run(runCtx, perVantage, &accepted)
			mu.Lock()
			defer mu.Unlock()
			latencies = append(latencies, s.latencies...)
			rep.Batches += s.batches
			rep.Sent += s.sent
			rep.Duplicate += s.duplicate
			rep.Rejected += s.rejected
			rep.Failed += s.failed
			rep.Bytes += s.bytes
			if rep.FirstError == "" && s.firstErr != nil {
				rep.FirstError = s.firstErr.Error()
			}
		})
	}
	if cfg.Progress != nil {
		go func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-runCtx.Done():
					return
				case <-t.C:
					cfg.Progress(Progress{Elapsed: time.Since(start), Accepted: accepted.Load()})
				}
			}
		}()
	}
	wg.Wait()
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
}

type workerStats struct {
	latencies                                         []time.Duration
	batches, sent, duplicate, rejected, failed, bytes int64
	firstErr                                          error
}

func (w *worker) run(ctx context.Context, rate float64, accepted *atomic.Int64) workerStats {
	var s workerStats
	var (
		zipped  bytes.Buffer
		zw, _   = gzip.NewWriterLevel(&zipped, gzip.BestSpeed)
		batch   []results.Result
		jsonBuf []byte
		pending float64
		last    = time.Now()
		check   = w.rng.IntN(w.cfg.Shape.Checks)
	)
	for ctx.Err() == nil {
		tick := time.Now()
		pending += rate * tick.Sub(last).Seconds()
		last = tick
		n := min(int(pending), results.MaxBatchRecords)
		if n > 0 {
			batch = batch[:0]
			for range n {
				check = (check + 1) % w.cfg.Shape.Checks
				at := tick.Add(-time.Duration(w.rng.IntN(int(w.cfg.BatchEvery)))).UTC()
				batch = append(batch, w.cfg.Shape.record(w.rng, w.names[check], w.v.ID, w.v.Region, w.v.Provider, w.v.ASN, at))
			}
			jsonBuf = appendBatch(jsonBuf[:0], batch)
			body, enc := jsonBuf, ""
			if w.cfg.Gzip {
				zipped.Reset()
				zw.Reset(&zipped)
				_, _ = zw.Write(jsonBuf)
				_ = zw.Close()
				body, enc = zipped.Bytes(), "gzip"
			}
			t0 := time.Now()
			ack, err := w.c.PostEncoded(ctx, body, enc)
			lat := time.Since(t0)
			s.batches++
			s.bytes += int64(len(body))
			if err != nil {
				if ctx.Err() != nil {
					// Cut off by the end of the run: not a measurement.
					s.batches--
					break
				}
				s.failed++
				if s.firstErr == nil {
					s.firstErr = err
				}
			} else {
				s.latencies = append(s.latencies, lat)
				s.sent += int64(n)
				pending -= float64(n)
				accepted.Add(int64(len(ack.Accepted)))
				s.duplicate += int64(ack.Duplicate)
				s.rejected += int64(len(ack.Rejected))
				if len(ack.Rejected) > 0 && s.firstErr == nil {
					s.firstErr = fmt.Errorf("rejected %s: %s", ack.Rejected[0].ID, ack.Rejected[0].Reason)
				}
			}
		}
		next := tick.Add(w.cfg.BatchEvery)
		if d := time.Until(next); d > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
		}
	}
	return s
}
