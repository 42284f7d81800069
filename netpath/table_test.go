package netpath

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sampleV4 = "1.0.0.0\t1.0.0.255\t13335\tUS\tCLOUDFLARENET\n" +
	"1.0.1.0\t1.0.3.255\t0\tNone\tNot routed\n" +
	"1.0.4.0\t1.0.7.255\t38803\tAU\tWPL-AS-AP Wirefreebroadband Pty Ltd\n" +
	"8.8.8.0\t8.8.8.255\t15169\tUS\tGOOGLE\n"

const sampleV6 = "2001:4860::\t2001:4860:ffff:ffff:ffff:ffff:ffff:ffff\t15169\tUS\tGOOGLE\n" +
	"2606:4700::\t2606:4700:ffff:ffff:ffff:ffff:ffff:ffff\t13335\tUS\tCLOUDFLARENET\n"

func gz(t testing.TB, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestLoadTableLookup(t *testing.T) {
	dir := t.TempDir()
	v4 := filepath.Join(dir, "ip2asn-v4.tsv.gz")
	v6 := filepath.Join(dir, "ip2asn-v6.tsv")
	if err := os.WriteFile(v4, gz(t, sampleV4), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(v6, []byte(sampleV6), 0o644); err != nil {
		t.Fatal(err)
	}
	tab, err := LoadTable(v4, v6)
	if err != nil {
		t.Fatal(err)
	}
	if tab.Len() != 5 {
		t.Errorf("Len = %d, want 5 announced ranges", tab.Len())
	}
	tests := []struct {
		addr  string
		asn   uint32
		name  string
		found bool
	}{
		{"1.0.0.0", 13335, "CLOUDFLARENET", true},
		{"1.0.0.255", 13335, "CLOUDFLARENET", true},
		{"1.0.2.1", 0, "", false}, // AS 0: not routed
		{"1.0.5.9", 38803, "WPL-AS-AP Wirefreebroadband Pty Ltd", true},
		{"1.0.8.0", 0, "", false}, // past the last range of the block
		{"0.255.255.255", 0, "", false},
		{"8.8.8.8", 15169, "GOOGLE", true},
		{"::ffff:8.8.8.8", 15169, "GOOGLE", true},
		{"255.255.255.255", 0, "", false},
		{"2001:4860:4860::8888", 15169, "GOOGLE", true},
		{"2606:4700:4700::1111", 13335, "CLOUDFLARENET", true},
		{"2606:4701::1", 0, "", false},
		{"10.1.2.3", 0, "", false},
		{"100.64.0.1", 0, "", false},
		{"fd00::1", 0, "", false},
	}
	for _, tt := range tests {
		info, ok := tab.Lookup(netip.MustParseAddr(tt.addr))
		if ok != tt.found || info.ASN != tt.asn || info.Name != tt.name {
			t.Errorf("Lookup(%s) = %+v, %v; want AS%d %q, %v", tt.addr, info, ok, tt.asn, tt.name, tt.found)
		}
	}
	if info, _ := tab.Lookup(netip.MustParseAddr("8.8.8.8")); info.Country != "US" {
		t.Errorf("country = %q, want US", info.Country)
	}
}

// A private range in a table (some dumps carry them) still maps to no ASN.
func TestTablePrivateNeverAnswers(t *testing.T) {
	tab, err := ReadTable("t", strings.NewReader("10.0.0.0\t10.255.255.255\t64512\tZZ\tPRIVATE\n"))
	if err != nil {
		t.Fatal(err)
	}
	if info, ok := tab.Lookup(netip.MustParseAddr("10.1.1.1")); ok {
		t.Fatalf("private address mapped to %+v", info)
	}
}

func TestReadTableErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"columns", "1.0.0.0\t1.0.0.255\n", "t.tsv:1: bad ip2asn table: want 5 tab-separated columns"},
		{"start", "# comment\n\nx\t1.0.0.255\t1\tUS\tA\n", "t.tsv:3: bad ip2asn table: range_start"},
		{"end", "1.0.0.0\t1.0.0.x\t1\tUS\tA\n", "t.tsv:1: bad ip2asn table: range_end"},
		{"asn", "1.0.0.0\t1.0.0.255\tAS1\tUS\tA\n", `t.tsv:1: bad ip2asn table: AS_number "AS1"`},
		{"reversed", "1.0.0.9\t1.0.0.1\t1\tUS\tA\n", "t.tsv:1: bad ip2asn table: range_end 1.0.0.1 is before"},
		{"family", "1.0.0.0\t::1\t1\tUS\tA\n", "t.tsv:1: bad ip2asn table: range 1.0.0.0-::1 mixes"},
		{"overlap", "1.0.0.0\t1.0.0.255\t1\tUS\tA\n1.0.0.128\t1.0.1.255\t2\tUS\tB\n", "bad ip2asn table: ranges overlap at 1.0.0.128"},
		{"long", strings.Repeat("x", MaxTableLineLen+1) + "\n", "t.tsv:1: bad ip2asn table: line longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadTable("t.tsv", strings.NewReader(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrBadTable) {
				t.Fatalf("err = %v, want one containing %q wrapping ErrBadTable", err, tt.want)
			}
		})
	}
	if _, err := ReadTable("t.gz", bytes.NewReader([]byte{0x1f, 0x8b, 1, 2, 3})); err == nil {
		t.Fatal("corrupt gzip accepted")
	}
}

