// Package collector is the collector's HTTP API (DESIGN.md §5): result
// ingest from vantages, heartbeats and assignments, endpoint registration,
// teams and vantages for the operator, availability reports, Prometheus
// metrics and health checks. It composes a results.Store, the vantage
// registry and the check kinds; other packages (alerting, NEL, the
// dashboard) mount their handlers on the same server with Handle and reuse
// its authentication with TeamAuth.
package collector
