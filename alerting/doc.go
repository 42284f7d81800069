// Package alerting decides when Picket pages (DESIGN.md §6). An Engine is
// fed the result stream and a snapshot of the registered endpoints and
// enrolled vantages, and on every evaluation it derives the set of active
// conditions:
//
//   - reachability: a check is down at a vantage after fail_after
//     consecutive failures and up after recover_after successes; a region is
//     down when most of its live vantages see it down; quorum regions page,
//     fewer raise a non-paging regional alert. Only settled verdicts count,
//     and while an alert is open a vantage that falls silent keeps its last
//     one, so probers joining or leaving never move an alert by themselves;
//   - latency anomalies against a rolling median/MAD baseline per check and
//     vantage, or an absolute latency_ms, persisting for consecutive windows
//     from enough vantages, naming the phase that grew;
//   - path detours from traceroutes: an AS that was never on the usual
//     paths appears and the RTT rises beyond the baseline, for consecutive
//     rounds; an AS change without an RTT change is an info event;
//     an RTT below the speed-of-light bound is flagged;
//   - missing vantages (no heartbeat for 3 intervals), which stop counting
//     in quorums;
//   - certificates closer to expiry than min_days_left.
//
// Conditions become alerts with a lifecycle (pending → firing → resolved);
// each transition of an alert that no silence mutes yields one
// notification per matching notifier. The engine is deterministic and keeps
// no clock of its own: callers pass the time, so scenario tests replay
// result streams exactly. Persistence of alerts, silences and the
// notification outbox is behind the small StateStore interface; senders
// live in alerting/notify.
package alerting
