package spool

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func open(t testing.TB, dir string, mod ...func(*Options)) *Spool {
	t.Helper()
	o := Options{Dir: dir}
	for _, m := range mod {
		m(&o)
	}
	s, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func recs(from, n int) []Record {
	var out []Record
	for i := from; i < from+n; i++ {
		out = append(out, Record{ID: fmt.Sprintf("id-%05d", i), Data: fmt.Appendf(nil, `{"n":%d}`, i)})
	}
	return out
}

func ids(rs []Record) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

// drain takes everything pending, checking data matches the ids.
func drain(t *testing.T, s *Spool) []Record {
	t.Helper()
	var all []Record
	for {
		got, err := s.Next(7, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 {
			return all
		}
		all = append(all, got...)
	}
}

func checkData(t *testing.T, rs []Record) {
	t.Helper()
	for _, r := range rs {
		var n int
		fmt.Sscanf(r.ID, "id-%d", &n)
		if want := fmt.Sprintf(`{"n":%d}`, n); string(r.Data) != want {
			t.Fatalf("record %s: data %q, want %q", r.ID, r.Data, want)
		}
	}
}

func TestAckedAreNotReplayedAfterReopen(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	if err := s.Append(recs(0, 50)...); err != nil {
		t.Fatal(err)
	}
	got := drain(t, s)
	checkData(t, got)
	if !slices.Equal(ids(got), ids(recs(0, 50))) {
		t.Fatalf("order: got %v", ids(got))
	}
	// Acknowledge the even ones only.
	var even []string
	for i, r := range got {
		if i%2 == 0 {
			even = append(even, r.ID)
		}
	}
	if err := s.Ack(even...); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Records != 25 {
		t.Fatalf("records after ack = %d, want 25", st.Records)
	}
	s.Close()

	s = open(t, dir)
	again := drain(t, s)
	checkData(t, again)
	var want []string
	for i := 1; i < 50; i += 2 {
		want = append(want, fmt.Sprintf("id-%05d", i))
	}
	if !slices.Equal(ids(again), want) {
		t.Fatalf("replayed %v, want %v", ids(again), want)
	}
	if err := s.Ack(ids(again)...); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, dir)
	if got := drain(t, s); len(got) != 0 {
		t.Fatalf("replayed acknowledged records %v", ids(got))
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(segs) != 1 {
		t.Fatalf("segments left after everything was acknowledged: %v", segs)
	}
}

func TestReleaseResendsInOrderBeforeNewer(t *testing.T) {
	s := open(t, t.TempDir())
	s.Append(recs(0, 10)...)
	first, _ := s.Next(4, 1<<20)
	s.Append(recs(10, 5)...)
	s.Release(ids(first)...)
	got := drain(t, s)
	if !slices.Equal(ids(got), ids(recs(0, 15))) {
		t.Fatalf("got %v", ids(got))
	}
}

func TestNextHonoursBudget(t *testing.T) {
	s := open(t, t.TempDir())
	s.Append(recs(0, 10)...)
	one := len(recs(0, 1)[0].Data) + len("id-00000") + 1 + recHeader
	got, _ := s.Next(100, 3*one)
	if len(got) != 3 {
		t.Fatalf("byte budget for 3 records gave %d", len(got))
	}
	got, _ = s.Next(2, 1<<20)
	if len(got) != 2 || got[0].ID != "id-00003" {
		t.Fatalf("record budget: %v", ids(got))
	}
	got, _ = s.Next(100, 1)
	if len(got) != 1 {
		t.Fatalf("a budget smaller than one record must still yield one, got %d", len(got))
	}
}

func TestTornTailIsTruncated(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	s.Append(recs(0, 5)...)
	seg := s.active().path
	s.Close()
	// A crash in the middle of a write: half a record at the end.
	f, _ := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte{200, 0, 0, 0, 1, 2, 3, 4, 5})
	f.Close()
	s = open(t, dir)
	got := drain(t, s)
	checkData(t, got)
	if len(got) != 5 {
		t.Fatalf("got %d records, want 5", len(got))
	}
	if st := s.Stats(); st.CorruptFiles != 0 {
		t.Fatalf("a torn tail is not corruption: %+v", st)
	}
}

func TestCorruptFiles(t *testing.T) {
	for _, tc := range []struct {
		name     string
		damage   func(path string) error
		wantGood int // of the 10 records in the damaged file
	}{
		{"flipped byte in the middle", func(path string) error {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			// Records are 24 bytes; the 4th starts at 8+3*24.
			b[8+3*24+12] ^= 0xff
			return os.WriteFile(path, b, 0o600)
		}, 3},
		{"not a segment", func(path string) error {
			return os.WriteFile(path, []byte("garbage that is not a spool file at all"), 0o600)
		}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, dir)
			s.Append(recs(0, 10)...)
			damaged := s.active().path
			s.Close()
			s = open(t, dir)
			s.Append(recs(10, 10)...)
			s.Close()
			if err := tc.damage(damaged); err != nil {
				t.Fatal(err)
			}

			var logs bytes.Buffer
			s = open(t, dir, func(o *Options) { o.Logger = slogTo(&logs) })
			got := drain(t, s)
			checkData(t, got)
			want := append(ids(recs(0, tc.wantGood)), ids(recs(10, 10))...)
			if !slices.Equal(ids(got), want) {
				t.Fatalf("delivered %v, want %v", ids(got), want)
			}
			if st := s.Stats(); st.CorruptFiles != 1 {
				t.Fatalf("corrupt files = %d, want 1", st.CorruptFiles)
			}
			if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), filepath.Base(damaged)) {
				t.Fatalf("no error naming the file was logged: %s", logs.String())
			}
		})
	}
}

