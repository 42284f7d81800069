// Package testenv holds the rules every test follows about its
// environment: tests that need root or an external tool skip with a reason
// on a developer machine, and fail instead under CI=true, so CI never counts
// a skipped test as a pass.
package testenv
