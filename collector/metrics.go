package collector

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/picketnet/picket/results"
)

// metrics are the collector's own metrics and the per-check probe gauges.
type metrics struct {
	ingested        *prometheus.CounterVec
	rejected        *prometheus.CounterVec
	rejectedResults *prometheus.CounterVec
	batchRecords    prometheus.Histogram
	commitRecords   prometheus.Histogram
	storeSeconds    *prometheus.HistogramVec
	ingestWaiting   prometheus.Gauge
	probes          *probeSeries
}

// newMetrics registers the collector's metrics in reg; backlog, when not
// nil, is the store's compaction backlog.
func newMetrics(reg *prometheus.Registry, maxSeries int, ttl time.Duration, now func() time.Time, backlog pendingRollups) (*metrics, error) {
	m := &metrics{
		ingested: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "picket_collector_results_ingested_total",
			Help: "Result records acknowledged to vantages, by outcome (accepted: newly stored; duplicate: already stored).",
		}, []string{"outcome"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "picket_collector_rejected_requests_total",
			Help: "API requests answered with an error, by reason (the code of the JSON error).",
		}, []string{"reason"}),
		rejectedResults: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "picket_collector_rejected_results_total",
			Help: "Result records refused inside accepted batches, by reason (invalid, wrong_vantage).",
		}, []string{"reason"}),
		batchRecords: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "picket_collector_batch_results",
			Help:    "Records per result batch.",
			Buckets: []float64{1, 10, 50, 100, 250, 500, 1000, 2500, 5000},
		}),
		commitRecords: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "picket_collector_commit_results",
			Help:    "Records per store transaction; concurrent batches are merged into one (group commit).",
			Buckets: []float64{1, 10, 100, 500, 1000, 2500, 5000, 10000, 20000},
		}),
		storeSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "picket_collector_store_seconds",
			Help:    "Latency of store operations, by operation.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 12),
		}, []string{"op"}),
		ingestWaiting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "picket_collector_ingest_waiting_batches",
			Help: "Result batches read but waiting for one of the max_ingest_batches slots to be decompressed.",
		}),
		probes: newProbeSeries(maxSeries, ttl, now),
	}
	cs := []prometheus.Collector{
		m.ingested, m.rejected, m.rejectedResults, m.batchRecords, m.commitRecords, m.storeSeconds, m.ingestWaiting, m.probes,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	}
	if backlog != nil {
		cs = append(cs, &backlogGauge{store: backlog, desc: prometheus.NewDesc("picket_rollup_pending_batches",
			"Committed batches of rollup deltas waiting for compaction, in the store (the same on every replica).", nil, nil)})
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// pendingRollups is a store that can count its compaction backlog, as
// both stores can.
type pendingRollups interface {
	PendingRollups(ctx context.Context) (int64, error)
}

// backlogGauge reads the store's compaction backlog at each scrape. The
// batches wait in the database, so every replica reports the same
// number, whichever of them compacts.
type backlogGauge struct {
	store pendingRollups
	desc  *prometheus.Desc
}

// backlogTimeout bounds the store's answer within a scrape.
const backlogTimeout = 2 * time.Second

func (g *backlogGauge) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

// Collect leaves the gauge out when the store does not answer: its outage
// is logged and counted elsewhere, and must not fail the scrape of every
// other metric.
func (g *backlogGauge) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), backlogTimeout)
	defer cancel()
	n, err := g.store.PendingRollups(ctx)
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, float64(n))
}

func (s *Server) metricsHandler() http.Handler {
	h := promhttp.HandlerFor(s.opt.Metrics, promhttp.HandlerOpts{ErrorLog: slogPrinter{s}, MaxRequestsInFlight: 4})
	if s.opt.PublicMetrics {
		return h
	}
	return s.adminAuth(h.ServeHTTP)
}

type slogPrinter struct{ s *Server }

func (p slogPrinter) Println(v ...any) { p.s.log.Warn("metrics", "err", v) }

