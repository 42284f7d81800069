// Package reporting is the agent a Go client application (a CLI, a
// daemon, a mobile backend) embeds to report its own network failures to
// Picket's collectors, in the same Network Error Logging format browsers
// use.
//
// The application wraps its http.RoundTripper with Agent.Wrap. Every
// request through it is classified: a failure becomes a NEL report with its
// phase (dns, connection, application) and type (dns.name_not_resolved,
// tcp.refused, tls.cert.date_invalid, http.error, ...), a success an "ok"
// report when successes are sampled. Reports never carry request bodies,
// headers or query strings: only the origin, and the path for failures
// after the request reached the server.
//
// Reporting is opt-in: an Agent whose Config.Enabled is false wraps
// nothing, writes nothing and sends nothing. When enabled, reports are
// kept in a bounded queue on disk until a collector accepts them; each
// upload tries the collectors in turn (put them in different domains), and
// a report sent late carries its age, so the collector knows when the
// failure happened.
//
// The package uses only the standard library, so that embedding it costs
// an application nothing else.
package reporting
