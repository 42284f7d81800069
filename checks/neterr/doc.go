// Package neterr maps the errors that dialing, resolving, handshaking and
// reading produce to the fixed layer and code of the result record
// (DESIGN.md §4), so every check kind names the same failure the same way:
// a refused connection is connect/refused whether an http, tcp or tls check
// met it.
package neterr
