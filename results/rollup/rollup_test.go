package rollup

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/picketnet/picket/results"
)

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// A window is aligned by its length, then covered by whole days in the
// middle and finer buckets at the edges, without gaps or overlaps.
func TestWindow(t *testing.T) {
	for _, tc := range []struct {
		name, since, until string
		from, to           string
		spans              []string
	}{
		{"10 minutes", "2026-11-21T10:03:20Z", "2026-11-21T10:13:00Z",
			"2026-11-21T10:03:00Z", "2026-11-21T10:13:00Z",
			[]string{"minute 10:03-10:13"}},
		{"5 hours across an hour", "2026-11-21T09:50:00Z", "2026-11-21T14:10:00Z",
			"2026-11-21T09:50:00Z", "2026-11-21T14:10:00Z",
			[]string{"minute 09:50-10:00", "hour 10:00-14:00", "minute 14:00-14:10"}},
		{"2 days, hour aligned", "2026-11-19T09:30:00Z", "2026-11-21T14:10:00Z",
			"2026-11-19T09:00:00Z", "2026-11-21T15:00:00Z",
			[]string{"hour 09:00-00:00", "day 11-20 00:00-11-21 00:00", "hour 00:00-15:00"}},
		{"30 days, day aligned", "2026-10-22T14:30:00Z", "2026-11-21T14:30:00Z",
			"2026-10-22T00:00:00Z", "2026-11-22T00:00:00Z",
			[]string{"day 10-22 00:00-10-26 00:00", "week 10-26 00:00-11-16 00:00", "day 11-16 00:00-11-22 00:00"}},
		{"empty", "2026-11-21T10:00:00Z", "2026-11-21T10:00:00Z",
			"2026-11-21T10:00:00Z", "2026-11-21T10:00:00Z", nil},
	} {
		from, to, spans := Window(ts(tc.since), ts(tc.until))
		if !from.Equal(ts(tc.from)) || !to.Equal(ts(tc.to)) {
			t.Errorf("%s: window %v..%v, want %s..%s", tc.name, from, to, tc.from, tc.to)
		}
		var got []string
		at := from
		for _, sp := range spans {
			f := "15:04"
			if sp.Level >= Day {
				f = "01-02 15:04"
			}
			got = append(got, fmt.Sprintf("%s %s-%s", sp.Level, sp.From.Format(f), sp.To.Format(f)))
			if !sp.From.Equal(at) || !sp.From.Equal(sp.Level.Truncate(sp.From)) || !sp.To.Equal(sp.Level.Truncate(sp.To)) {
				t.Errorf("%s: span %v is not contiguous and aligned", tc.name, sp)
			}
			at = sp.To
		}
		if len(spans) > 0 && !at.Equal(to) {
			t.Errorf("%s: spans end at %v, window at %v", tc.name, at, to)
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.spans) {
			t.Errorf("%s: spans %v, want %v", tc.name, got, tc.spans)
		}
	}
}

func TestErrorsEncoding(t *testing.T) {
	m := map[string]int64{"tls/cert_expired": 3, "dns/nxdomain": 12}
	s := EncodeErrors(m)
	if s != "dns/nxdomain=12,tls/cert_expired=3" {
		t.Fatalf("encoded %q", s)
	}
	back, err := DecodeErrorMap(s)
	if err != nil || len(back) != 2 || back["dns/nxdomain"] != 12 {
		t.Fatalf("decoded %v %v", back, err)
	}
	acc, err := addErrors([]errorCount{{"dns/nxdomain", 1}}, []byte(s+",dns/nxdomain=2"))
	if err != nil || len(acc) != 2 || acc[0] != (errorCount{"dns/nxdomain", 15}) || acc[1] != (errorCount{"tls/cert_expired", 3}) {
		t.Fatalf("addErrors: %v %v", acc, err)
	}
	for _, bad := range []string{"x", "a/b=", "a/b=1x", "=3"} {
		if _, err := DecodeErrorMap(bad); err == nil {
			t.Errorf("DecodeErrorMap(%q) accepted", bad)
		}
		if _, err := addErrors(nil, []byte(bad)); err == nil {
			t.Errorf("addErrors(%q) accepted", bad)
		}
	}
}

