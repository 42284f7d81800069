package prober

// Listener serves the external tests (package prober_test) the target
// the internal ones use: an address that accepts and closes connections.
var Listener = listener
