package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/picketnet/picket/results/storetest"
)

func benchStore(b *testing.B) *Store {
	s, err := Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func BenchmarkIngest(b *testing.B) { storetest.BenchIngest(b, benchStore(b), 1, storetest.NoServer) }

// Concurrent batches queue for the one writer.
func BenchmarkIngest4(b *testing.B) { storetest.BenchIngest(b, benchStore(b), 4, storetest.NoServer) }

func BenchmarkReport30d(b *testing.B) {
	s := benchStore(b)
	storetest.BenchReport(b, s, s, 1000, 20, storetest.NoServer)
}
