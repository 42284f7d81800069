// Package netdial is how every check kind reaches its target: it resolves
// the target's name, timing the lookup apart from the connect, orders the
// addresses by family, races the two families as Happy Eyeballs does
// (RFC 8305), and enforces the target policy on each address at connect
// time, after DNS, so that a name rebound to a denied address between
// registration and run is still refused.
//
// The http kind opens its TCP connections here, the tls and tcp kinds
// their one connection, and the icmp kind resolves its target here.
package netdial
