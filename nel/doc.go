// Package nel receives client-side failure reports: the W3C Reporting API
// envelope (application/reports+json) carrying Network Error Logging
// reports, sent by browsers and by the Go agent in package reporting.
//
// Handler serves the public POST /v1/reports/nel: it answers the CORS
// preflight of cross-origin browsers, caps the body, the reports per
// request and the rate per client network, validates every field of
// every report (Parse), rejects reports for origins no team registered,
// and stores what remains only after removing what identifies a client:
// the address becomes its AS, the AS's country and a /24 or /48 prefix,
// the URL loses its query (and for the dns and connection phases its
// path), and the user agent becomes a browser family and major version.
//
// Detector reads the per-minute counts the stores aggregate (endpoint ×
// NEL type × client network) and says when client-side failures rose well
// above their baseline, naming the type and the client networks hit.
// Headers builds the NEL, Report-To and Reporting-Endpoints headers that
// a team adds to its service.
package nel