func FuzzReadTable(f *testing.F) {
	f.Add([]byte(sampleV4))
	f.Add([]byte(sampleV6))
	f.Add(gz(f, sampleV4))
	f.Add([]byte("1.0.0.0\t1.0.0.255\t1\n1.0.0.0\t1.0.0.0\t2\tX\tY\n"))
	f.Add([]byte("::\tffff::\t4294967295\tNone\t\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		tab, err := ReadTable("fuzz", bytes.NewReader(in))
		if err != nil {
			return
		}
		// Every range's own endpoints must answer with that range's AS.
		for _, r := range tab.v4 {
			for _, x := range []uint32{r.start, r.end} {
				a := from32(x)
				if IsPrivate(a) {
					continue
				}
				info, ok := tab.Lookup(a)
				if !ok || info != tab.infos[r.info] {
					t.Fatalf("Lookup(%s) = %+v, %v; want %+v", a, info, ok, tab.infos[r.info])
				}
			}
		}
		for _, r := range tab.v6 {
			for _, x := range []u128{r.start, r.end} {
				a := from128(x).Unmap()
				if IsPrivate(a) || a.Is4() {
					continue
				}
				info, ok := tab.Lookup(a)
				if !ok || info != tab.infos[r.info] {
					t.Fatalf("Lookup(%s) = %+v, %v; want %+v", a, info, ok, tab.infos[r.info])
				}
			}
		}
	})
}

// writeSyntheticTable writes a gzipped ip2asn-v4 file of n adjacent ranges
// spread over the public IPv4 space, the size of the real table, and
// returns its path and the covered span.
func writeSyntheticTable(tb testing.TB, n int) (string, uint32, uint32) {
	tb.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	const first = uint32(11) << 24 // 11.0.0.0, above 10/8
	step := uint32(200 << 24 / n)  // ranges up to ~211.0.0.0
	for i := range n {
		start := first + uint32(i)*step
		fmt.Fprintf(zw, "%s\t%s\t%d\tUS\tAS-SYNTH-%d Example Networks\n", from32(start), from32(start+step-1), 1000+i%70000, i%70000)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	p := filepath.Join(tb.TempDir(), "ip2asn-v4.tsv.gz")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		tb.Fatal(err)
	}
	return p, first, first + uint32(n)*step - 1
}

func BenchmarkTableLookup(b *testing.B) {
	p, lo, hi := writeSyntheticTable(b, 500_000)
	tab, err := LoadTable(p)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	addrs := make([]netip.Addr, 4096)
	for i := range addrs {
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], lo+rng.Uint32N(hi-lo))
		addrs[i] = netip.AddrFrom4(a)
	}
	b.ReportAllocs()
	b.ResetTimer()
	found := 0
	for i := 0; b.Loop(); i++ {
		if _, ok := tab.Lookup(addrs[i%len(addrs)]); ok {
			found++
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
	if found == 0 {
		b.Fatal("no lookup answered")
	}
}

func BenchmarkLoadTable500k(b *testing.B) {
	p, _, _ := writeSyntheticTable(b, 500_000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := LoadTable(p); err != nil {
			b.Fatal(err)
		}
	}
}
