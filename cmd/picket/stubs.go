package main

// Commands whose issues have not landed yet. Each moves to its own file
// when it is implemented.
var (
	runUp        = notImplemented("up")
	runCollector = notImplemented("collector")
	runProber    = notImplemented("prober")
	runCheck     = notImplemented("check")
	runTrace     = notImplemented("trace")
	runEndpoints = notImplemented("endpoints")
	runTeams     = notImplemented("teams")
	runVantages  = notImplemented("vantages")
	runReport    = notImplemented("report")
	runAlerts    = notImplemented("alerts")
	runNEL       = notImplemented("nel")
	runBench     = notImplemented("bench")
)