// A pack round-trips, and folding it into a report equals adding its
// rows one by one.
func TestPack(t *testing.T) {
	var rows []*Row
	for i, v := range []string{"a", "b", "c"} {
		r := &Row{Key: Key{Level: Day, Bucket: 86400, Check: "api/http", Vantage: v},
			Team: "pay", Endpoint: "api", Kind: "http", Region: []string{"eu", "eu", "us"}[i],
			Provider: "aws", ASN: 16509, Count: 1440, Failures: int64(i), FailedMinutes: int64(i), DownMinutes: int64(i)}
		if i > 0 {
			r.Errors = map[string]int64{"http/status": int64(i)}
		}
		r.Hist.ObserveN(50+float64(i)*10, 1440)
		rows = append(rows, r)
	}
	blob, err := AppendPack(nil, rows)
	if err != nil {
		t.Fatal(err)
	}
	back, err := UnpackRows(Day, 86400, "api/http", "pay", "api", "http", blob)
	if err != nil || len(back) != 3 {
		t.Fatalf("unpack: %d rows, %v", len(back), err)
	}
	for i := range rows {
		a, b := rows[i].Rollup(), back[i].Rollup()
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Errorf("row %d:\n got %v\nwant %v", i, b, a)
		}
	}
	r1, _ := NewReport(results.ByRegion)
	if err := r1.AddPack("pay", "api", "api/http", blob); err != nil {
		t.Fatal(err)
	}
	r2, _ := NewReport(results.ByRegion)
	for _, r := range rows {
		h, _ := r.Hist.MarshalBinary()
		if err := r2.Add(&ReportRow{Team: r.Team, Endpoint: r.Endpoint, Check: r.Check, Vantage: r.Vantage,
			Region: r.Region, Provider: r.Provider, ASN: r.ASN, Count: r.Count, Failures: r.Failures,
			FailedMinutes: r.FailedMinutes, DownMinutes: r.DownMinutes, Errors: []byte(EncodeErrors(r.Errors)), Hist: h}); err != nil {
			t.Fatal(err)
		}
	}
	if a, b := fmt.Sprint(r1.Rows()), fmt.Sprint(r2.Rows()); a != b || len(r1.Rows()) != 2 {
		t.Errorf("packed report %s\nrow by row %s", a, b)
	}
	if _, err := UnpackRows(Day, 0, "c", "t", "e", "k", blob[:len(blob)-3]); err == nil {
		t.Error("truncated pack accepted")
	}
}

// LevelBucket agrees with Level.Truncate at every level, weeks included.
func TestLevelBucket(t *testing.T) {
	for _, at := range []string{"2026-11-21T14:30:07Z", "2026-11-23T00:00:00Z", "2026-11-22T23:59:59Z", "1969-12-29T00:00:00Z", "1970-01-01T00:00:00Z"} {
		for _, l := range Levels {
			tm := ts(at)
			if got, want := LevelBucket(l, tm.Unix()), l.Truncate(tm).Unix(); got != want {
				t.Errorf("%s at %s: LevelBucket %v, Truncate %v", l, at, time.Unix(got, 0).UTC(), time.Unix(want, 0).UTC())
			}
		}
	}
	if wd := Week.Truncate(ts("2026-11-21T14:30:07Z")).Weekday(); wd != time.Monday {
		t.Errorf("weeks start on %v", wd)
	}
}

