// Package synth generates deterministic, realistic result records and
// rollups for N checks seen from M vantages over a window: the load of
// `picket bench ingest` and the history behind report benchmarks. The same
// Config and Seed always yield the same records, ids included.
//
// Each (check, vantage) series has its own log-normal latency (vantages
// far from an endpoint are slower), a small rate of random failures with
// realistic layer/code pairs, and occasional outages of a few minutes in
// which every run of the series fails.
package synth

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"

	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/results/rollup"
)

// Config describes the generated fleet and window.
type Config struct {
	Checks   int           // endpoints, one http check each
	Vantages int           // spread over Regions, providers and ASNs
	Teams    int           // endpoints are spread over teams; 0 means 1 team per 50 endpoints
	Interval time.Duration // between runs of a check at a vantage; 0 means 60s
	Start    time.Time
	End      time.Time
	Seed     uint64
	// FailureRate is the fraction of runs failing at random; 0 means 0.5%.
	FailureRate float64
	// OutageRate is the chance, per series and hour, of an outage of 2-10
	// minutes; 0 means 0.2%.
	OutageRate float64
}

var regions = []struct {
	name      string
	providers []string
	asns      []uint32
}{
	{"eu-central", []string{"hetzner", "aws", "gcp"}, []uint32{24940, 16509, 15169}},
	{"eu-west", []string{"aws", "ovh", "azure"}, []uint32{16509, 16276, 8075}},
	{"us-east", []string{"aws", "digitalocean", "gcp"}, []uint32{14618, 14061, 396982}},
	{"us-west", []string{"aws", "vultr", "linode"}, []uint32{16509, 20473, 63949}},
	{"ap-southeast", []string{"aws", "gcp", "alibaba"}, []uint32{16509, 15169, 45102}},
}

var failures = []results.Error{
	{Layer: results.LayerConnect, Code: results.CodeTimeout, Message: "dial tcp: i/o timeout"},
	{Layer: results.LayerConnect, Code: results.CodeReset, Message: "connection reset by peer"},
	{Layer: results.LayerDNS, Code: results.CodeServFail, Message: "SERVFAIL from resolver"},
	{Layer: results.LayerTLS, Code: results.CodeHandshake, Message: "remote error: tls: handshake failure"},
	{Layer: results.LayerHTTP, Code: results.CodeStatus, Message: "status 503, want 200"},
	{Layer: results.LayerHTTP, Code: results.CodeTimeout, Message: "timeout awaiting response headers"},
}

// Vantage is one generated vantage.
type Vantage struct {
	ID, Region, Provider string
	ASN                  uint32
}

// Fleet returns the generated vantages.
func (c Config) Fleet() []Vantage {
	out := make([]Vantage, c.Vantages)
	for i := range out {
		r := regions[i%len(regions)]
		k := (i / len(regions)) % len(r.providers)
		out[i] = Vantage{
			ID:     fmt.Sprintf("%s-%s-%02d", r.name, r.providers[k], i),
			Region: r.name, Provider: r.providers[k], ASN: r.asns[k],
		}
	}
	return out
}

func (c Config) interval() time.Duration {
	if c.Interval <= 0 {
		return time.Minute
	}
	return c.Interval
}

func (c Config) teams() int {
	if c.Teams > 0 {
		return c.Teams
	}
	return max(1, c.Checks/50)
}

func (c Config) validate() error {
	if c.Checks <= 0 || c.Vantages <= 0 {
		return errors.New("synth: need at least one check and one vantage")
	}
	if !c.End.After(c.Start) {
		return errors.New("synth: end must be after start")
	}
	return nil
}

// series holds what stays the same for one (check, vantage).
type series struct {
	check    int
	v        int
	vantage  Vantage
	mu, sig  float64 // log-normal latency parameters, ln(ms)
	team     string
	endpoint string
	checkID  string
	target   string
	addr     string
}

func (c Config) series(fleet []Vantage, check, v int) series {
	rng := rand.New(rand.NewPCG(c.Seed, uint64(check)<<20|uint64(v)))
	ep := fmt.Sprintf("ep-%05d", check)
	base := 20 + 40*float64(v%len(regions)) + rng.Float64()*60 // farther regions are slower
	return series{
		check: check, v: v, vantage: fleet[v],
		mu: math.Log(base), sig: 0.08 + rng.Float64()*0.12,
		team:     fmt.Sprintf("team-%03d", check%c.teams()),
		endpoint: ep, checkID: ep + "/http",
		target: "https://" + ep + ".example.com/health",
		addr:   fmt.Sprintf("203.0.%d.%d", 113+check/250%3, check%250+1),
	}
}

// hash01 is a deterministic uniform number in [0, 1) for the given parts.
func hash01(parts ...uint64) float64 {
	h := fnv.New64a()
	var b [8]byte
	for _, p := range parts {
		binary.LittleEndian.PutUint64(b[:], p)
		h.Write(b[:])
	}
	return float64(h.Sum64()>>11) / (1 << 53)
}

