package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/picketnet/picket/internal/netlab"
	"github.com/picketnet/picket/results"
)

func TestTraceUsage(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "ip2asn-v4.tsv")
	if err := os.WriteFile(bad, []byte("1.0.0.0\t1.0.0.255\t13335\tUS\tX\n1.0.1.0\tnope\t1\tUS\tY\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want string
	}{
		{nil, "want exactly one TARGET"},
		{[]string{"a.example", "b.example"}, "want exactly one TARGET"},
		{[]string{"--mode", "sctp", "a.example"}, `mode: "sctp" is not one of icmp, udp`},
		{[]string{"a.example", "--max-hops", "99"}, "max_hops: 99 is outside 1..64 (flag --max-hops)"},
		{[]string{"a.example", "--max-hops", "0"}, "max_hops: 0 is outside 1..64 (flag --max-hops)"},
		{[]string{"a.example", "--probes", "0"}, "probes: 0 is outside 1..10 (flag --probes)"},
		{[]string{"a.example", "--probes", "-1"}, "probes: -1 is outside 1..10 (flag --probes)"},
		{[]string{"a.example", "--gap", "0"}, "gap: 0 is outside 1..64 (flag --gap)"},
		{[]string{"a.example", "--wait", "0s"}, "wait: 0s is outside 1ms..1m (flag --wait)"},
		{[]string{"a.example", "--asn-db", bad}, "ip2asn-v4.tsv:2: bad ip2asn table: range_end"},
		{[]string{"a.example", "--asn-db", filepath.Join(t.TempDir(), "missing.tsv")}, "no such file"},
		{[]string{"--no-such-flag", "a.example"}, "flag provided but not defined"},
	}
	for _, tt := range tests {
		code, _, stderr := runPicket(context.Background(), append([]string{"trace"}, tt.args...)...)
		if code != exitUsage || !strings.Contains(stderr, tt.want) {
			t.Errorf("trace %q: exit %d, stderr %q; want exit 2 and %q", tt.args, code, stderr, tt.want)
		}
		if strings.Count(strings.TrimSpace(stderr), "\n") > 0 && !strings.Contains(tt.want, "flag provided") {
			t.Errorf("trace %q: error is not one line: %q", tt.args, stderr)
		}
	}
	if code, _, stderr := runPicket(context.Background(), "trace", "-h"); code != exitOK || !strings.Contains(stderr, "usage: picket trace TARGET") {
		t.Errorf("-h: exit %d, %q", code, stderr)
	}
}

// picket trace from a host in a namespace lab, through two routers.
func TestTraceCommand(t *testing.T) {
	lab := netlab.New(t)
	h1, r1, r2, h2 := lab.Node("h1"), lab.Node("r1"), lab.Node("r2"), lab.Node("h2")
	lab.Chain([]*netlab.Node{h1, r1, r2, h2},
		[]string{"198.18.1.0/24"}, []string{"198.18.2.0/24"}, []string{"198.18.3.0/24"})
	db := filepath.Join(t.TempDir(), "ip2asn-v4.tsv")
	table := "198.18.1.0\t198.18.1.255\t64501\tFI\tFIRST-TRANSIT\n" +
		"198.18.2.0\t198.18.2.255\t64502\tDE\tSECOND-TRANSIT\n" +
		"198.18.3.0\t198.18.3.255\t64503\tNL\tDESTINATION-HOSTING\n"
	if err := os.WriteFile(db, []byte(table), 0o644); err != nil {
		t.Fatal(err)
	}

	var code int
	var stdout, stderr string
	run := func(args ...string) {
		t.Helper()
		if err := h1.Do(func() error {
			code, stdout, stderr = runPicket(context.Background(), append([]string{"trace"}, args...)...)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}

	run("198.18.3.2", "--asn-db", db, "--no-dns", "--wait", "1s")
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{"traceroute to 198.18.3.2 (198.18.3.2), mode icmp", "198.18.1.2", "FIRST-TRANSIT", "AS path: AS64501 AS64502 AS64503", "reached 198.18.3.2 in 3 hops"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}

	run("--json", "--mode", "udp", "--no-dns", "--asn-db", db, "198.18.3.2")
	var rec results.Result
	if err := json.Unmarshal([]byte(stdout), &rec); err != nil {
		t.Fatalf("--json: %v\n%s", err, stdout)
	}
	var d results.TracerouteDetails
	if err := rec.DecodeDetails(&d); err != nil {
		t.Fatal(err)
	}
	if code != exitOK || !rec.OK || rec.ID == "" || d.Mode != "udp" || !slices.Equal(d.ASPath, []uint32{64501, 64502, 64503}) || len(d.Hops) != 3 {
		t.Fatalf("exit %d, record %+v, details %+v", code, rec, d)
	}

	// Private destinations refused on request: exit 1, the record says why.
	run("198.18.3.2", "--no-dns", "--deny-private")
	if code != exitFailed || !strings.Contains(stdout, "path/denied_address") {
		t.Fatalf("--deny-private: exit %d\n%s%s", code, stdout, stderr)
	}
}
