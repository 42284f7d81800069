package collector

import (
	"context"
	"os"
	"testing"

	"github.com/picketnet/picket/internal/pgtest"
	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/results/postgres"
)

var pg = pgtest.New()

func TestMain(m *testing.M) { os.Exit(pg.Main(m)) }

func openPostgresStore(t *testing.T) results.Store {
	t.Helper()
	st, err := postgres.Open(context.Background(), pg.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestAPIPostgres runs the API tests over a throwaway Postgres.
func TestAPIPostgres(t *testing.T) {
	for _, tc := range apiTests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, openPostgresStore) })
	}
}
