package sqlitetest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/picketnet/picket/results/sqlite"
)

// Open opens a store of the test's own in its temporary directory,
// closed when the test ends.
func Open(t testing.TB) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "picket.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
