package sqlitetest

import (
	"context"
	"testing"

	"github.com/picketnet/picket/results"
)

// Each test gets a store of its own, empty and writable.
func TestOpen(t *testing.T) {
	for _, name := range []string{"first", "second"} {
		t.Run(name, func(t *testing.T) {
			st := Open(t)
			ctx := context.Background()
			if teams, err := st.Teams(ctx); err != nil || len(teams) != 0 {
				t.Fatalf("a new store has teams %v (err %v)", teams, err)
			}
			if err := st.CreateTeam(ctx, results.Team{Name: "apps", TokenHash: []byte("h")}); err != nil {
				t.Fatal(err)
			}
		})
	}
}
