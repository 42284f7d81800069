// Package rollup is the storage-independent half of the result stores:
// it turns a batch of newly stored results into the minute, hour and day
// rollup rows they change, splits a report window into rollup buckets of
// the coarsest fitting resolution, and folds rollup rows into the
// availability report. results/sqlite and results/postgres keep the rows;
// this package decides what the rows contain, so both stores answer
// reports with the same numbers.
//
// # Definitions
//
// A round is one minute of one check at one vantage: the (check, vantage,
// minute) bucket, holding every result of that check from that vantage
// that started in the minute (one result at a 60 s interval, two at 30 s).
//
// A failed result is one that is down (results.Result.Down): a
// tls/cert_expiring warning counts as a result but never as a failure, so
// a certificate about to expire does not lower availability. Rows stored
// before this rule counted those warnings as failures; they are not
// rewritten and age out with retention.
//
// A failed round is a round with at least one failed result. A down
// minute of a (check, vantage) series is a round in which more than half
// of the results failed.
//
// For one report row, an endpoint seen from a group (a region, ASN,
// provider or vantage):
//
//   - FailedRounds is the number of failed rounds of every check of the
//     endpoint at every vantage of the group.
//   - DowntimeMinutes is the mean, over the (check, vantage) series of the
//     group that reported in the window, of their down minutes, rounded to
//     the nearest minute. If every vantage of a region saw the endpoint
//     down for ten minutes the region's downtime is ten minutes; if one of
//     two vantages did, it is five. This refines the first definition
//     ("minutes in which most results failed"): it is computed from per
//     series counters, so it stays exact when rollups are merged into
//     hours and days and when late results change a minute.
//
// Each rollup row carries its series' failed and down minutes, and ingest
// keeps them exact when a late result changes a minute's state.
package rollup
