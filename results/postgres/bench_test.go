package postgres

import (
	"testing"

	"github.com/picketnet/picket/results/storetest"
)

func BenchmarkIngest(b *testing.B) {
	s := open(b)
	b.Cleanup(func() { s.Close() })
	storetest.BenchIngest(b, s, 1, pg.ServerCPU)
}

// Four probers posting at once, as the collector's handlers would.
func BenchmarkIngest4(b *testing.B) {
	s := open(b)
	b.Cleanup(func() { s.Close() })
	storetest.BenchIngest(b, s, 4, pg.ServerCPU)
}

// Results of the current hour, as probers send them live; the two above
// send results of a day long past, which take the path of late results.
func BenchmarkIngestLive(b *testing.B) {
	s := open(b)
	b.Cleanup(func() { s.Close() })
	storetest.BenchIngestLive(b, s, 1, pg.ServerCPU)
}

func BenchmarkIngestLive4(b *testing.B) {
	s := open(b)
	b.Cleanup(func() { s.Close() })
	storetest.BenchIngestLive(b, s, 4, pg.ServerCPU)
}

func BenchmarkReport30d(b *testing.B) {
	s := open(b)
	b.Cleanup(func() { s.Close() })
	storetest.BenchReport(b, s, s, 1000, 20, pg.ServerCPU)
}
