package loadgen

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/picketnet/picket/results"
)

// Shape describes the synthetic network the records come from.
type Shape struct {
	// Team owns every generated endpoint.
	Team string
	// Checks is the number of distinct checks (endpoint/kind pairs).
	Checks int
	// FailRatio is the fraction of failed results (0..1).
	FailRatio float64
}

// regions and providers spread vantages the way a real network would.
// The regions are the bench's own, so that the endpoints Register makes
// for them are assigned to no real prober of the collector.
var (
	regions   = []string{"bench-eu-central", "bench-eu-west", "bench-us-east", "bench-us-west", "bench-ap-southeast"}
	providers = []string{"hetzner", "aws", "gcp", "digitalocean"}
	failures  = []results.Error{
		{Layer: results.LayerHTTP, Code: results.CodeStatus, Message: "status 503"},
		{Layer: results.LayerConnect, Code: results.CodeRefused, Message: "connect: connection refused"},
		{Layer: results.LayerConnect, Code: results.CodeTimeout, Message: "dial tcp: i/o timeout"},
		{Layer: results.LayerTLS, Code: results.CodeHandshake, Message: "remote error: tls: handshake failure"},
		{Layer: results.LayerDNS, Code: results.CodeServFail, Message: "SERVFAIL from 1.1.1.1"},
	}
)

// VantageIdentity returns the id, region, provider and ASN of the i-th
// generated vantage with the given id prefix.
func VantageIdentity(prefix string, i int) (id, region, provider string, asn uint32) {
	return fmt.Sprintf("%s-%03d", prefix, i), regions[i%len(regions)], providers[i%len(providers)], uint32(64500 + i%len(providers))
}

// checkNames are the strings of one generated check. A run makes them
// once per check, so that the generator spends its CPU on records, not on
// concatenating the same names again.
type checkNames struct{ endpoint, check, target, addr string }

// namesOf names check c: endpoint bench-<c> with one http check, whose
// target is an address in documentation space (203.0.113.0/24), where
// nothing answers and which registration takes without a DNS lookup.
func namesOf(c int) checkNames {
	ep := "bench-" + strconv.Itoa(c)
	addr := "203.0.113." + strconv.Itoa(c%250+1)
	return checkNames{endpoint: ep, check: ep + "/http", target: "https://" + addr + "/" + ep, addr: addr}
}

// latency draws a log-normal latency around 80 ms, as real probes spread.
func latency(rng *rand.Rand) float64 {
	return math.Round(math.Exp(4.4+0.6*rng.NormFloat64())*100) / 100
}

// Record builds one result of check c from vantage v at t, deterministic
// for a given rng state.
func (s Shape) Record(rng *rand.Rand, c int, vantage, region, provider string, asn uint32, t time.Time) results.Result {
	return s.record(rng, namesOf(c), vantage, region, provider, asn, t)
}

func (s Shape) record(rng *rand.Rand, n checkNames, vantage, region, provider string, asn uint32, t time.Time) results.Result {
	ms := latency(rng)
	r := results.Result{
		ID:         uuid7(rng, t),
		Endpoint:   n.endpoint,
		Team:       s.Team,
		Check:      n.check,
		Kind:       "http",
		Vantage:    vantage,
		Region:     region,
		Provider:   provider,
		ASN:        asn,
		Target:     n.target,
		Addr:       n.addr,
		StartedAt:  t,
		DurationMS: ms,
		OK:         true,
		Phases:     results.Phases{DNSMS: ms * 0.05, ConnectMS: ms * 0.2, TLSMS: ms * 0.3, TTFBMS: ms * 0.4, TransferMS: ms * 0.05},
		Details:    []byte(`{"status":200,"http_version":"HTTP/2.0","bytes":1534,"redirects":0}`),
	}
	if rng.Float64() < s.FailRatio {
		e := failures[rng.IntN(len(failures))]
		r.OK, r.Error = false, &e
		r.Details = []byte(`{"status":503,"http_version":"HTTP/2.0","bytes":87,"redirects":0}`)
	}
	return r
}

