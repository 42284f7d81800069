package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

func rollupTable(level string) string {
	return strings.ReplaceAll(`
CREATE TABLE rollup_LEVEL (
	bucket         timestamptz NOT NULL,
	check_id       text        NOT NULL,
	vantage        text        NOT NULL,
	team           text        NOT NULL,
	endpoint       text        NOT NULL,
	kind           text        NOT NULL,
	region         text        NOT NULL,
	provider       text        NOT NULL,
	asn            bigint      NOT NULL,
	count          bigint      NOT NULL,
	failures       bigint      NOT NULL,
	failed_minutes bigint      NOT NULL,
	down_minutes   bigint      NOT NULL,
	errors         text        NOT NULL, -- rollup.EncodeErrors
	hist           bytea       NOT NULL, -- results.Histogram binary form
	PRIMARY KEY (bucket, check_id, vantage)
) WITH (fillfactor = 70); -- room for HOT updates: rows are rewritten by every batch
CREATE INDEX rollup_LEVEL_team ON rollup_LEVEL (team, endpoint, bucket);
`, "LEVEL", level)
}

// migrations are applied in order, each once, recorded in
// schema_migrations. Never edit one that has shipped: append a new one.
var migrations = []string{
	// 1: results (partitioned by day on started_at), rollups, registry.
	//
	// The primary key of a partitioned table must include the partition
	// key, so uniqueness is on (id, started_at), not on id alone. That is
	// enough for idempotent ingest: ids are UUIDv7 made by the prober when
	// the run starts, and a re-sent record is the same record, with the
	// same started_at, so it lands in the same partition and conflicts.
	`
CREATE TABLE results (
	id          text             NOT NULL,
	started_at  timestamptz      NOT NULL,
	team        text             NOT NULL,
	endpoint    text             NOT NULL,
	check_id    text             NOT NULL,
	kind        text             NOT NULL,
	vantage     text             NOT NULL,
	region      text             NOT NULL,
	provider    text             NOT NULL,
	asn         bigint           NOT NULL,
	target      text             NOT NULL,
	addr        text             NOT NULL,
	duration_ms double precision NOT NULL,
	ok          boolean          NOT NULL,
	err_layer   text             NOT NULL,
	err_code    text             NOT NULL,
	err_message text             NOT NULL,
	dns_ms      double precision NOT NULL,
	connect_ms  double precision NOT NULL,
	tls_ms      double precision NOT NULL,
	ttfb_ms     double precision NOT NULL,
	transfer_ms double precision NOT NULL,
	details     bytea,
	PRIMARY KEY (id, started_at)
) PARTITION BY RANGE (started_at);
CREATE INDEX results_check ON results (check_id, started_at);
CREATE INDEX results_started ON results USING brin (started_at);
` + rollupTable("minute") + rollupTable("hour") + rollupTable("day") + `
CREATE TABLE teams (
	name       text        NOT NULL PRIMARY KEY,
	token_hash bytea       NOT NULL UNIQUE,
	created_at timestamptz NOT NULL
);

CREATE TABLE vantages (
	id                 text             NOT NULL PRIMARY KEY,
	region             text             NOT NULL,
	provider           text             NOT NULL,
	asn                bigint           NOT NULL,
	lat                double precision,
	lon                double precision,
	token_hash         bytea            NOT NULL UNIQUE,
	created_at         timestamptz      NOT NULL,
	last_heartbeat     timestamptz,
	heartbeat_every_ns bigint           NOT NULL DEFAULT 0,
	version            text             NOT NULL DEFAULT '',
	spool_depth        bigint           NOT NULL DEFAULT 0,
	running            bigint           NOT NULL DEFAULT 0,
	last_error         text             NOT NULL DEFAULT '',
	public_addr        text             NOT NULL DEFAULT ''
);

CREATE TABLE endpoints (
	team       text        NOT NULL,
	name       text        NOT NULL,
	target     text        NOT NULL,
	checks     json        NOT NULL,
	regions    json        NOT NULL,
	alert      json,
	updated_at timestamptz NOT NULL,
	PRIMARY KEY (team, name)
);
`,
	// 2: Network Error Logging reports (nel.go).
	nelMigration,
	// 3: alerts, silences and the notification outbox (alerts.go).
	alertsMigration,
	// 4: pending rollup deltas, one row per ingested batch, folded into
	// the rollup tables by compaction (rollup.ApplyDeltas), so that
	// ingest appends instead of rewriting rollup rows; week rollups
	// (buckets start on Monday) for reports over weeks and months.
	`
CREATE TABLE rollup_pending (
	seq    bigserial NOT NULL PRIMARY KEY,
	deltas bytea     NOT NULL -- rollup.AppendDeltas
);
` + rollupTable("week"),
	// 5: day and longer rollups packed per (bucket, check) and derived
	// from hour rows instead of rewritten by every compaction (packs.go).
	// The packs are rebuilt from the hour rows, which are kept as long.
	packMigration,
	// 6: packs stay in their row, uncompressed, up to a full page: a
	// report reads thousands of them, and decompressing them (they
	// compress to about half) cost ten times the scan.
	`ALTER TABLE rollup_pack SET (toast_tuple_target = 8160)`,
	// 7: minute rows are copied in once and hardly ever updated since
	// compaction (migration 4), so they need no room for HOT updates;
	// pending deltas are written once and read whole, so compressing them
	// (pglz, on every ingest and every read) costs more than it saves.
	`
ALTER TABLE rollup_minute SET (fillfactor = 100);
ALTER TABLE rollup_pending ALTER COLUMN deltas SET STORAGE EXTERNAL;
`,
	// 8: which minutes of an hour have a row (minutes.go).
	minutesMigration,
	// 9: the count of writes of hour rows, which keeps the compacting
	// process's copy of them honest (rowcache.go).
	hourWritesMigration,
	// 10: the feed of stored results for alert evaluation (feed.go).
	feedMigration,
	// 11: back to room for HOT updates in minute rows (undoing 7's
	// fillfactor): a check every 30 s updates each of its minutes once,
	// usually in a later compaction, and without room on the page the
	// update moves the row and inserts into both indexes.
	`ALTER TABLE rollup_minute SET (fillfactor = 70)`,
	// 12: packs compressed by the store (encodePack), rebuilt from the
	// hour rows.
	packsMigration,
	// 13: raw results indexed the way they are read. The dashboard asks
	// for an endpoint's newest results (and the one check's among them),
	// never for a check across endpoints: with only (check_id, started_at)
	// and the BRIN on started_at, it scanned every result of the window.
	// Endpoint names are unique across teams (check ids are made of them),
	// so the team is not in the key: one text column to compare, as
	// before, rather than two. On a partitioned table the index is built on every partition, under
	// a lock that holds ingest back meanwhile.
	`
CREATE INDEX results_endpoint ON results (endpoint, started_at);
DROP INDEX results_check;
`,
	// 14: raw results in packs, with a narrow table of ids for
	// idempotency (resultpacks.go); results becomes results_legacy
	// (legacy.go).
	resultPacksMigration,
	// 15: room on each page of hour rows for a new version of every row
	// on it. Compaction rewrites the hour row of every series it folds
	// results of, every time: with a fill factor of 70, a third of those
	// updates found no room on the row's page, moved the row and inserted
	// it into both indexes again. Updating 72,000 hour rows took 1.10 s
	// instead of 1.66 the first time (docs/stores.md, "Eighth round").
	// It applies to the pages filled from now on.
	`ALTER TABLE rollup_hour SET (fillfactor = 45)`,
}

// migrationLock is the advisory lock key that serialises migrations when
// several replicas start at once.
const migrationLock = 0x7069636b65740001 // "picket" 0001

// migrate applies the migrations not yet recorded, in one transaction
// each, under an advisory lock, and returns how many it applied.
func migrate(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	return migrateTo(ctx, pool, len(migrations))
}

// migrateTo is migrate up to version last (tests start from old schemas).
func migrateTo(ctx context.Context, pool *pgxpool.Pool, last int) (int, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(migrationLock)); err != nil {
		return 0, fmt.Errorf("migrate: lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(migrationLock)) //nolint:errcheck // the session ends the lock anyway
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer     NOT NULL PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return 0, fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	applied := 0
	for i, m := range migrations[:last] {
		version := i + 1
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE version = $1`, version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.Exec(ctx, m); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, version); err != nil {
				return err
			}
			applied++
			return nil
		})
		if err != nil {
			return applied, fmt.Errorf("migration %d: %w", version, err)
		}
	}
	return applied, nil
}
