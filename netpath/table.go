package netpath

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// Limits on an ip2asn file, so that a corrupt or hostile file (a gzip bomb,
// a line without end) fails cleanly instead of exhausting memory. The real
// tables hold about 500k IPv4 and 200k IPv6 ranges.
const (
	MaxTableRanges  = 8 << 20
	MaxTableLineLen = 4 << 10
)

// ErrBadTable is wrapped by every error about the content of a table file.
var ErrBadTable = errors.New("bad ip2asn table")

// Table maps addresses to origin ASes from iptoasn.com-format files. It is
// immutable once loaded and safe for concurrent use. Lookups are a binary
// search over sorted, non-overlapping ranges.
type Table struct {
	v4 []range4
	// v4index[k] is the number of IPv4 ranges that start below k<<16, so a
	// lookup searches only the few ranges near its /16 instead of all of
	// them: two or three cache misses instead of twenty on a full table.
	v4index []uint32
	v6      []range6
	infos   []ASInfo // interned; ranges point into it
}

type range4 struct {
	start, end uint32
	info       uint32
}

type range6 struct {
	start, end u128
	info       uint32
}

// u128 is an IPv6 address as two big-endian halves, compared as a number.
type u128 struct{ hi, lo uint64 }

func (a u128) cmp(b u128) int {
	switch {
	case a.hi < b.hi:
		return -1
	case a.hi > b.hi:
		return 1
	case a.lo < b.lo:
		return -1
	case a.lo > b.lo:
		return 1
	}
	return 0
}

func to128(a netip.Addr) u128 {
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

func to32(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

// Len returns the number of announced ranges in the table.
func (t *Table) Len() int {
	if t == nil {
		return 0
	}
	return len(t.v4) + len(t.v6)
}

// Lookup returns the origin AS of addr. It reports false for addresses no
// range covers, for unannounced ranges (AS 0) and for private addresses.
func (t *Table) Lookup(addr netip.Addr) (ASInfo, bool) {
	if t == nil || IsPrivate(addr) {
		return ASInfo{}, false
	}
	addr = addr.Unmap()
	if addr.Is4() {
		x := to32(addr)
		// The range holding x is the last one starting at or below x: among
		// those starting in x's /16, or the last one before it.
		k := x >> 16
		lo, hi := t.v4index[k], t.v4index[k+1]
		i, _ := slices.BinarySearchFunc(t.v4[lo:hi], x, func(r range4, x uint32) int {
			if r.start <= x {
				return -1
			}
			return 1
		})
		i += int(lo)
		if i == 0 || t.v4[i-1].end < x {
			return ASInfo{}, false
		}
		return t.infos[t.v4[i-1].info], true
	}
	x := to128(addr)
	i, _ := slices.BinarySearchFunc(t.v6, x, func(r range6, x u128) int {
		if r.start.cmp(x) <= 0 {
			return -1
		}
		return 1
	})
	if i == 0 || t.v6[i-1].end.cmp(x) < 0 {
		return ASInfo{}, false
	}
	return t.infos[t.v6[i-1].info], true
}

// LoadTable reads one or more ip2asn files (typically ip2asn-v4.tsv.gz and
// ip2asn-v6.tsv.gz), each gzipped or plain, into one table.
func LoadTable(paths ...string) (*Table, error) {
	b := newTableBuilder()
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("ip2asn: %w", err)
		}
		err = b.read(filepath.Base(p), f)
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	return b.build()
}

// ReadTable reads one ip2asn file, gzipped or plain, from r. name is used in
// error messages ("ip2asn-v4.tsv:12: ...").
func ReadTable(name string, r io.Reader) (*Table, error) {
	b := newTableBuilder()
	if err := b.read(name, r); err != nil {
		return nil, err
	}
	return b.build()
}

type infoKey struct {
	asn           uint32
	country, name string
}

type tableBuilder struct {
	t      Table
	intern map[infoKey]uint32
}

func newTableBuilder() *tableBuilder {
	return &tableBuilder{intern: make(map[infoKey]uint32)}
}

func (b *tableBuilder) read(name string, r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("%s: %w: gzip: %w", name, ErrBadTable, err)
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, 64<<10)
	}
	sc := bufio.NewScanner(br)
	sc.Buffer(make([]byte, 0, 4096), MaxTableLineLen)
	line := 0
	for sc.Scan() {
		line++
		if err := b.parseLine(sc.Bytes()); err != nil {
			return fmt.Errorf("%s:%d: %w: %w", name, line, ErrBadTable, err)
		}
		if len(b.t.v4)+len(b.t.v6) > MaxTableRanges {
			return fmt.Errorf("%s:%d: %w: more than %d ranges", name, line, ErrBadTable, MaxTableRanges)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("%s:%d: %w: line longer than %d bytes", name, line+1, ErrBadTable, MaxTableLineLen)
		}
		return fmt.Errorf("%s:%d: %w: %w", name, line+1, ErrBadTable, err)
	}
	return nil
}

