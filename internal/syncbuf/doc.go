// Package syncbuf is a byte buffer that goroutines may write while
// another reads it: in tests, the destination of a logger or of a
// command's output, read while the code under test still runs.
package syncbuf