// Folding a pack's checks into two reports and merging them equals
// folding them all into one.
func TestReportMerge(t *testing.T) {
	var packs [][]byte
	for c := range 4 {
		var rows []*Row
		for i, v := range []string{"a", "b", "c"} {
			r := &Row{Key: Key{Level: Day, Bucket: 86400, Check: fmt.Sprint("c", c), Vantage: v},
				Team: "pay", Endpoint: fmt.Sprint("e", c%2), Kind: "http", Region: []string{"eu", "eu", "us"}[i],
				Count: 100, Failures: int64(i + c), FailedMinutes: int64(i), DownMinutes: int64(c)}
			if i+c > 0 {
				r.Errors = map[string]int64{fmt.Sprint("http/s", c%3): int64(i + c)}
			}
			r.Hist.ObserveN(50+float64(i*c), 100)
			rows = append(rows, r)
		}
		blob, err := AppendPack(nil, rows)
		if err != nil {
			t.Fatal(err)
		}
		packs = append(packs, blob)
	}
	one, _ := NewReport(results.ByRegion)
	a, _ := NewReport(results.ByRegion)
	b, _ := NewReport(results.ByRegion)
	for c, p := range packs {
		check := fmt.Sprint("c", c)
		if err := one.AddPack("pay", fmt.Sprint("e", c%2), check, p); err != nil {
			t.Fatal(err)
		}
		part := a // c0 and c1; b gets c2 and c3, of the same endpoints and groups
		if c >= 2 {
			part = b
		}
		if err := part.AddPack("pay", fmt.Sprint("e", c%2), check, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Merge(b); err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(a.Rows()), fmt.Sprint(one.Rows()); got != want {
		t.Errorf("merged %s\nwant   %s", got, want)
	}
}

// ApplyMinutesHours must leave minute and hour rows exactly as
// ApplyDeltas does, over rows stored by earlier batches, and list them
// minutes first, each level in table order.
func TestApplyMinutesHoursMatchesApplyDeltas(t *testing.T) {
	t0 := ts("2026-11-21T09:58:00Z")
	batch := func(n int, fail func(i int) bool) []*Row {
		var rs []results.Result
		for i := range n {
			r := results.Result{ID: fmt.Sprint(i), Team: "t", Endpoint: "e", Kind: "http",
				Check: fmt.Sprintf("e/http-%d", i%3), Vantage: fmt.Sprintf("v%d", i%2), Region: "eu", Provider: "p",
				StartedAt: t0.Add(time.Duration(i*17) * time.Second), DurationMS: float64(10 + i%40), OK: !fail(i)}
			if !r.OK {
				r.Error = &results.Error{Layer: results.LayerConnect, Code: results.CodeRefused}
			}
			rs = append(rs, r)
		}
		return Deltas(rs)
	}
	stored := map[Key]*Row{}
	load := func(keys []Key) (map[Key]*Row, error) {
		out := map[Key]*Row{}
		for _, k := range keys {
			if r := stored[k]; r != nil {
				out[k] = r
			}
		}
		return out, nil
	}
	for round, fail := range []func(int) bool{
		func(i int) bool { return i%5 == 0 },
		func(i int) bool { return i%2 == 0 }, // the same minutes again: some turn down
		func(int) bool { return false },
	} {
		want, err := ApplyDeltas(batch(40, fail), load)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ApplyMinutesHours(batch(40, fail), load)
		if err != nil {
			t.Fatal(err)
		}
		wantByKey := map[Key]*Row{}
		for _, r := range want {
			if r.Level == Minute || r.Level == Hour {
				wantByKey[r.Key] = r
			}
		}
		if len(got) != len(wantByKey) {
			t.Fatalf("round %d: %d rows, want %d", round, len(got), len(wantByKey))
		}
		for i, r := range got {
			w := wantByKey[r.Key]
			if w == nil || r.Count != w.Count || r.Failures != w.Failures || r.FailedMinutes != w.FailedMinutes ||
				r.DownMinutes != w.DownMinutes || fmt.Sprint(r.Errors) != fmt.Sprint(w.Errors) || r.Hist.Count() != w.Hist.Count() {
				t.Fatalf("round %d: row %+v, want %+v", round, r, w)
			}
			if i > 0 && (got[i-1].Level > r.Level || got[i-1].Level == r.Level && CompareKeys(got[i-1].Key, r.Key) >= 0) {
				t.Fatalf("round %d: rows out of order at %d: %v then %v", round, i, got[i-1].Key, r.Key)
			}
		}
		for _, r := range got {
			stored[r.Key] = r
		}
	}
}

// PackFolder, on any number of workers and with a stored form to decode,
// must give the report that adding every pack in turn gives, and stop at
// the first pack it cannot read.
func TestPackFolder(t *testing.T) {
	type stored struct {
		check string
		pack  []byte
	}
	var packs []stored
	for c := range 300 { // several chunks per worker
		var rows []*Row
		for v := range 3 {
			r := &Row{Key: Key{Level: Day, Bucket: 86400, Check: fmt.Sprintf("e%d/http", c), Vantage: fmt.Sprint("v", v)},
				Team: "pay", Endpoint: fmt.Sprint("e", c), Kind: "http", Region: []string{"eu", "us", "ap"}[v],
				Provider: "aws", ASN: 16509, Count: 1440, Failures: int64(c % 7), FailedMinutes: int64(c % 3)}
			r.Hist.ObserveN(float64(20+c%90), 1440)
			rows = append(rows, r)
		}
		blob, err := AppendPack(nil, rows)
		if err != nil {
			t.Fatal(err)
		}
		packs = append(packs, stored{rows[0].Check, blob})
	}
	want, _ := NewReport(results.ByRegion)
	for i, p := range packs {
		if err := want.AddPack("pay", fmt.Sprint("e", i), p.check, p.pack); err != nil {
			t.Fatal(err)
		}
	}
	// A stored form: the pack behind a one-byte tag, as a store's
	// compression would wrap it.
	decode := func(dst, b []byte) ([]byte, error) {
		if len(b) == 0 || b[0] != 'P' {
			return nil, fmt.Errorf("not a stored pack")
		}
		return append(dst[:0], b[1:]...), nil
	}
	for _, tc := range []struct {
		name    string
		workers int
		decode  func(dst, b []byte) ([]byte, error)
	}{{"one worker", 1, nil}, {"four workers", 4, nil}, {"four workers, decoding", 4, decode}} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := NewPackFolder(results.ByRegion, tc.workers, tc.decode)
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range packs {
				pack := p.pack
				if tc.decode != nil {
					pack = append([]byte{'P'}, pack...)
				}
				f.Add("pay", fmt.Sprint("e", i), p.check, pack)
			}
			got, _ := NewReport(results.ByRegion)
			if err := f.Finish(got); err != nil {
				t.Fatal(err)
			}
			if a, b := fmt.Sprint(got.Rows()), fmt.Sprint(want.Rows()); a != b {
				t.Errorf("folded %s\nwant   %s", a, b)
			}
			f.Stop() // again: a no-op
		})
	}
	f, err := NewPackFolder(results.ByRegion, 2, decode)
	if err != nil {
		t.Fatal(err)
	}
	f.Add("pay", "e0", packs[0].check, packs[0].pack) // not in the stored form
	rep, _ := NewReport(results.ByRegion)
	if err := f.Finish(rep); err == nil || !strings.Contains(err.Error(), "not a stored pack") {
		t.Errorf("Finish after an unreadable pack: %v", err)
	}
}