func (b *tableBuilder) parseLine(l []byte) error {
	l = bytes.TrimRight(l, "\r")
	if len(l) == 0 || l[0] == '#' {
		return nil
	}
	f := bytes.SplitN(l, []byte{'\t'}, 5)
	if len(f) < 3 {
		return fmt.Errorf("want 5 tab-separated columns (range_start, range_end, AS_number, country_code, AS_description), got %d", len(f))
	}
	start, err := netip.ParseAddr(string(f[0]))
	if err != nil {
		return fmt.Errorf("range_start: %w", err)
	}
	end, err := netip.ParseAddr(string(f[1]))
	if err != nil {
		return fmt.Errorf("range_end: %w", err)
	}
	start, end = start.Unmap(), end.Unmap()
	if start.Is4() != end.Is4() || start.Zone() != "" || end.Zone() != "" {
		return fmt.Errorf("range %s-%s mixes address families", start, end)
	}
	if end.Less(start) {
		return fmt.Errorf("range_end %s is before range_start %s", end, start)
	}
	asn, err := strconv.ParseUint(string(f[2]), 10, 32)
	if err != nil {
		return fmt.Errorf("AS_number %q: not a 32-bit number", f[2])
	}
	if asn == 0 {
		return nil // "Not routed": the same as no range at all
	}
	var key infoKey
	key.asn = uint32(asn)
	if len(f) > 3 && string(f[3]) != "None" {
		key.country = string(f[3])
	}
	if len(f) > 4 {
		key.name = string(f[4])
	}
	idx, ok := b.intern[key]
	if !ok {
		idx = uint32(len(b.t.infos))
		b.intern[key] = idx
		b.t.infos = append(b.t.infos, ASInfo{ASN: key.asn, Name: key.name, Country: key.country})
	}
	if start.Is4() {
		b.t.v4 = append(b.t.v4, range4{start: to32(start), end: to32(end), info: idx})
	} else {
		b.t.v6 = append(b.t.v6, range6{start: to128(start), end: to128(end), info: idx})
	}
	return nil
}

// build sorts the ranges and refuses overlaps, which would make a lookup's
// answer depend on the order of the file.
func (b *tableBuilder) build() (*Table, error) {
	t := b.t
	slices.SortFunc(t.v4, func(a, b range4) int {
		switch {
		case a.start < b.start:
			return -1
		case a.start > b.start:
			return 1
		}
		return 0
	})
	for i := 1; i < len(t.v4); i++ {
		if t.v4[i].start <= t.v4[i-1].end {
			return nil, fmt.Errorf("%w: ranges overlap at %s", ErrBadTable, from32(t.v4[i].start))
		}
	}
	slices.SortFunc(t.v6, func(a, b range6) int { return a.start.cmp(b.start) })
	for i := 1; i < len(t.v6); i++ {
		if t.v6[i].start.cmp(t.v6[i-1].end) <= 0 {
			return nil, fmt.Errorf("%w: ranges overlap at %s", ErrBadTable, from128(t.v6[i].start))
		}
	}
	t.v4 = slices.Clip(t.v4)
	t.v6 = slices.Clip(t.v6)
	t.v4index = make([]uint32, 1<<16+1)
	j := 0
	for k := range t.v4index {
		for j < len(t.v4) && uint64(t.v4[j].start) < uint64(k)<<16 {
			j++
		}
		t.v4index[k] = uint32(j)
	}
	return &t, nil
}

func from32(x uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], x)
	return netip.AddrFrom4(b)
}

func from128(x u128) netip.Addr {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], x.hi)
	binary.BigEndian.PutUint64(b[8:], x.lo)
	return netip.AddrFrom16(b)
}
