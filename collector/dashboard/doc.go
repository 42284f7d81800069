// Package dashboard is the collector's web dashboard: server-rendered HTML
// pages with SVG charts drawn in Go, and the few CSS and JavaScript assets
// embedded in the binary, so that it works offline and without a CDN.
//
// Pages: the overview heat map (one row per endpoint, one cell per
// region), an endpoint page (availability, latency and phases per region,
// recent failures, AS paths with detours, open alerts), a region drill-down
// listing the vantages of one region for one endpoint, the vantages, the
// alerts and silences, and the availability report with a CSV download.
//
// Viewers sign in with a team token (they see only their team) or the
// admin token (they see every team). The token is kept in an HttpOnly,
// SameSite=Strict cookie.
package dashboard
