// Package loadgen is the load generator behind `picket bench ingest`: it
// registers a "bench" team's endpoints and enrols N vantages on a
// collector (which accepts results only for registered checks, so this
// belongs on a test collector), and has each vantage post realistic, gzip
// compressed result batches at its share of a target rate, measuring the
// sustained results/s the collector acknowledged and the latency of its
// acknowledgements. Generate fills a store directly with a deterministic
// history (checks × vantages × interval over a span) for report
// benchmarks.
package loadgen