// A read adds exactly the pending deltas of the rows it asks for.
func TestRollupFilter(t *testing.T) {
	at := func(s string) *Row {
		return &Row{Key: Key{Level: Minute, Bucket: ts(s).Unix(), Check: "api/http", Vantage: "v1"}, Team: "pay", Endpoint: "api"}
	}
	q := results.RollupQuery{Team: "pay", Check: "api/http", Since: ts("2026-11-21T10:30:00Z"), Until: ts("2026-11-21T12:00:00Z")}
	f := RollupFilter(Hour, q)
	for _, tc := range []struct {
		d    *Row
		want bool
	}{
		{at("2026-11-21T10:05:00Z"), true}, // in the hour that Since falls in
		{at("2026-11-21T09:59:00Z"), false},
		{at("2026-11-21T11:59:00Z"), true},
		{at("2026-11-21T12:00:00Z"), false},
		{func() *Row { r := at("2026-11-21T11:00:00Z"); r.Team = "web"; return r }(), false},
		{func() *Row { r := at("2026-11-21T11:00:00Z"); r.Check = "api/dns"; return r }(), false},
	} {
		if got := f.Match(tc.d); got != tc.want {
			t.Errorf("Match(%s %s %s) = %v, want %v", tc.d.Team, tc.d.Check, time.Unix(tc.d.Bucket, 0).UTC().Format(time.TimeOnly), got, tc.want)
		}
	}
	if all := RollupFilter(Minute, results.RollupQuery{}); !all.Match(at("2000-01-01T00:00:00Z")) {
		t.Error("an unbounded query does not select every delta")
	}
}

