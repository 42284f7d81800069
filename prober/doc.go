// Package prober is the Picket agent that runs on every vantage. It
// fetches the checks assigned to its vantage from the collectors, runs
// them on schedule (package scheduler), stamps every result with a UUIDv7
// id and the vantage's identity, and ships the results to the collectors
// without losing any: every result is written to an on-disk spool
// (package prober/spool) before it is sent, and leaves the spool only
// when a collector has acknowledged it.
//
// # Running a prober in code
//
// The quickstart (`picket up`) and tests run a prober in-process:
//
//	p, err := prober.New(prober.Config{
//		Identity:   vantage.Identity{ID: "local", Region: "local", Provider: "local"},
//		Collectors: []string{"http://127.0.0.1:8080"},
//		Token:      token,
//		SpoolDir:   "./picket-data/spool",
//		Discovery:  &vantage.Discovery{Disabled: true},
//	}, prober.WithLogger(logger))
//	if err != nil { ... }
//	err = p.Run(ctx) // returns after ctx ends and the shutdown is done
//
// `picket prober --config prober.yaml` does the same with LoadConfig.
//
// # Talking to collectors
//
//   - GET /v1/assignments every PollEvery, with If-None-Match; the last
//     good assignment is kept in SpoolDir/assignment.json and used at
//     start-up before (or without) an answer. A change is applied without
//     disturbing the checks it leaves unchanged.
//   - POST /v1/results: batches of up to BatchSize results, gzipped. Only
//     ids the acknowledgement lists as accepted or rejected leave the
//     spool; the rest are sent again. A 4xx answer to a whole batch is
//     never retried as it is: see refused in ship.go.
//   - POST /v1/heartbeat every heartbeat period with the version, running
//     checks, spool depth and the last error.
//
// Every request goes to the first collector in the configured order that
// is not backing off after a failure (network error, 5xx, 429). A failure
// puts that collector in exponential backoff with jitter (BackoffMin to
// BackoffMax) and the request moves on to the next; because the order is
// walked from the primary every time, traffic returns to the primary as
// soon as its backoff has expired and it answers again.
//
// # Shutdown
//
// When Run's context ends the scheduler stops starting runs, running
// checks get ShutdownGrace to finish (runs cut short are discarded, not
// recorded as failures), one last bounded delivery attempt is made, and
// the spool is flushed. Everything unacknowledged is sent after the next
// start.
package prober