// probeSeries exposes the latest result of every (team, endpoint, check,
// region, vantage) as the gauges picket_probe_success and
// picket_probe_duration_seconds, so an existing Prometheus can scrape the
// network's view without reading the store.
//
// Cardinality is bounded two ways: a series not updated for ttl is dropped
// (a deleted check or a dead vantage disappears), and at most max series
// are kept — when a new series would exceed it, the least recently
// updated tenth is evicted and counted in picket_probe_series_evicted_total.
// A series is one check run by one vantage, so max = 100000 covers e.g.
// 2,000 checks on 50 vantages.
type probeSeries struct {
	mu      sync.Mutex
	max     int
	ttl     time.Duration
	now     func() time.Time
	series  map[probeKey]*probeValue
	evicted prometheus.Counter

	success, duration, count *prometheus.Desc
}

type probeKey struct{ team, endpoint, check, region, vantage string }

type probeValue struct {
	ok        bool
	seconds   float64
	startedAt time.Time
	updated   time.Time
}

func newProbeSeries(max int, ttl time.Duration, now func() time.Time) *probeSeries {
	labels := []string{"team", "endpoint", "check", "region", "vantage"}
	return &probeSeries{
		max: max, ttl: ttl, now: now,
		series: map[probeKey]*probeValue{},
		evicted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "picket_probe_series_evicted_total",
			Help: "Probe series dropped because picket_probe_series reached its bound.",
		}),
		// Like blackbox_exporter's probe_success, 1 means reachable: a
		// tls/cert_expiring warning is 1 (results.Result.Down), and the
		// expiry is the cert_expiry alert's, so that an
		// avg_over_time(picket_probe_success) availability agrees with
		// the report's.
		success:  prometheus.NewDesc("picket_probe_success", "1 if the latest run of the check from the vantage found the endpoint up (a tls/cert_expiring warning is up), else 0.", labels, nil),
		duration: prometheus.NewDesc("picket_probe_duration_seconds", "Duration of the latest run of the check from the vantage.", labels, nil),
		count:    prometheus.NewDesc("picket_probe_series", "Probe series currently exposed (bounded by metrics.max_probe_series).", nil, nil),
	}
}

// observe records the newest result per series; older (late, spooled)
// results do not overwrite newer ones.
func (p *probeSeries) observe(rs []results.Result) {
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range rs {
		r := &rs[i]
		k := probeKey{r.Team, r.Endpoint, r.Check, r.Region, r.Vantage}
		v, ok := p.series[k]
		if !ok {
			if len(p.series) >= p.max {
				p.evictLocked()
			}
			v = &probeValue{}
			p.series[k] = v
		} else if r.StartedAt.Before(v.startedAt) {
			continue
		}
		*v = probeValue{ok: !r.Down(), seconds: r.DurationMS / 1000, startedAt: r.StartedAt, updated: now}
	}
}

// evictLocked drops the least recently updated tenth of the series.
func (p *probeSeries) evictLocked() {
	type aged struct {
		k probeKey
		t time.Time
	}
	all := make([]aged, 0, len(p.series))
	for k, v := range p.series {
		all = append(all, aged{k, v.updated})
	}
	slices.SortFunc(all, func(a, b aged) int { return a.t.Compare(b.t) })
	n := max(1, len(all)/10)
	for _, a := range all[:n] {
		delete(p.series, a.k)
	}
	p.evicted.Add(float64(n))
}

func (p *probeSeries) Describe(ch chan<- *prometheus.Desc) {
	ch <- p.success
	ch <- p.duration
	ch <- p.count
	p.evicted.Describe(ch)
}

func (p *probeSeries) Collect(ch chan<- prometheus.Metric) {
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, v := range p.series {
		if now.Sub(v.updated) > p.ttl {
			delete(p.series, k)
			continue
		}
		ok := 0.0
		if v.ok {
			ok = 1
		}
		ch <- prometheus.MustNewConstMetric(p.success, prometheus.GaugeValue, ok, k.team, k.endpoint, k.check, k.region, k.vantage)
		ch <- prometheus.MustNewConstMetric(p.duration, prometheus.GaugeValue, v.seconds, k.team, k.endpoint, k.check, k.region, k.vantage)
	}
	ch <- prometheus.MustNewConstMetric(p.count, prometheus.GaugeValue, float64(len(p.series)))
	p.evicted.Collect(ch)
}
