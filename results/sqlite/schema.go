package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// rollupTables are the minute and hour rollups, one table each with the
// same columns, and the packed day rollups. The primary key leads with the
// bucket so that an admin report is one range scan; the team index serves
// a team's report.
var rollupTables = rollupTable("minute") + rollupTable("hour") + packTable("rollup_day", "Unix seconds of the day start")

// packTable is a table of packed rollups: one row per (bucket, check)
// whose series column holds every vantage's rollup (rollup.AppendPack), so
// that a report over a month reads checks x buckets rows, not checks x
// vantages x buckets. It is a rowid table: its rows of a few KiB stay on
// their page, where a WITHOUT ROWID table would spill them to overflow
// pages.
func packTable(name, bucket string) string {
	return strings.ReplaceAll(strings.ReplaceAll(`
CREATE TABLE NAME (
	bucket   INTEGER NOT NULL, -- BUCKET
	check_id TEXT    NOT NULL,
	team     TEXT    NOT NULL,
	endpoint TEXT    NOT NULL,
	kind     TEXT    NOT NULL,
	series   BLOB    NOT NULL, -- rollup.AppendPack
	PRIMARY KEY (bucket, check_id)
);
CREATE INDEX NAME_team ON NAME (team, endpoint, bucket);
`, "NAME", name), "BUCKET", bucket)
}

func rollupTable(level string) string {
	return strings.ReplaceAll(`
CREATE TABLE rollup_LEVEL (
	bucket         INTEGER NOT NULL, -- Unix seconds of the bucket start
	check_id       TEXT    NOT NULL,
	vantage        TEXT    NOT NULL,
	team           TEXT    NOT NULL,
	endpoint       TEXT    NOT NULL,
	kind           TEXT    NOT NULL,
	region         TEXT    NOT NULL,
	provider       TEXT    NOT NULL,
	asn            INTEGER NOT NULL,
	count          INTEGER NOT NULL,
	failures       INTEGER NOT NULL,
	failed_minutes INTEGER NOT NULL,
	down_minutes   INTEGER NOT NULL,
	errors         TEXT    NOT NULL, -- rollup.EncodeErrors
	hist           BLOB    NOT NULL, -- results.Histogram binary form
	PRIMARY KEY (bucket, check_id, vantage)
) WITHOUT ROWID;
CREATE INDEX rollup_LEVEL_team ON rollup_LEVEL (team, endpoint, bucket);
`, "LEVEL", level)
}

// migrations are applied in order, each once, recorded in
// schema_migrations. Never edit one that has shipped: append a new one.
var migrations = []string{
	// 1: results, rollups, registry.
	`
CREATE TABLE results (
	id          TEXT    NOT NULL,
	team        TEXT    NOT NULL,
	endpoint    TEXT    NOT NULL,
	check_id    TEXT    NOT NULL,
	kind        TEXT    NOT NULL,
	vantage     TEXT    NOT NULL,
	region      TEXT    NOT NULL,
	provider    TEXT    NOT NULL,
	asn         INTEGER NOT NULL,
	target      TEXT    NOT NULL,
	addr        TEXT    NOT NULL,
	started_at  INTEGER NOT NULL, -- Unix nanoseconds
	duration_ms REAL    NOT NULL,
	ok          INTEGER NOT NULL,
	err_layer   TEXT    NOT NULL,
	err_code    TEXT    NOT NULL,
	err_message TEXT    NOT NULL,
	dns_ms      REAL    NOT NULL,
	connect_ms  REAL    NOT NULL,
	tls_ms      REAL    NOT NULL,
	ttfb_ms     REAL    NOT NULL,
	transfer_ms REAL    NOT NULL,
	details     BLOB
);
CREATE UNIQUE INDEX results_id ON results (id);
CREATE INDEX results_started ON results (started_at);
CREATE INDEX results_check ON results (check_id, started_at);

` + rollupTables + `
CREATE TABLE teams (
	name       TEXT    NOT NULL PRIMARY KEY,
	token_hash BLOB    NOT NULL UNIQUE,
	created_at INTEGER NOT NULL
);

CREATE TABLE vantages (
	id                 TEXT    NOT NULL PRIMARY KEY,
	region             TEXT    NOT NULL,
	provider           TEXT    NOT NULL,
	asn                INTEGER NOT NULL,
	lat                REAL,
	lon                REAL,
	token_hash         BLOB    NOT NULL UNIQUE,
	created_at         INTEGER NOT NULL,
	last_heartbeat     INTEGER NOT NULL DEFAULT 0,
	heartbeat_every_ns INTEGER NOT NULL DEFAULT 0,
	version            TEXT    NOT NULL DEFAULT '',
	spool_depth        INTEGER NOT NULL DEFAULT 0,
	running            INTEGER NOT NULL DEFAULT 0,
	last_error         TEXT    NOT NULL DEFAULT '',
	public_addr        TEXT    NOT NULL DEFAULT ''
);

CREATE TABLE endpoints (
	team       TEXT    NOT NULL,
	name       TEXT    NOT NULL,
	target     TEXT    NOT NULL,
	checks     TEXT    NOT NULL, -- JSON array
	regions    TEXT    NOT NULL, -- JSON array
	alert      TEXT    NOT NULL, -- JSON object or ''
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (team, name)
);
`,
	// 2: Network Error Logging reports (nel.go).
	nelMigration,
	// 3: alerts, silences and the notification outbox (alerts.go).
	alertsMigration,
	// 4: pending rollup deltas, one row per ingested batch, folded into
	// the rollup tables by compaction (rollup.ApplyDeltas); week
	// rollups, packed like day rollups, for reports over weeks and months.
	`
CREATE TABLE rollup_pending (
	seq    INTEGER NOT NULL PRIMARY KEY, -- the rowid: insertion order
	deltas BLOB    NOT NULL              -- rollup.AppendDeltas
);
` + packTable("rollup_week", "Monday 00:00 UTC"),
	// 5: suffix packs and the state of their derivation (suffix.go).
	suffixMigration,
	// 6: multi-week packs (suffix.go).
	weeksMigration,
	// 7: packs derived from hour rows, and their watermark (derive.go).
	hoursMigration,
	// 8: raw results indexed the way they are read. The dashboard asks for
	// an endpoint's newest results (and the one check's among them), never
	// for a check across endpoints: with only (check_id, started_at) and
	// started_at, it scanned every result of the window.
	// Endpoint names are unique across teams (check ids are made of them),
	// so the team is not in the key: one text column to compare, as
	// before, rather than two.
	`
CREATE INDEX results_endpoint ON results (endpoint, started_at);
DROP INDEX results_check;
`,
}

// migrate applies the migrations not yet recorded, each in its own
// transaction, and returns how many it applied.
func migrate(ctx context.Context, db *sql.DB) (int, error) {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		applied_at INTEGER NOT NULL)`); err != nil {
		return 0, fmt.Errorf("create schema_migrations: %w", err)
	}
	applied := 0
	for i, m := range migrations {
		version := i + 1
		err := func() error {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, version, time.Now().Unix()); err != nil {
				return err
			}
			applied++
			return tx.Commit()
		}()
		if err != nil {
			return applied, fmt.Errorf("migration %d: %w", version, err)
		}
	}
	return applied, nil
}
