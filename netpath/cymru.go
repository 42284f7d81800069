package netpath

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sync/singleflight"
)

// Cymru looks origin ASes up in Team Cymru's IP-to-ASN DNS service:
// TXT records under origin.asn.cymru.com (IPv4), origin6.asn.cymru.com
// (IPv6) and asn.cymru.com (AS names). Answers, negative ones included, are
// cached for CacheTTL. A Cymru is safe for concurrent use; concurrent
// lookups of one address share one query.
type Cymru struct {
	// Server is the DNS server to ask, "host:port". Empty means the first
	// nameserver of /etc/resolv.conf.
	Server string
	// Timeout bounds one DNS exchange; 0 means 2s.
	Timeout time.Duration
	// CacheTTL is how long an answer is kept; 0 means 1h.
	CacheTTL time.Duration
	// CacheSize bounds the number of cached answers; 0 means 65536.
	CacheSize int

	initOnce sync.Once
	server   string
	initErr  error

	mu     sync.Mutex
	byAddr map[netip.Addr]cacheEntry
	byASN  map[uint32]cacheEntry
	group  singleflight.Group
}

type cacheEntry struct {
	info    ASInfo
	found   bool
	expires time.Time
}

// ErrLookup is wrapped when the DNS service could not be asked or answered
// something unusable; unlike "not found" it is not cached.
var ErrLookup = errors.New("cymru lookup failed")

func (c *Cymru) init() {
	c.initOnce.Do(func() {
		c.byAddr = make(map[netip.Addr]cacheEntry)
		c.byASN = make(map[uint32]cacheEntry)
		c.server = c.Server
		if c.server == "" {
			cfg, err := dns.ClientConfigFromFile("/etc/resolv.conf")
			if err != nil || len(cfg.Servers) == 0 {
				c.initErr = fmt.Errorf("%w: no DNS server configured and none in /etc/resolv.conf", ErrLookup)
				return
			}
			c.server = netJoin(cfg.Servers[0], cfg.Port)
		}
	})
}

func netJoin(host, port string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + port
	}
	return host + ":" + port
}

func (c *Cymru) ttl() time.Duration {
	if c.CacheTTL > 0 {
		return c.CacheTTL
	}
	return time.Hour
}

func (c *Cymru) size() int {
	if c.CacheSize > 0 {
		return c.CacheSize
	}
	return 1 << 16
}

// Lookup returns the origin AS of addr with its name. found is false when
// the service knows no origin for addr, and without a query for private,
// documentation and benchmarking addresses; err is set only when the
// service could not be asked.
func (c *Cymru) Lookup(ctx context.Context, addr netip.Addr) (info ASInfo, found bool, err error) {
	addr = addr.Unmap()
	if isUnannounced(addr) {
		return ASInfo{}, false, nil
	}
	c.init()
	if c.initErr != nil {
		return ASInfo{}, false, c.initErr
	}
	if e, ok := c.cached(c.byAddr, addr); ok {
		return e.info, e.found, nil
	}
	v, err := c.shared(ctx, "a"+addr.String(), func(ctx context.Context) (any, error) {
		e, err := c.lookupOrigin(ctx, addr)
		if err != nil {
			return cacheEntry{}, err
		}
		if e.found {
			name, err := c.lookupName(ctx, e.info.ASN)
			if err == nil {
				e.info.Name = name.info.Name
				if e.info.Country == "" {
					e.info.Country = name.info.Country
				}
			}
			// A failed name lookup still leaves a useful ASN; it is
			// retried on the next miss of the name cache.
		}
		c.store(c.byAddr, addr, e)
		return e, nil
	})
	if err != nil {
		return ASInfo{}, false, err
	}
	e := v.(cacheEntry)
	return e.info, e.found, nil
}

// shared runs fn once for all the concurrent callers asking for key. fn
// runs under the first caller's values but not its cancellation (each
// query has its own timeout): a caller that gives up returns at once
// without failing the others that wait on the same query.
func (c *Cymru) shared(ctx context.Context, key string, fn func(context.Context) (any, error)) (any, error) {
	ch := c.group.DoChan(key, func() (any, error) { return fn(context.WithoutCancel(ctx)) })
	select {
	case r := <-ch:
		return r.Val, r.Err
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrLookup, context.Cause(ctx))
	}
}

func cachedIn[K comparable](c *Cymru, m map[K]cacheEntry, k K) (cacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := m[k]
	if !ok || time.Now().After(e.expires) {
		return cacheEntry{}, false
	}
	return e, true
}

func (c *Cymru) cached(m map[netip.Addr]cacheEntry, k netip.Addr) (cacheEntry, bool) {
	return cachedIn(c, m, k)
}

func storeIn[K comparable](c *Cymru, m map[K]cacheEntry, k K, e cacheEntry) {
	e.expires = time.Now().Add(c.ttl())
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(m) >= c.size() {
		// Drop expired entries first; when none are, drop arbitrary ones:
		// a cache miss costs one query, unbounded growth costs the process.
		now := time.Now()
		for key, old := range m {
			if now.After(old.expires) || len(m) >= c.size() {
				delete(m, key)
			}
		}
	}
	m[k] = e
}

func (c *Cymru) store(m map[netip.Addr]cacheEntry, k netip.Addr, e cacheEntry) {
	storeIn(c, m, k, e)
}

