package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// version and commit are set at link time:
// go build -ldflags "-X main.version=v1.2.3 -X main.commit=abc123".
var (
	version = "dev"
	commit  = ""
)

// buildInfo returns the version and commit, falling back to the VCS
// stamp that the Go toolchain records.
func buildInfo() (ver, rev string) {
	ver, rev = version, commit
	if rev == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					rev = s.Value
				}
			}
		}
	}
	if rev == "" {
		rev = "unknown"
	}
	return ver, rev
}

func runVersion(_ context.Context, args []string, io stdio) int {
	fs := newUsageFlagSet("version", "picket version", "print the version, commit and Go version", io)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	ver, rev := buildInfo()
	fmt.Fprintf(io.out, "picket %s (commit %s, %s %s/%s)\n", ver, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return exitOK
}
