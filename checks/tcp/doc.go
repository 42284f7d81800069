// Package tcpcheck is the tcp check kind: a TCP connect to host:port that
// reports how long the name lookup and the connect took, optionally
// followed by a TLS handshake checked exactly as the tls kind checks it.
package tcpcheck
