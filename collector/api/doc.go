// Package api holds the JSON bodies of the collector's HTTP API that are
// not result records (those are in results): errors, teams, vantages,
// endpoint registration and reports. The server (collector) and the Go
// client (collector/client) share them.
package api
