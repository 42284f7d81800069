// Package netpath maps network addresses to the autonomous systems that
// announce them and reasons about paths between vantages and targets.
//
// A Table holds an iptoasn.com-format database (ip2asn-v4.tsv and
// ip2asn-v6.tsv, gzipped or plain) as sorted ranges searched by binary
// search. A Cymru client asks Team Cymru's DNS service (origin.asn.cymru.com,
// origin6.asn.cymru.com, asn.cymru.com) and caches what it learns. A
// Resolver puts the two together: the table first, DNS when the table has
// no answer.
//
// CollapseASPath turns the hops of a traceroute into an AS path, and
// Distance and MinRTT give the great-circle distance between two points and
// the speed-of-light bound on the round trip across it, so that a
// measurement faster than light in fibre can be flagged as impossible.
package netpath
