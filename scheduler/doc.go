// Package scheduler decides when checks run. It wraps gocron v2 with what a
// prober needs:
//
//   - Each job runs every Interval at a stable phase: offset =
//     hash(seed, key) mod Interval from the Unix epoch. Thousands of jobs
//     with the same interval spread evenly over it, two vantages (seeds)
//     probe a target at different moments, and a restart keeps every
//     job's phase.
//   - A run never starts while the previous run of the same job is still
//     going; the skipped run is reported to Hooks.Skipped.
//   - Every run has its job's timeout, and at most Concurrency runs go at
//     once; a run waiting for a slot starts late, and its lateness is
//     reported to Hooks.Started as scheduling lag.
//   - Set replaces the job set; jobs whose key and version are unchanged
//     keep running on their schedule untouched.
package scheduler
