package collector

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// Two collector replicas started at the same moment with one
// admin_token_file that does not exist yet (a shared volume, or both on
// one host as in the README's replica setup) must both start, with the
// same token: the one in the file. Before, the loser of the O_EXCL race
// could read the file between its creation and the write of the token
// and refuse to start: "admin token file ... is empty; delete it".
func TestEnsureAdminTokenConcurrentStarts(t *testing.T) {
	dir := t.TempDir()
	for round := range 200 {
		path := filepath.Join(dir, fmt.Sprint(round), "admin.token")
		const replicas = 4
		tokens := make([]string, replicas)
		errs := make([]error, replicas)
		created := make([]bool, replicas)
		var wg sync.WaitGroup
		for i := range replicas {
			wg.Go(func() { tokens[i], created[i], errs[i] = EnsureAdminToken(path) })
		}
		wg.Wait()
		file, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		makers := 0
		for i := range replicas {
			if errs[i] != nil {
				t.Fatalf("round %d: replica %d did not start: %v", round, i, errs[i])
			}
			if tokens[i]+"\n" != string(file) {
				t.Fatalf("round %d: replica %d uses %q, the file holds %q", round, i, tokens[i], file)
			}
			if created[i] {
				makers++
			}
		}
		if left, err := os.ReadDir(filepath.Dir(path)); err != nil || len(left) != 1 {
			t.Fatalf("round %d: the token's directory holds %v (%v), want the token file alone", round, left, err)
		}
		if makers != 1 {
			t.Fatalf("round %d: %d replicas say they created the token, want 1", round, makers)
		}
	}
}
