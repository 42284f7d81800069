package prober

import (
	"github.com/prometheus/client_golang/prometheus"
	promcollectors "github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the prober's Prometheus series, on the prober's own
// registry.
type metrics struct {
	checksRun      *prometheus.CounterVec   // kind
	checksFailed   *prometheus.CounterVec   // kind, layer
	runDuration    *prometheus.HistogramVec // kind
	lag            prometheus.Histogram
	skipped        prometheus.Counter
	assigned       prometheus.Gauge
	assignErrors   prometheus.Counter
	requests       *prometheus.CounterVec // collector, path, outcome
	shipAttempts   *prometheus.CounterVec // collector
	shipFailures   *prometheus.CounterVec // collector, reason
	shipped        prometheus.Counter
	dropped        *prometheus.CounterVec // reason
	batchSeconds   prometheus.Histogram
	heartbeatsSent prometheus.Counter
}

func newMetrics(reg *prometheus.Registry, own bool, p *Prober) *metrics {
	const ns = "picket_prober"
	m := &metrics{
		checksRun: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "checks_run_total",
			Help: "Check runs completed, by kind."}, []string{"kind"}),
		checksFailed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "checks_failed_total",
			Help: "Check runs that failed, by kind and failing layer."}, []string{"kind", "layer"}),
		runDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "check_duration_seconds",
			Help:    "Duration of check runs, by kind.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}}, []string{"kind"}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "scheduling_lag_seconds",
			Help:    "How late check runs start relative to their slot.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "runs_skipped_total",
			Help: "Runs not started because the previous run of the same check was still going."}),
		assigned: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "checks_assigned",
			Help: "Checks currently scheduled."}),
		assignErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "assignment_errors_total",
			Help: "Assigned checks this prober could not parse (and does not run)."}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "collector_requests_total",
			Help: "Requests to collectors, by collector, path and outcome (ok, network, status_NNN)."}, []string{"collector", "path", "outcome"}),
		shipAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "ship_attempts_total",
			Help: "Result batches sent, by collector that answered."}, []string{"collector"}),
		shipFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "ship_failures_total",
			Help: "Result batches not acknowledged, by collector (\"none\" when none answered) and reason."}, []string{"collector", "reason"}),
		shipped: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "results_shipped_total",
			Help: "Results acknowledged as stored by a collector."}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "results_dropped_total",
			Help: "Results given up on: rejected by the collector, or not spooled."}, []string{"reason"}),
		batchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "ship_duration_seconds",
			Help: "Time to send a batch and get its acknowledgement.", Buckets: prometheus.DefBuckets}),
		heartbeatsSent: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "heartbeats_total",
			Help: "Heartbeats a collector received."}),
	}
	spoolGauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: name, Help: help}, f)
	}
	reg.MustRegister(m.checksRun, m.checksFailed, m.runDuration, m.lag, m.skipped, m.assigned, m.assignErrors,
		m.requests, m.shipAttempts, m.shipFailures, m.shipped, m.dropped, m.batchSeconds, m.heartbeatsSent,
		spoolGauge("spool_bytes", "Bytes of the spool on disk.", func() float64 { return float64(p.spoolStats().Bytes) }),
		spoolGauge("spool_records", "Results in the spool not yet acknowledged.", func() float64 { return float64(p.spoolStats().Records) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Name: "spool_dropped_total",
			Help: "Results dropped unacknowledged, oldest first, because the spool reached max_bytes or its disk was full."},
			func() float64 { return float64(p.spoolStats().Dropped) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Name: "spool_corrupt_files_total",
			Help: "Damaged spool files found at start."},
			func() float64 { return float64(p.spoolStats().CorruptFiles) }),
		// Dropped says what the bound cost; this says what damage cost.
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Name: "spool_lost_total",
			Help: "Results made unreadable by damaged spool files found at start (an estimate)."},
			func() float64 { return float64(p.spoolStats().Lost) }),
		spoolGauge("checks_running", "Check runs in progress.", func() float64 { return float64(p.sched.Running()) }),
		spoolGauge("clock_offset_seconds", "How far this host's clock is ahead of the last collector that answered (negative: behind), from its Date header, to about a second.",
			func() float64 { off, _ := p.coll.clockOffset(); return off.Seconds() }),
	)
	if own {
		// A shared registry (the quickstart's) has its owner's.
		reg.MustRegister(promcollectors.NewGoCollector(), promcollectors.NewProcessCollector(promcollectors.ProcessCollectorOpts{}))
	}
	return m
}