// originName is the DNS name asked for addr's origin.
func originName(addr netip.Addr) string {
	var sb strings.Builder
	if addr.Is4() {
		b := addr.As4()
		for i := 3; i >= 0; i-- {
			sb.WriteString(strconv.Itoa(int(b[i])))
			sb.WriteByte('.')
		}
		sb.WriteString("origin.asn.cymru.com.")
		return sb.String()
	}
	const hex = "0123456789abcdef"
	b := addr.As16()
	for i := 15; i >= 0; i-- {
		sb.WriteByte(hex[b[i]&0xf])
		sb.WriteByte('.')
		sb.WriteByte(hex[b[i]>>4])
		sb.WriteByte('.')
	}
	sb.WriteString("origin6.asn.cymru.com.")
	return sb.String()
}

func (c *Cymru) lookupOrigin(ctx context.Context, addr netip.Addr) (cacheEntry, error) {
	txts, err := c.queryTXT(ctx, originName(addr))
	if err != nil || len(txts) == 0 {
		return cacheEntry{}, err
	}
	// Several records mean several covering prefixes; the most specific
	// one is the route that carries the traffic.
	best, bestBits := cacheEntry{}, -1
	for _, txt := range txts {
		info, prefix, ok := parseOriginTXT(txt)
		if !ok || !prefix.Contains(addr) || prefix.Bits() <= bestBits {
			continue
		}
		best, bestBits = cacheEntry{info: info, found: true}, prefix.Bits()
	}
	return best, nil
}

func (c *Cymru) lookupName(ctx context.Context, asn uint32) (cacheEntry, error) {
	if e, ok := cachedIn(c, c.byASN, asn); ok {
		return e, nil
	}
	v, err := c.shared(ctx, "n"+strconv.FormatUint(uint64(asn), 10), func(ctx context.Context) (any, error) {
		txts, err := c.queryTXT(ctx, "AS"+strconv.FormatUint(uint64(asn), 10)+".asn.cymru.com.")
		if err != nil {
			return cacheEntry{}, err
		}
		e := cacheEntry{info: ASInfo{ASN: asn}}
		for _, txt := range txts {
			if info, ok := parseNameTXT(txt); ok && info.ASN == asn {
				e = cacheEntry{info: info, found: true}
				break
			}
		}
		storeIn(c, c.byASN, asn, e)
		return e, nil
	})
	if err != nil {
		return cacheEntry{}, err
	}
	return v.(cacheEntry), nil
}

// queryTXT returns the TXT strings of name; none for NXDOMAIN or NODATA.
func (c *Cymru) queryTXT(ctx context.Context, name string) ([]string, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeTXT)
	m.RecursionDesired = true
	cl := &dns.Client{Net: "udp", Timeout: timeout, UDPSize: 4096}
	m.SetEdns0(4096, false)
	resp, _, err := cl.ExchangeContext(ctx, m, c.server)
	if err == nil && resp.Truncated {
		cl.Net = "tcp"
		resp, _, err = cl.ExchangeContext(ctx, m, c.server)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s TXT via %s: %w", ErrLookup, name, c.server, err)
	}
	switch resp.Rcode {
	case dns.RcodeSuccess:
	case dns.RcodeNameError:
		return nil, nil
	default:
		return nil, fmt.Errorf("%w: %s TXT via %s: %s", ErrLookup, name, c.server, dns.RcodeToString[resp.Rcode])
	}
	var out []string
	for _, rr := range resp.Answer {
		if txt, ok := rr.(*dns.TXT); ok {
			out = append(out, strings.Join(txt.Txt, ""))
		}
	}
	return out, nil
}

// parseOriginTXT reads "23028 | 216.90.108.0/24 | US | arin | 1998-09-25".
// A prefix announced by several origins lists them separated by spaces;
// the first is taken.
func parseOriginTXT(s string) (ASInfo, netip.Prefix, bool) {
	f := strings.Split(s, "|")
	if len(f) < 2 {
		return ASInfo{}, netip.Prefix{}, false
	}
	asns := strings.Fields(f[0])
	if len(asns) == 0 {
		return ASInfo{}, netip.Prefix{}, false
	}
	asn, err := strconv.ParseUint(asns[0], 10, 32)
	if err != nil || asn == 0 {
		return ASInfo{}, netip.Prefix{}, false
	}
	prefix, err := netip.ParsePrefix(strings.TrimSpace(f[1]))
	if err != nil {
		return ASInfo{}, netip.Prefix{}, false
	}
	info := ASInfo{ASN: uint32(asn)}
	if len(f) > 2 {
		info.Country = clip(strings.TrimSpace(f[2]), maxCountryBytes)
	}
	return info, prefix.Masked(), true
}

// parseNameTXT reads "23028 | US | arin | 2002-01-04 | TEAMCYMRU - SAUNDERS, US".
func parseNameTXT(s string) (ASInfo, bool) {
	f := strings.Split(s, "|")
	if len(f) < 5 {
		return ASInfo{}, false
	}
	asn, err := strconv.ParseUint(strings.TrimSpace(f[0]), 10, 32)
	if err != nil || asn == 0 {
		return ASInfo{}, false
	}
	return ASInfo{
		ASN:     uint32(asn),
		Country: clip(strings.TrimSpace(f[1]), maxCountryBytes),
		Name:    clip(strings.TrimSpace(strings.Join(f[4:], "|")), maxASNameBytes),
	}, true
}

// Bounds on the text an answer from the network may put in a record: a
// TXT record can carry 64 KiB, and every traceroute hop keeps its AS name.
const (
	maxASNameBytes  = 256
	maxCountryBytes = 8
)

// clip cuts s to at most n bytes of valid UTF-8.
func clip(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.ToValidUTF8(s, "")
}
