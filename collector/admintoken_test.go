package collector

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
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

// An admin token file the operator made may be readable by others or hold
// a guessable token: the collector says so when it starts.
func TestAdminTokenWarnings(t *testing.T) {
	dir := t.TempDir()
	strong := "pka_" + strings.Repeat("k", 43)
	tests := []struct {
		name  string
		token string
		mode  os.FileMode
		want  []string
	}{
		{"made by the collector", "", 0, nil},
		{"strong, private", strong, 0o600, nil},
		{"strong, read-only for its owner", strong, 0o400, nil},
		{"readable by the group", strong, 0o640, []string{"readable by other users (mode 0640)"}},
		{"readable by everyone", strong, 0o644, []string{"readable by other users (mode 0644)"}},
		{"short", "admin", 0o600, []string{"the admin token is 5 bytes"}},
		{"short and readable", "hunter2hunter2", 0o604, []string{"mode 0604", "14 bytes"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("t%d", i), "admin.token")
			if tt.token != "" {
				if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(tt.token+"\n"), tt.mode); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, tt.mode); err != nil { // whatever the umask
					t.Fatal(err)
				}
			}
			token, _, err := EnsureAdminToken(path)
			if err != nil {
				t.Fatal(err)
			}
			got := AdminTokenWarnings(path, token)
			if len(got) != len(tt.want) {
				t.Fatalf("warnings %q, want %d", got, len(tt.want))
			}
			for j, w := range tt.want {
				if !strings.Contains(got[j], w) {
					t.Errorf("warning %q does not say %q", got[j], w)
				}
			}
		})
	}
}
