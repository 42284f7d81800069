// Package tlstest makes what the tests of the tls, tcp and http kinds need: a
// throwaway certificate authority, certificates with chosen names and
// validity, TLS and TCP servers on loopback that misbehave in chosen ways,
// and a check that runs leave no goroutine or file descriptor behind. It
// is for tests only.
package tlstest
