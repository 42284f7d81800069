// Package e2e holds Picket's end-to-end tests. They build a small
// Internet out of network namespaces — three vantages in three regions and
// ASNs, regional ISP routers, a transit core, a detour AS, a target that
// serves HTTP/1.1, HTTP/2, HTTP/3, TLS, DNS and ICMP, and a collector
// reachable at two addresses — with links whose delay and loss a userspace
// emulator (internal/linkemu) changes at run time. Real picket binaries run
// in the namespaces: a collector and one prober per vantage, configured
// through their YAML files and the CLI, as an operator would.
//
// The tests need root; they skip without it, and fail under CI=true.
package e2e
