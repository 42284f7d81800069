package main

import (
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/picketnet/picket/collector"
	"github.com/picketnet/picket/collector/client"
	"github.com/picketnet/picket/collector/config"
)

// clientFlags are the flags of every command that talks to a collector.
type clientFlags struct {
	collector, token, tokenFile *string
}

func addClientFlags(fs *flag.FlagSet) *clientFlags {
	return &clientFlags{
		collector: fs.String("collector", "", "collector `URL` (default $PICKET_COLLECTOR or "+client.DefaultCollector+")"),
		token:     fs.String("token", "", "API `token` (default $PICKET_TOKEN, else the admin token in "+config.DefaultAdminTokenFile+" when present)"),
		tokenFile: fs.String("token-file", "", "read the API token from `file`"),
	}
}

// client builds the API client: the collector from --collector,
// PICKET_COLLECTOR or the default; the token from --token, --token-file,
// PICKET_TOKEN, or the local admin token file of `picket up`.
func (f *clientFlags) client(io stdio) (*client.Client, error) {
	base, token, err := f.resolve(io)
	if err != nil {
		return nil, err
	}
	return client.New(base, token, nil)
}

// teamClient is client for a command that changes one team's things: the
// admin token must name the team with --team, which is said here rather
// than in the collector's words (?team=).
func (f *clientFlags) teamClient(io stdio, team string) (*client.Client, error) {
	base, token, err := f.resolve(io)
	if err != nil {
		return nil, err
	}
	if team == "" && strings.HasPrefix(token, collector.AdminTokenPrefix) {
		return nil, errors.New("the admin token acts for one team: name it with --team TEAM")
	}
	return client.New(base, token, nil)
}

// resolve returns the collector URL and the token.
func (f *clientFlags) resolve(io stdio) (base, token string, err error) {
	base = *f.collector
	if base == "" {
		base = io.getenv("PICKET_COLLECTOR")
	}
	if base == "" {
		base = client.DefaultCollector
	}
	token = *f.token
	switch {
	case token != "":
	case *f.tokenFile != "":
		b, err := os.ReadFile(*f.tokenFile)
		if err != nil {
			return "", "", fmt.Errorf("read --token-file: %w", err)
		}
		if token = strings.TrimSpace(string(b)); token == "" {
			return "", "", fmt.Errorf("token file %s is empty", *f.tokenFile)
		}
	case io.getenv("PICKET_TOKEN") != "":
		token = strings.TrimSpace(io.getenv("PICKET_TOKEN"))
	default:
		if b, err := os.ReadFile(config.DefaultAdminTokenFile); err == nil {
			token = strings.TrimSpace(string(b))
		}
	}
	if token == "" {
		return "", "", errors.New("no token: pass --token, --token-file or set PICKET_TOKEN")
	}
	return base, token, nil
}

// parseInterspersed parses flags that may come after positional
// arguments ("delete NAME --team x") and returns the positionals.
func parseInterspersed(fs *flag.FlagSet, args []string) (pos []string, code int, ok bool) {
	for {
		if code, ok := parseFlags(fs, args); !ok {
			return nil, code, false
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, 0, true
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// requestExit is the exit code of a failed command: 2 when the collector
// refused the request's input (400, 422: a flag's value, a name), which
// its error names, 1 otherwise (unreachable, a token refused, a name not
// found, a conflict).
func requestExit(err error) int {
	if client.IsStatus(err, http.StatusBadRequest) || client.IsStatus(err, http.StatusUnprocessableEntity) {
		return exitUsage
	}
	return exitFailed
}
