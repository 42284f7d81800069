// Package ctxtime waits for a moment unless a context ends first: the
// pacing of the prober's deliveries and of the load generator's batches.
package ctxtime