// Only results that are down count as failures: a tls/cert_expiring
// warning is a result with a latency, but lowers neither availability nor
// uptime, and is no report's top error.
func TestDeltasCountOnlyDown(t *testing.T) {
	at := ts("2026-11-21T10:00:05Z")
	ok := func() results.Result { return results.Result{OK: true} }
	failed := func(l results.Layer, c results.Code) results.Result {
		return results.Result{Error: &results.Error{Layer: l, Code: c, Message: "m"}}
	}
	expiring := func() results.Result { return failed(results.LayerTLS, results.CodeCertExpiring) }
	refused := func() results.Result { return failed(results.LayerConnect, results.CodeRefused) }
	expired := func() results.Result { return failed(results.LayerTLS, results.CodeCertExpired) }
	for _, tc := range []struct {
		name               string
		rs                 []results.Result
		failures           int64
		errors             string
		failed, down       int64 // of the minute
		availability       float64
		top                string
		topCount, downtime int64
	}{
		{"ok", []results.Result{ok(), ok()}, 0, "", 0, 0, 100, "", 0, 0},
		{"connect/refused", []results.Result{refused(), refused()}, 2, "connect/refused=2", 1, 1, 0, "connect/refused", 2, 1},
		{"tls/cert_expired is down", []results.Result{expired(), ok()}, 1, "tls/cert_expired=1", 1, 0, 50, "tls/cert_expired", 1, 0},
		{"tls/cert_expiring is up", []results.Result{expiring(), expiring()}, 0, "", 0, 0, 100, "", 0, 0},
		{"tls/cert_expiring beside a failure", []results.Result{expiring(), refused()}, 1, "connect/refused=1", 1, 0, 50, "connect/refused", 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := range tc.rs {
				r := &tc.rs[i]
				r.OK = r.Error == nil
				r.Team, r.Endpoint, r.Check, r.Kind, r.Vantage, r.Region = "pay", "api", "api/tls", "tls", "v1", "eu"
				r.StartedAt, r.DurationMS = at.Add(time.Duration(i)*30*time.Second), 40
			}
			ds := Deltas(tc.rs)
			if len(ds) != 1 {
				t.Fatalf("%d delta rows, want 1", len(ds))
			}
			d := ds[0]
			if d.Count != int64(len(tc.rs)) || d.Failures != tc.failures || EncodeErrors(d.Errors) != tc.errors || d.Hist.Count() != uint64(len(tc.rs)) {
				t.Errorf("delta: count %d failures %d errors %q latencies %d; want %d, %d, %q, %d",
					d.Count, d.Failures, EncodeErrors(d.Errors), d.Hist.Count(), len(tc.rs), tc.failures, tc.errors, len(tc.rs))
			}
			rows, err := ApplyDeltas(ds, func([]Key) (map[Key]*Row, error) { return nil, nil })
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				if r.Level == Minute && (r.FailedMinutes != tc.failed || r.DownMinutes != tc.down) {
					t.Errorf("minute: failed %d down %d, want %d, %d", r.FailedMinutes, r.DownMinutes, tc.failed, tc.down)
				}
			}
			got := hourReport(t, rows)
			if len(got) != 1 {
				t.Fatalf("%d report rows, want 1", len(got))
			}
			g := got[0]
			if g.AvailabilityPct != tc.availability || g.FailedRounds != tc.failed || g.DowntimeMinutes != tc.downtime ||
				g.TopError != tc.top || g.TopErrorCount != tc.topCount {
				t.Errorf("report row %+v; want availability %v, failed rounds %d, downtime %d, top error %q x%d",
					g, tc.availability, tc.failed, tc.downtime, tc.top, tc.topCount)
			}
		})
	}
}

