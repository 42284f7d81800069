// Package loadgen is the load generator behind `picket bench ingest`: it
// enrols N vantages on a collector and has each post realistic, gzip
// compressed result batches at its share of a target rate, measuring the
// sustained results/s the collector acknowledged and the latency of its
// acknowledgements. Generate fills a store directly with a deterministic
// history (checks × vantages × interval over a span) for report
// benchmarks.
package loadgen
