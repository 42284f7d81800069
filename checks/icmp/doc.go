// Package icmpcheck is the icmp check kind: a few ICMP echo requests to a
// host (pro-bing), reporting loss and round-trip times and failing when
// the loss exceeds a threshold.
//
// A run uses a raw ICMP socket when the process may open one (root or
// CAP_NET_RAW) and the kernel's unprivileged ICMP datagram socket
// otherwise (allowed when the process's group is inside
// net.ipv4.ping_group_range). The choice is made by opening and closing
// the sockets, so no packet goes anywhere but to the target.
package icmpcheck
