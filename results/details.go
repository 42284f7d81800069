package results

import "time"

// The kind-specific details carried in Result.Details (DESIGN.md §4).

// HTTPDetails is the record of an http check.
type HTTPDetails struct {
	Status        int        `json:"status,omitempty"`
	HTTPVersion   string     `json:"http_version,omitempty"` // "1.1", "2", "3"
	ResponseBytes int64      `json:"response_bytes"`
	Redirects     int        `json:"redirects"`
	FinalURL      string     `json:"final_url,omitempty"`
	CertNotAfter  *time.Time `json:"cert_not_after,omitempty"`
}

// TLSDetails is the record of a tls check, and of the TLS part of a tcp
// check that asked for it.
type TLSDetails struct {
	Version       string    `json:"version,omitempty"` // "TLS 1.3"
	Cipher        string    `json:"cipher,omitempty"`
	Issuer        string    `json:"issuer,omitempty"`
	Subject       string    `json:"subject,omitempty"`
	SANs          []string  `json:"sans,omitempty"`
	NotAfter      time.Time `json:"not_after,omitzero"`
	DaysLeft      float64   `json:"days_left"`
	ChainVerified bool      `json:"chain_verified"`
	ALPN          string    `json:"alpn,omitempty"`
}

// DNSDetails is the record of a dns check. Rcode and Authoritative
// describe the answer, and are absent when none came (a timeout, a
// refused port): there was no rcode nor AA bit to read.
type DNSDetails struct {
	Rcode         string   `json:"rcode,omitempty"`
	Answers       []string `json:"answers,omitempty"` // RRs in presentation format
	Authoritative *bool    `json:"authoritative,omitempty"`
	Resolver      string   `json:"resolver"`
	Transport     string   `json:"transport,omitempty"` // udp, tcp, tls
	Truncated     bool     `json:"truncated,omitempty"` // the UDP answer was truncated and retried over TCP
	// UDPQueries is how many queries went out over UDP (1 to 3): more
	// than one means an answer did not come within a third of the timeout
	// and the query was sent again.
	UDPQueries int `json:"udp_queries,omitempty"`
	// UDPAnswerTo is the query (1-based) the UDP answer was for: below
	// UDPQueries, the answer was slow, not lost.
	UDPAnswerTo int `json:"udp_answer_to,omitempty"`
	// UDPWrongID counts datagrams from the resolver that were ignored
	// because their id matched no query sent: forged answers, or late ones
	// a middlebox rewrote.
	UDPWrongID int `json:"udp_wrong_id,omitempty"`
}

// ICMPDetails is the record of an icmp check. The round-trip times are
// nil, and absent from the JSON, when no reply came: there was no round
// trip to measure, and a 0 would read as an instant one.
type ICMPDetails struct {
	Sent       int      `json:"sent"`
	Received   int      `json:"received"`
	Loss       float64  `json:"loss"` // fraction, 0..1
	RTTMinMS   *float64 `json:"rtt_min_ms,omitempty"`
	RTTAvgMS   *float64 `json:"rtt_avg_ms,omitempty"`
	RTTMaxMS   *float64 `json:"rtt_max_ms,omitempty"`
	RTTStdDev  *float64 `json:"rtt_stddev_ms,omitempty"`
	Privileged bool     `json:"privileged"` // raw socket, as opposed to an unprivileged datagram socket
}

// TCPDetails is the record of a tcp check: the connect, and the TLS
// handshake when the spec asked for one.
type TCPDetails struct {
	TLS *TLSDetails `json:"tls,omitempty"`
}

// TracerouteDetails is the record of a traceroute check.
type TracerouteDetails struct {
	Mode    string `json:"mode"`           // icmp, udp, tcp
	Port    int    `json:"port,omitempty"` // destination port of udp and tcp probes
	FlowID  uint32 `json:"flow_id"`
	Reached bool   `json:"reached"`
	Hops    []Hop  `json:"hops"`
	// ASPath is the path by AS number with consecutive duplicates collapsed;
	// 0 stands for one or more silent hops (a wildcard).
	ASPath []uint32 `json:"as_path"`
	// RTTMS is the median RTT to the destination when it was reached.
	RTTMS float64 `json:"rtt_ms,omitempty"`
}

// Hop is one TTL of a traceroute. Addr is empty when no probe of that TTL
// was answered; RTTMS has one entry per answered probe, whoever answered it.
type Hop struct {
	TTL    int       `json:"ttl"`
	Addr   string    `json:"addr,omitempty"`
	RTTMS  []float64 `json:"rtt_ms"`
	Sent   int       `json:"sent"`
	ASN    uint32    `json:"asn,omitempty"`
	ASName string    `json:"as_name,omitempty"`
	// Unreachable is traceroute's mark ("!N", "!H", "!X", ...) when the hop
	// answered destination unreachable, which ends the path there.
	Unreachable string `json:"unreachable,omitempty"`
	// Others are the other addresses that answered probes of this TTL (a
	// per-packet load balancer, or a path that changed during the run);
	// Addr is the one that answered most.
	Others []HopResponder `json:"others,omitempty"`
}

// HopResponder is an address that answered some probes of a hop.
type HopResponder struct {
	Addr     string `json:"addr"`
	Answered int    `json:"answered"` // probes of the hop it answered
	ASN      uint32 `json:"asn,omitempty"`
	ASName   string `json:"as_name,omitempty"`
}
