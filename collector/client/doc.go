// Package client is the Go client of the collector's HTTP API, used by the
// picket CLI, the load generator and tests. Every method takes a context;
// API errors come back as *Error with the server's message.
package client
