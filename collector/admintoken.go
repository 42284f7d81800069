package collector

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/picketnet/picket/vantage"
)

// EnsureAdminToken returns the admin token kept in path, creating the file
// (mode 0600, its directory 0700) with a new random token when it does not
// exist. created says whether it did.
func EnsureAdminToken(path string) (token string, created bool, err error) {
	b, err := os.ReadFile(path)
	if err == nil {
		token = strings.TrimSpace(string(b))
		if token == "" {
			return "", false, fmt.Errorf("admin token file %s is empty; delete it to have a new token made", path)
		}
		return token, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", false, fmt.Errorf("read admin token: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", false, fmt.Errorf("create admin token directory: %w", err)
	}
	token, err = vantage.NewToken(AdminTokenPrefix)
	if err != nil {
		return "", false, err
	}
	// The token is written to a file of its own and then linked into
	// place, which fails when the name exists: when two collectors start
	// at once, one wins and the other reads the winner's token, never a
	// file that exists but holds no token yet (creating the file with
	// O_EXCL and then writing it let the loser read it empty and refuse
	// to start).
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".new-*")
	if err != nil {
		return "", false, fmt.Errorf("create admin token: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", false, fmt.Errorf("create admin token: %w", err)
	}
	if _, err := tmp.WriteString(token + "\n"); err != nil {
		tmp.Close()
		return "", false, fmt.Errorf("write admin token: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", false, fmt.Errorf("write admin token: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", false, fmt.Errorf("write admin token: %w", err)
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		return EnsureAdminToken(path)
	} else if err != nil {
		return "", false, fmt.Errorf("create admin token: %w", err)
	}
	return token, true, nil
}

// minAdminTokenBytes is the shortest admin token not warned about, the
// Terraform module's minimum (the collector's own are 48 bytes): nothing
// slows down guessing one.
const minAdminTokenBytes = 16

// AdminTokenWarnings says what is unsafe about an admin token kept in
// path that the operator made: a file other users may read, or a token
// short enough to guess. The collector starts anyway, so that an
// existing setup keeps working, and logs each warning.
func AdminTokenWarnings(path, token string) []string {
	var out []string
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		out = append(out, fmt.Sprintf("the admin token file is readable by other users (mode %#o): chmod 600 it", fi.Mode().Perm()))
	}
	if len(token) < minAdminTokenBytes {
		out = append(out, fmt.Sprintf("the admin token is %d bytes, short enough to guess: delete the file to have a random one made, or write at least %d random characters", len(token), minAdminTokenBytes))
	}
	return out
}