func TestFullSpoolDropsOldestAndCounts(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, func(o *Options) { o.MaxBytes = 8 << 10; o.SegmentBytes = 1 << 10 })
	for i := range 1000 {
		if err := s.Append(recs(i, 1)...); err != nil {
			t.Fatal(err)
		}
	}
	st := s.Stats()
	if st.Bytes > 8<<10 {
		t.Fatalf("spool holds %d bytes, bound 8KiB", st.Bytes)
	}
	if st.Dropped == 0 || st.Dropped+st.Records != 1000 {
		t.Fatalf("dropped %d + kept %d != 1000 appended", st.Dropped, st.Records)
	}
	got := drain(t, s)
	checkData(t, got)
	// What is kept is the newest, contiguous, ending with the last append.
	if len(got) != int(st.Records) || got[len(got)-1].ID != "id-00999" || got[0].ID != fmt.Sprintf("id-%05d", st.Dropped) {
		t.Fatalf("kept %d records from %s to %s, dropped %d", len(got), got[0].ID, got[len(got)-1].ID, st.Dropped)
	}
}

func TestAppendRejectsOversize(t *testing.T) {
	s := open(t, t.TempDir(), func(o *Options) { o.MaxBytes = 8 << 10; o.SegmentBytes = 4 << 10 })
	if err := s.Append(Record{ID: "x", Data: make([]byte, 5<<10)}); err == nil {
		t.Fatal("a record larger than a segment was accepted")
	}
}

// Records in flight when their segment is dropped count as dropped only
// if they are not acknowledged after all.
func TestDropWhileInFlight(t *testing.T) {
	s := open(t, t.TempDir(), func(o *Options) { o.MaxBytes = 4 << 10; o.SegmentBytes = 1 << 10 })
	s.Append(recs(0, 10)...)
	flying, _ := s.Next(10, 1<<20)
	if len(flying) != 10 {
		t.Fatalf("in flight: %d", len(flying))
	}
	for i := 10; i < 400 && s.Stats().Dropped == 0; i++ {
		s.Append(recs(i, 1)...)
	}
	s.Append(recs(1000, 40)...) // enough to drop the first segment for sure
	before := s.Stats()
	s.Ack(ids(flying[:4])...)
	s.Release(ids(flying[4:])...)
	after := s.Stats()
	if got := after.Dropped - before.Dropped; got != 6 {
		t.Fatalf("releasing 6 records of a dropped segment counted %d drops", got)
	}
	got := drain(t, s)
	if int64(len(got)) != after.Records {
		t.Fatalf("Records = %d but %d can be handed out", after.Records, len(got))
	}
	for _, r := range got {
		for _, f := range flying {
			if r.ID == f.ID {
				t.Fatalf("record %s of a dropped segment handed out again", r.ID)
			}
		}
	}
}

// A segment that cannot be read (here cut short behind the spool's back)
// makes Next return the records it read before it, with the error; they
// are in flight like any handed out, so the caller must ship or Release
// them. Released, they are handed out again, first.
func TestNextReadErrorReturnsEarlierRecords(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, func(o *Options) { o.SegmentBytes = 100 })
	s.Append(recs(0, 3)...) // 3 records of 25 bytes and a header: one segment
	s.Append(recs(3, 3)...) // the next batch starts a new segment
	if s.Stats().Records != 6 || len(s.segs) != 2 {
		t.Fatalf("setup: %d records in %d segments", s.Stats().Records, len(s.segs))
	}
	if err := os.Truncate(s.segs[1].path, int64(len(magic))); err != nil {
		t.Fatal(err)
	}
	got, err := s.Next(100, 1<<20)
	if err == nil || !slices.Equal(ids(got), ids(recs(0, 3))) {
		t.Fatalf("Next = %v, %v; want the first segment's records and an error", ids(got), err)
	}
	checkData(t, got)
	s.Release(ids(got)...)
	again, _ := s.Next(3, 1<<20)
	if !slices.Equal(ids(again), ids(recs(0, 3))) {
		t.Fatalf("after Release: %v", ids(again))
	}
}