// inOutage reports whether the series is in an outage at t: outages start
// at a deterministic minute of some hours and last 2-10 minutes.
func (c Config) inOutage(s *series, t time.Time) bool {
	rate := c.OutageRate
	if rate == 0 {
		rate = 0.002
	}
	hour := uint64(t.Unix() / 3600)
	if hash01(c.Seed, uint64(s.check), uint64(s.v), hour, 1) >= rate {
		return false
	}
	start := int(hash01(c.Seed, uint64(s.check), uint64(s.v), hour, 2) * 50)
	length := 2 + int(hash01(c.Seed, uint64(s.check), uint64(s.v), hour, 3)*9)
	m := int(t.Unix()/60) % 60
	return m >= start && m < start+length
}

func (c Config) failureRate() float64 {
	if c.FailureRate == 0 {
		return 0.005
	}
	return c.FailureRate
}

// Results calls fn with the records of the window in time order: for each
// interval, every vantage's batch of its runs, in batches of at most
// batchSize records of one vantage. fn may keep the slice.
func (c Config) Results(batchSize int, fn func(batch []results.Result) error) error {
	if err := c.validate(); err != nil {
		return err
	}
	if batchSize <= 0 {
		batchSize = 1000
	}
	fleet := c.Fleet()
	all := make([]series, 0, c.Checks*c.Vantages)
	for v := range fleet {
		for k := range c.Checks {
			all = append(all, c.series(fleet, k, v))
		}
	}
	step := c.interval()
	rng := rand.New(rand.NewPCG(c.Seed, 42))
	fr := c.failureRate()
	var seq uint64
	for tick := c.Start; tick.Before(c.End); tick = tick.Add(step) {
		for v := range fleet {
			batch := make([]results.Result, 0, min(batchSize, c.Checks))
			for k := range c.Checks {
				s := &all[v*c.Checks+k]
				// Runs spread over the interval, stable per series.
				at := tick.Add(time.Duration(hash01(c.Seed, uint64(k), uint64(v)) * float64(step)))
				if !at.Before(c.End) {
					continue
				}
				seq++
				batch = append(batch, c.record(s, at, seq, rng, fr))
				if len(batch) == batchSize {
					if err := fn(batch); err != nil {
						return err
					}
					batch = make([]results.Result, 0, min(batchSize, c.Checks))
				}
			}
			if len(batch) > 0 {
				if err := fn(batch); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (c Config) record(s *series, at time.Time, seq uint64, rng *rand.Rand, fr float64) results.Result {
	ms := math.Exp(s.mu + s.sig*rng.NormFloat64())
	r := results.Result{
		ID: newID(at, c.Seed, seq), Team: s.team, Endpoint: s.endpoint, Check: s.checkID, Kind: "http",
		Vantage: s.vantage.ID, Region: s.vantage.Region, Provider: s.vantage.Provider, ASN: s.vantage.ASN,
		Target: s.target, Addr: s.addr, StartedAt: at, DurationMS: math.Round(ms*100) / 100, OK: true,
		Phases: results.Phases{DNSMS: round2(ms * 0.05), ConnectMS: round2(ms * 0.2), TLSMS: round2(ms * 0.3),
			TTFBMS: round2(ms * 0.4), TransferMS: round2(ms * 0.05)},
	}
	if c.inOutage(s, at) || rng.Float64() < fr {
		f := failures[rng.IntN(len(failures))]
		r.OK, r.Error = false, &f
		r.Details = []byte(`{"status":503,"http_version":"HTTP/2.0","bytes":0,"redirects":0}`)
	} else {
		r.Details = []byte(`{"status":200,"http_version":"HTTP/2.0","bytes":1432,"redirects":0}`)
	}
	return r
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

// newID makes a UUIDv7 for time at whose random bits come from seed and
// seq, so that runs are reproducible.
func newID(at time.Time, seed, seq uint64) string {
	var u uuid.UUID
	ms := uint64(at.UnixMilli())
	u[0], u[1], u[2], u[3], u[4], u[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	binary.BigEndian.PutUint64(u[8:], seq^seed<<40)
	binary.BigEndian.PutUint16(u[6:], uint16(seq>>48)&0x0fff|0x7000)
	u[8] = u[8]&0x3f | 0x80
	return u.String()
}

// Rollups calls fn with the rollup rows the results of the window would
// produce, computed directly without making the results, in batches of
// at most 10000 rows: a day row for every whole UTC day of the window, and
// hour rows for the last hourDetail of it (0 for none) after the last day. Histograms follow
// each series' latency distribution; failures follow FailureRate, with
// one result per round at the default 60 s interval, so every failed
// round is also a down minute.
func (c Config) Rollups(hourDetail time.Duration, fn func(rows []*rollup.Row) error) error {
	if err := c.validate(); err != nil {
		return err
	}
	fleet := c.Fleet()
	perMinute := max(1, int64(time.Minute/c.interval()))
	var batch []*rollup.Row
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := fn(batch)
		batch = nil
		return err
	}
	emit := func(l rollup.Level, from time.Time, s *series, rng *rand.Rand) error {
		count := int64(l.Step()/time.Minute) * perMinute
		fails := int64(0)
		fr := c.failureRate()
		// Binomial by normal approximation, deterministic per row.
		mean := float64(count) * fr
		fails = max(0, int64(math.Round(mean+math.Sqrt(mean*(1-fr))*rng.NormFloat64())))
		row := &rollup.Row{
			Key:  rollup.Key{Level: l, Bucket: from.Unix(), Check: s.checkID, Vantage: s.vantage.ID},
			Team: s.team, Endpoint: s.endpoint, Kind: "http",
			Region: s.vantage.Region, Provider: s.vantage.Provider, ASN: s.vantage.ASN,
			Count: count, Failures: fails,
			FailedMinutes: min(fails, count/perMinute), DownMinutes: min(fails, count/perMinute),
		}
		if fails > 0 {
			row.Errors = make(map[string]int64)
			for i := range fails {
				f := failures[(int64(rng.IntN(len(failures)))+i)%int64(len(failures))]
				row.Errors[string(f.Layer)+"/"+string(f.Code)]++
			}
		}
		fillLogNormal(&row.Hist, s.mu+0.02*rng.NormFloat64(), s.sig, uint64(count))
		batch = append(batch, row)
		if len(batch) == 10000 {
			return flush()
		}
		return nil
	}
	firstDay := rollup.Day.Truncate(c.Start)
	if firstDay.Before(c.Start) {
		firstDay = firstDay.Add(24 * time.Hour)
	}
	// Hours a day row covers get no hour rows: a store may fold hour
	// rows into days, and the day would then count twice.
	hourFrom := rollup.Hour.Truncate(c.End.Add(-hourDetail))
	if daysEnd := rollup.Day.Truncate(c.End); hourFrom.Before(daysEnd) && !daysEnd.Before(firstDay) {
		hourFrom = daysEnd
	}
	// Check-major, so that a batch holds every vantage of its checks.
	for k := range c.Checks {
		for v := range fleet {
			s := c.series(fleet, k, v)
			rng := rand.New(rand.NewPCG(c.Seed, uint64(k)<<20|uint64(v)))
			for d := firstDay; !d.Add(24 * time.Hour).After(c.End); d = d.Add(24 * time.Hour) {
				if err := emit(rollup.Day, d, &s, rng); err != nil {
					return err
				}
			}
			if hourDetail > 0 {
				for h := hourFrom; !h.Add(time.Hour).After(c.End); h = h.Add(time.Hour) {
					if err := emit(rollup.Hour, h, &s, rng); err != nil {
						return err
					}
				}
			}
		}
	}
	return flush()
}

// fillLogNormal puts n observations into h, spread over its buckets as a
// log-normal distribution would put them.
func fillLogNormal(h *results.Histogram, mu, sig float64, n uint64) {
	lo, hi := math.Exp(mu-4*sig), math.Exp(mu+4*sig)
	cdf := func(x float64) float64 {
		if x <= 0 {
			return 0
		}
		return 0.5 * math.Erfc(-(math.Log(x)-mu)/(sig*math.Sqrt2))
	}
	type b struct {
		value float64
		p     float64
	}
	var bs []b
	results.HistogramBuckets(lo, hi, func(lower, value float64) {
		bs = append(bs, b{value: value, p: cdf(lower)})
	})
	var placed uint64
	best, bestN := 0, uint64(0)
	for i := range bs {
		upper := 1.0
		if i+1 < len(bs) {
			upper = bs[i+1].p
		}
		k := uint64(math.Round((upper - bs[i].p) * float64(n)))
		if k > 0 {
			h.ObserveN(bs[i].value, k)
			placed += k
			if k > bestN {
				best, bestN = i, k
			}
		}
	}
	// Rounding leaves the total a little off: settle it at the mode.
	switch {
	case placed < n:
		h.ObserveN(bs[best].value, n-placed)
	case placed > n:
		// Rare; drop the excess by rebuilding with the mode reduced.
		var fixed results.Histogram
		extra := placed - n
		for i := range bs {
			upper := 1.0
			if i+1 < len(bs) {
				upper = bs[i+1].p
			}
			k := uint64(math.Round((upper - bs[i].p) * float64(n)))
			if i == best {
				k -= min(k, extra)
			}
			fixed.ObserveN(bs[i].value, k)
		}
		*h = fixed
	}
}
