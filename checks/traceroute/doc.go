// Package traceroute is the traceroute check kind and the Paris-style
// tracer behind it and behind `picket trace`.
//
// Every probe of a run belongs to one flow, so that routers balancing load
// per flow send them all down one path: in ICMP mode every echo request
// has the same identifier and the same checksum (a payload word offsets the
// changing sequence number); in UDP mode every datagram has the same ports,
// and the probe's number is carried in its length. Probes of all TTLs are
// in flight at once, a few milliseconds apart, so a 30-hop trace takes
// about one wait, not thirty.
//
// One Tracer owns a raw ICMP socket per address family, shared by all its
// concurrent traces and open only while some trace runs. Its reader hands
// every reply to the run that owns the probe the reply quotes (destination,
// protocol, echo id or source port, sequence or length), never to a run
// chosen by process id, so many traces, to one destination or many, run in
// one process without mixing. The socket is opened in the network
// namespace of the goroutine that starts the first trace of a batch; tests
// use this to trace inside network namespaces.
//
// A name is resolved by checks/netdial, as every kind resolves, and the
// trace goes to the first address the run's target policy allows; the
// policy is checked before any probe leaves, since raw sockets have no
// connect for the policy to guard. The routers on the way are not
// destinations and are not checked: they only answer probes addressed to
// the target. The human-readable report of a record is in checks/render.
//
// The check's record (results.TracerouteDetails) carries the hops with
// their RTTs and ASNs, the AS path (netpath.CollapseASPath: silent hops are
// wildcards, 0) and whether the destination answered.
package traceroute
