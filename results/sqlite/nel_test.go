package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/picketnet/picket/results/storetest"
)

func TestNELReports(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "picket.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.RunNEL(t, s)
}
