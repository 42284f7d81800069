package netpath

import (
	"math"
	"time"
)

// PathHop is what CollapseASPath needs to know about one TTL of a trace.
type PathHop struct {
	// Silent is true when no probe of the hop was answered.
	Silent bool
	// ASN is the origin AS of the answering address; 0 when it has none
	// (a private, shared or unannounced address).
	ASN uint32
}

// CollapseASPath turns the hops of a trace, in TTL order, into its AS path:
// consecutive hops in one AS become one entry; a run of silent hops becomes
// one 0, a wildcard that stands for any ASes; answering hops without an
// ASN (private or unannounced addresses) are skipped, since they say
// nothing about which network carries the traffic. A wildcard between two
// hops of the same AS is dropped: the silent routers sit inside that AS as
// far as anyone can tell, and keeping it would make a silent hop look like
// a change of path.
func CollapseASPath(hops []PathHop) []uint32 {
	path := []uint32{}
	for _, h := range hops {
		var asn uint32
		switch {
		case h.Silent:
			asn = 0
		case h.ASN == 0:
			continue
		default:
			asn = h.ASN
		}
		n := len(path)
		if n > 0 && path[n-1] == asn {
			continue
		}
		if asn != 0 && n >= 2 && path[n-1] == 0 && path[n-2] == asn {
			path = path[:n-1]
			continue
		}
		path = append(path, asn)
	}
	return path
}

// EarthRadiusKm is the mean radius of the Earth.
const EarthRadiusKm = 6371.0088

// FibreKmPerMs is how far light travels in optical fibre in a millisecond
// (c divided by a refractive index of about 1.5): ~200 km one way, so a
// round trip costs about 1 ms per 100 km of distance.
const FibreKmPerMs = 199.86

// Distance returns the great-circle distance in kilometres between two
// points given in degrees, by the haversine formula.
func Distance(lat1, lon1, lat2, lon2 float64) float64 {
	const rad = math.Pi / 180
	φ1, φ2 := lat1*rad, lat2*rad
	dφ, dλ := (lat2-lat1)*rad, (lon2-lon1)*rad
	a := math.Sin(dφ/2)*math.Sin(dφ/2) + math.Cos(φ1)*math.Cos(φ2)*math.Sin(dλ/2)*math.Sin(dλ/2)
	return 2 * EarthRadiusKm * math.Asin(math.Min(1, math.Sqrt(a)))
}

// MinRTT is the speed-of-light bound on the round-trip time over a
// great-circle distance in kilometres through fibre. No real measurement
// can be lower; one that is points at a wrong location or a spoofed reply.
func MinRTT(km float64) time.Duration {
	return time.Duration(2 * km / FibreKmPerMs * float64(time.Millisecond))
}