// hourReport is the report by region of the hour rows among rows.
func hourReport(t *testing.T, rows []*Row) []results.AvailabilityRow {
	t.Helper()
	rep, err := NewReport(results.ByRegion)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.Level != Hour {
			continue
		}
		hist, err := r.Hist.AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := rep.Add(&ReportRow{Team: r.Team, Endpoint: r.Endpoint, Check: r.Check, Vantage: r.Vantage, Region: r.Region,
			Count: r.Count, Failures: r.Failures, FailedMinutes: r.FailedMinutes, DownMinutes: r.DownMinutes,
			Errors: []byte(EncodeErrors(r.Errors)), Hist: hist}); err != nil {
			t.Fatal(err)
		}
	}
	return rep.Rows()
}

// An endpoint's latency percentiles are made of latencies
// (results.Result.Latency): an ICMP run's average round trip, not its ping
// train of several seconds, and nothing of a traceroute's duration.
func TestDeltasObserveLatency(t *testing.T) {
	at := ts("2026-11-21T10:00:05Z")
	var rs []results.Result
	for i := range 20 {
		for _, r := range []results.Result{
			{Check: "api/http", Kind: "http", DurationMS: 100},
			{Check: "api/icmp", Kind: "icmp", DurationMS: 2096, Details: json.RawMessage(`{"sent":3,"received":3,"rtt_avg_ms":10}`)},
			{Check: "api/traceroute", Kind: "traceroute", DurationMS: 900},
		} {
			r.OK, r.Team, r.Endpoint, r.Vantage, r.Region = true, "pay", "api", "v1", "eu"
			r.StartedAt = at.Add(time.Duration(i) * time.Second)
			rs = append(rs, r)
		}
	}
	ds := Deltas(rs)
	latencies := map[string]uint64{}
	for _, d := range ds {
		latencies[d.Check] = d.Hist.Count()
		if d.Count != 20 {
			t.Errorf("%s: %d results, want 20", d.Check, d.Count)
		}
	}
	if want := map[string]uint64{"api/http": 20, "api/icmp": 20, "api/traceroute": 0}; !maps.Equal(latencies, want) {
		t.Errorf("latencies observed per check %v, want %v", latencies, want)
	}
	rows, err := ApplyDeltas(ds, func([]Key) (map[Key]*Row, error) { return nil, nil })
	if err != nil {
		t.Fatal(err)
	}
	got := hourReport(t, rows)
	if len(got) != 1 || got[0].Results != 60 || math.Abs(ms(got[0].P50MS)-10) > 0.5 || math.Abs(ms(got[0].P99MS)-100) > 2 {
		t.Fatalf("report %+v, want 60 results, p50 10 ms (ICMP round trips) and p99 100 ms (HTTP runs)", got)
	}
}

// ms is a report's latency percentile, +Inf when it has none, so that
// every comparison with a wanted latency fails.
func ms(m results.OptionalMS) float64 {
	if !m.Valid {
		return math.Inf(1)
	}
	return m.MS
}
