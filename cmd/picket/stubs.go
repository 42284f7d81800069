package main

// Commands whose issues have not landed yet. Each moves to its own file
// when it is implemented.
var (
	runAlerts = notImplemented("alerts")
)
