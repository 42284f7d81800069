package spool

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

func BenchmarkAppend(b *testing.B) {
	s := open(b, b.TempDir(), func(o *Options) { o.MaxBytes = 1 << 40 })
	data := make([]byte, 600) // a typical encoded http result
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := s.Append(Record{ID: "0192f1c4-0000-7000-8000-000000000000", Data: data}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReplay measures Open (scan and checksum) plus handing out and
// acknowledging every record, as after a long collector outage.
func BenchmarkReplay(b *testing.B) {
	dir := b.TempDir()
	const n = 20000
	s, err := Open(Options{Dir: dir, MaxBytes: 1 << 40})
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 600)
	for i := range n {
		s.Append(Record{ID: "0192f1c4-0000-7000-8000-" + pad(i), Data: data})
	}
	s.Close()
	b.SetBytes(int64(n * len(data)))
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		cp := b.TempDir()
		copyDir(b, dir, cp)
		b.StartTimer()
		s, err := Open(Options{Dir: cp, MaxBytes: 1 << 40})
		if err != nil {
			b.Fatal(err)
		}
		total := 0
		for {
			rs, err := s.Next(500, 4<<20)
			if err != nil {
				b.Fatal(err)
			}
			if len(rs) == 0 {
				break
			}
			total += len(rs)
			ids := make([]string, len(rs))
			for i, r := range rs {
				ids[i] = r.ID
			}
			s.Ack(ids...)
		}
		s.Close()
		if total != n {
			b.Fatalf("replayed %d of %d", total, n)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
}

func pad(i int) string {
	const digits = "000000000000"
	s := []byte(digits)
	for j := len(s) - 1; i > 0; j-- {
		s[j] = byte('0' + i%10)
		i /= 10
	}
	return string(s)
}

func copyDir(tb testing.TB, from, to string) {
	names, _ := filepath.Glob(filepath.Join(from, "*"))
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			tb.Fatal(err)
		}
		os.WriteFile(filepath.Join(to, filepath.Base(n)), b, 0o600)
	}
}

// FuzzOpen feeds arbitrary segment and acknowledgement files to Open: it
// must never panic, and whatever it delivers must be acknowledgeable.
func FuzzOpen(f *testing.F) {
	f.Add([]byte("PKSPOOL1"), []byte{})
	f.Add([]byte("PKSPOOL1\x0a\x00\x00\x00\x00\x00\x00\x00\x03abc"), []byte{8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte("garbage"), []byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, seg, ack []byte) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, segName(1)+segExt), seg, 0o600)
		os.WriteFile(filepath.Join(dir, segName(1)+ackExt), ack, 0o600)
		s, err := Open(Options{Dir: dir, Logger: slogTo(io.Discard)})
		if err != nil {
			return
		}
		defer s.Close()
		for {
			rs, err := s.Next(100, 1<<20)
			if err != nil || len(rs) == 0 {
				break
			}
			for _, r := range rs {
				s.Ack(r.ID)
			}
		}
		if st := s.Stats(); st.Records != 0 {
			t.Fatalf("records left after acknowledging all: %d", st.Records)
		}
	})
}
