package vantage

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
)

// Discovery finds a prober's public address and its ASN, for identities
// that do not state them. Both are best effort: callers run it in the
// background and carry on without an answer.
type Discovery struct {
	// Disabled turns discovery off.
	Disabled bool
	// AddrServers are DNS servers (host:port) that answer AddrName with
	// the address the query came from; default OpenDNS's resolvers.
	AddrServers []string
	// AddrName is the name those servers answer; default
	// "myip.opendns.com".
	AddrName string
	// ASNServer is the DNS server (host:port) asked for Team Cymru's
	// origin.asn.cymru.com TXT records; empty uses the system resolver.
	ASNServer string
	// ASNDB is an iptoasn.com ip2asn-v4.tsv (optionally .gz); when set it
	// is used instead of Team Cymru.
	ASNDB string
	// Timeout bounds each query (default 3s).
	Timeout time.Duration
}

func (d Discovery) timeout() time.Duration {
	if d.Timeout > 0 {
		return d.Timeout
	}
	return 3 * time.Second
}

// resolver returns a resolver that sends every query to server, or the
// system resolver when server is empty.
func resolver(server string) *net.Resolver {
	if server == "" {
		return net.DefaultResolver
	}
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, server)
	}}
}

// PublicAddr asks the address servers, in order, which address our
// queries come from.
func (d Discovery) PublicAddr(ctx context.Context) (netip.Addr, error) {
	servers := d.AddrServers
	if len(servers) == 0 {
		servers = []string{"208.67.222.222:53", "208.67.220.220:53"}
	}
	name := d.AddrName
	if name == "" {
		name = "myip.opendns.com"
	}
	var errs []error
	for _, s := range servers {
		qctx, cancel := context.WithTimeout(ctx, d.timeout())
		addrs, err := resolver(s).LookupNetIP(qctx, "ip4", name)
		cancel()
		if err == nil && len(addrs) > 0 {
			return addrs[0].Unmap(), nil
		}
		if err == nil {
			err = errors.New("no address in the answer")
		}
		errs = append(errs, fmt.Errorf("%s: %w", s, err))
	}
	return netip.Addr{}, fmt.Errorf("discover public address: %w", errors.Join(errs...))
}

// ASN finds the origin AS of addr.
func (d Discovery) ASN(ctx context.Context, addr netip.Addr) (uint32, error) {
	if d.ASNDB != "" {
		return lookupASNDB(d.ASNDB, addr)
	}
	if !addr.Is4() {
		return 0, fmt.Errorf("discover ASN of %s: only IPv4 is supported", addr)
	}
	b := addr.As4()
	name := fmt.Sprintf("%d.%d.%d.%d.origin.asn.cymru.com", b[3], b[2], b[1], b[0])
	qctx, cancel := context.WithTimeout(ctx, d.timeout())
	defer cancel()
	txts, err := resolver(d.ASNServer).LookupTXT(qctx, name)
	if err != nil {
		return 0, fmt.Errorf("discover ASN of %s: %w", addr, err)
	}
	for _, t := range txts {
		// "24940 | 95.216.0.0/16 | DE | ripencc | 2012-05-04"; a prefix
		// announced by several ASes lists them space-separated first.
		first, _, _ := strings.Cut(t, "|")
		fields := strings.Fields(first)
		if len(fields) == 0 {
			continue
		}
		if asn, err := strconv.ParseUint(fields[0], 10, 32); err == nil && asn != 0 {
			return uint32(asn), nil
		}
	}
	return 0, fmt.Errorf("discover ASN of %s: no usable answer in %q", addr, txts)
}

// lookupASNDB scans an ip2asn-v4 TSV (range_start, range_end, AS number,
// country, description) for the range that holds addr.
func lookupASNDB(path string, addr netip.Addr) (uint32, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("asn_db: %w", err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return 0, fmt.Errorf("asn_db %s: %w", path, err)
		}
		defer gz.Close()
		r = gz
	}
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		fields := strings.Split(sc.Text(), "\t")
		if len(fields) < 3 {
			continue
		}
		lo, err1 := netip.ParseAddr(fields[0])
		hi, err2 := netip.ParseAddr(fields[1])
		if err1 != nil || err2 != nil {
			return 0, fmt.Errorf("asn_db %s:%d: bad address range", path, line)
		}
		if addr.Compare(lo) >= 0 && addr.Compare(hi) <= 0 {
			asn, err := strconv.ParseUint(fields[2], 10, 32)
			if err != nil {
				return 0, fmt.Errorf("asn_db %s:%d: bad AS number %q", path, line, fields[2])
			}
			if asn == 0 {
				return 0, fmt.Errorf("asn_db: %s is not routed", addr)
			}
			return uint32(asn), nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("asn_db %s: %w", path, err)
	}
	return 0, fmt.Errorf("asn_db: no range holds %s", addr)
}
