package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// connectLockSession opens the session that holds advisory locks. Its
// settings make the server notice within about half a minute that the host
// holding a lock is gone (powered off, partitioned) and end its session,
// which releases the lock. With the operating system's defaults a dead
// peer is noticed only after about two hours, during which no other
// replica would evaluate alerts or compact rollups. Settings given in the
// URL win.
func connectLockSession(ctx context.Context, url string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	for k, v := range map[string]string{
		"tcp_keepalives_idle":     "10",    // seconds of silence before probing
		"tcp_keepalives_interval": "5",     // seconds between probes
		"tcp_keepalives_count":    "3",     // unanswered probes that end it
		"tcp_user_timeout":        "30000", // milliseconds unacknowledged data may wait
	} {
		if _, set := cfg.RuntimeParams[k]; !set {
			cfg.RuntimeParams[k] = v
		}
	}
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	return c, nil
}
