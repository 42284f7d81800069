// Package tlscheck is the tls check kind: a TLS handshake to host:port
// that describes the server's certificate (issuer, subject, SANs, expiry),
// verifies its chain and hostname, and checks the expectations an operator
// sets on it (days left before expiry, minimum protocol version).
//
// The handshake always completes without verification first and the chain
// is verified afterwards, so that an expired or untrusted certificate is
// still described in the record. Handshake and Connect are exported
// because the tcp kind runs the same code when asked for TLS.
package tlscheck