// uuid7 makes a UUIDv7 from t and rng, so that generated ids are unique,
// time-ordered and reproducible.
func uuid7(rng *rand.Rand, t time.Time) string {
	var b [16]byte
	ms := uint64(t.UnixMilli())
	b[0], b[1], b[2], b[3], b[4], b[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	binary.BigEndian.PutUint64(b[8:], rng.Uint64())
	r := rng.Uint32()
	b[6], b[7] = 0x70|byte(r>>8)&0x0f, byte(r)
	b[8] = b[8]&0x3f | 0x80
	const hexdigits = "0123456789abcdef"
	out := make([]byte, 36)
	j := 0
	for i, x := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out[j] = '-'
			j++
		}
		out[j], out[j+1] = hexdigits[x>>4], hexdigits[x&0xf]
		j += 2
	}
	return string(out)
}

// appendBatch appends the JSON of a batch of rs to dst, faster than
// encoding/json so the generator leaves the CPU to the collector.
func appendBatch(dst []byte, rs []results.Result) []byte {
	dst = append(dst, `{"results":[`...)
	for i := range rs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendRecord(dst, &rs[i])
	}
	return append(dst, "]}"...)
}

// appendHundredths appends ms rounded to hundredths, with two decimals,
// by integer arithmetic: strconv's shortest and fixed-precision forms of a
// float were a seventh of the load generator's CPU, which it shares with
// the collector it measures. Milliseconds to the hundredth are finer than
// any probe measures.
func appendHundredths(b []byte, ms float64) []byte {
	c := int64(math.Round(ms * 100))
	if c < 0 {
		b, c = append(b, '-'), -c
	}
	b = strconv.AppendInt(b, c/100, 10)
	return append(b, '.', byte('0'+c/10%10), byte('0'+c%10))
}

func appendRecord(b []byte, r *results.Result) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, r.ID)
	for _, f := range [...]struct{ key, v string }{
		{`,"endpoint":`, r.Endpoint}, {`,"team":`, r.Team}, {`,"check":`, r.Check}, {`,"kind":`, r.Kind},
		{`,"vantage":`, r.Vantage}, {`,"region":`, r.Region}, {`,"provider":`, r.Provider},
		{`,"target":`, r.Target}, {`,"addr":`, r.Addr},
	} {
		b = append(b, f.key...)
		b = appendString(b, f.v)
	}
	b = append(b, `,"asn":`...)
	b = strconv.AppendUint(b, uint64(r.ASN), 10)
	b = append(b, `,"started_at":"`...)
	b = r.StartedAt.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","duration_ms":`...)
	b = appendHundredths(b, r.DurationMS)
	b = append(b, `,"ok":`...)
	b = strconv.AppendBool(b, r.OK)
	if r.Error != nil {
		b = append(b, `,"error":{"layer":`...)
		b = appendString(b, string(r.Error.Layer))
		b = append(b, `,"code":`...)
		b = appendString(b, string(r.Error.Code))
		b = append(b, `,"message":`...)
		b = appendString(b, r.Error.Message)
		b = append(b, '}')
	}
	for _, ph := range [...]struct {
		key string
		ms  float64
	}{
		{`,"phases":{"dns_ms":`, r.Phases.DNSMS}, {`,"connect_ms":`, r.Phases.ConnectMS}, {`,"tls_ms":`, r.Phases.TLSMS},
		{`,"ttfb_ms":`, r.Phases.TTFBMS}, {`,"transfer_ms":`, r.Phases.TransferMS},
	} {
		b = append(b, ph.key...)
		b = appendHundredths(b, ph.ms)
	}
	b = append(b, '}')
	if len(r.Details) > 0 {
		b = append(b, `,"details":`...)
		b = append(b, r.Details...)
	}
	return append(b, '}')
}

// appendString appends v as a JSON string. The generator's strings are
// printable ASCII, copied as they are; anything else goes through
// encoding/json.
func appendString(b []byte, v string) []byte {
	for i := range len(v) {
		if c := v[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
			q, _ := json.Marshal(v)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, v...)
	return append(b, '"')
}
