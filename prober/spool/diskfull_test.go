package spool

import (
	"bytes"
	"errors"
	"fmt"
	"syscall"
	"testing"

	"github.com/picketnet/picket/internal/testenv"
)

// smallDisk mounts a tmpfs of size bytes on a fresh directory: a real
// filesystem that really fills up.
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	testenv.RequireRoot(t)
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Fatalf("mount a %s tmpfs: %v", size, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

func bigRecs(from, n int) []Record {
	var out []Record
	for i := from; i < from+n; i++ {
		out = append(out, Record{ID: fmt.Sprintf("id-%05d", i), Data: bytes.Repeat([]byte{'x'}, 500)})
	}
	return out
}

// A disk that fills up with results the collector has since acknowledged
// must not stop the spool: those results are delivered, so their space is
// free to reuse. (The active segment used to keep it until it reached its
// full size, which on a full disk it never did: every later result was
// refused until the prober restarted.)
func TestDiskFullOfAcknowledgedResults(t *testing.T) {
	dir := smallDisk(t, "64k")
	// One segment (128 KiB) is larger than the whole disk.
	s := open(t, dir, func(o *Options) { o.MaxBytes = 1 << 20 })
	n := 0
	for ; ; n++ {
		err := s.Append(bigRecs(n, 1)...)
		if errors.Is(err, syscall.ENOSPC) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if n > 1000 {
			t.Fatal("a 64 KiB disk took 500 KB of results")
		}
	}
	sent := drain(t, s)
	if len(sent) != n {
		t.Fatalf("handed out %d of %d appended", len(sent), n)
	}
	if err := s.Ack(ids(sent)...); err != nil {
		t.Fatal(err)
	}
	for i := n; i < n+3*n; i++ {
		if err := s.Append(bigRecs(i, 1)...); err != nil {
			t.Fatalf("append %d after every earlier result was acknowledged: %v", i-n, err)
		}
		got := drain(t, s)
		if len(got) != 1 || got[0].ID != fmt.Sprintf("id-%05d", i) {
			t.Fatalf("handed out %v, want id-%05d", ids(got), i)
		}
		if err := s.Ack(got[0].ID); err != nil {
			t.Fatal(err)
		}
	}
	if st := s.Stats(); st.Dropped != 0 || st.Records != 0 {
		t.Fatalf("stats %+v, want nothing dropped or left", st)
	}
}

// A disk that fills up with undelivered results costs the oldest of
// them, as max_bytes does, not every new one.
func TestDiskFullDropsOldest(t *testing.T) {
	dir := smallDisk(t, "64k")
	s := open(t, dir, func(o *Options) { o.MaxBytes = 1 << 20; o.SegmentBytes = 8 << 10 })
	const total = 300 // about 150 KB
	for i := range total {
		if err := s.Append(bigRecs(i, 1)...); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	st := s.Stats()
	if st.Dropped == 0 || st.Dropped+st.Records != total {
		t.Fatalf("dropped %d + kept %d != %d appended", st.Dropped, st.Records, total)
	}
	got := drain(t, s)
	if len(got) != int(st.Records) || got[len(got)-1].ID != fmt.Sprintf("id-%05d", total-1) ||
		got[0].ID != fmt.Sprintf("id-%05d", st.Dropped) {
		t.Fatalf("kept %d records from %s to %s, dropped %d", len(got), got[0].ID, got[len(got)-1].ID, st.Dropped)
	}

	// What is kept survives a restart.
	s.Close()
	s = open(t, dir)
	if again := drain(t, s); len(again) != len(got) {
		t.Fatalf("after a restart %d records, want %d", len(again), len(got))
	}
}
