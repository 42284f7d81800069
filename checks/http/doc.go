// Package httpcheck is the http check kind: one HTTP request (GET, HEAD,
// POST, ...) over HTTP/1.1, HTTP/2 or HTTP/3 on a fresh connection, with
// per-phase timings (dns, connect, tls, ttfb, transfer) and expectations on
// the status, body and headers of the response.
//
// Every run builds its own transport and closes every socket it opened
// before it returns, so a run measures a first visit and leaves nothing
// behind. The target policy is enforced on every address the run connects
// to, redirects included.
package httpcheck
