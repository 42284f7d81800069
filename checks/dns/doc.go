// Package dnscheck is the dns check kind: one query, of any type
// github.com/miekg/dns knows, to a given resolver or the system's, over UDP
// (falling back to TCP when the answer is truncated), TCP or DNS-over-TLS,
// and expectations on the answer: rcode, answer text or regex, a minimum
// number of answers and the authoritative flag.
//
// The resolver is the address the check dials, so the run's target policy
// is enforced on it, at connect time. A resolver given by name is looked
// up and dialed through checks/netdial, like every kind's target: each of
// its addresses is checked against the policy, in family order, and a TCP
// retry after a truncated UDP answer goes to the server that truncated.
package dnscheck
