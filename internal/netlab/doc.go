// Package netlab builds throwaway networks of Linux network namespaces for
// tests: hosts and routers joined by veth pairs, with addresses, routes
// (ECMP included), forwarding and iptables rules, all removed by
// t.Cleanup even when the test fails.
//
// A test makes a Lab, adds Nodes (one namespace each), joins them with
// Link, and then runs code inside a node in one of two ways:
//
//   - Node.Do runs a function on an OS thread switched into the node's
//     namespace. Sockets opened by that function stay in the namespace for
//     their whole life, whichever goroutine later reads or writes them, so a
//     test can open a server's listener or a prober's raw socket inside the
//     lab and drive it from ordinary goroutines. Goroutines started by the
//     function itself run in the test's own namespace: open sockets first.
//   - Node.Command returns an exec.Cmd that runs a program inside the node
//     (ip netns exec), for tools and for the picket binary itself.
//
// Names of namespaces carry a per-lab prefix made of the test process's id
// and a random part ("pk4242-9f1c-r1"), so tests of several packages
// running at once never collide, and a later lab removes the namespaces of
// a test binary that crashed before its cleanups ran. Every node starts with its
// loopback up and the kernel's ICMP rate limits off, so that a test sees
// every reply it provoked; a test that wants a hop to rate-limit asks for
// it with RateLimitTimeExceeded. Packets never leave the lab: no node has
// a link to the host's namespace.
//
// Everything here needs root and the ip(8) command; New skips the test
// (fails it under CI=true) when they are missing. The end-to-end tests
// extend the lab with a userspace link emulator over TUN devices for delay
// and loss, since the kernel has no netem.
package netlab
