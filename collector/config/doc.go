// Package config reads collector.yaml (DESIGN.md §3): where the collector
// listens, which store it uses, the admin token file, retention, the
// targets policy and the alerting and notifier sections, which it keeps as
// YAML nodes for the alerting package to decode.
package config
