package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/picketnet/picket/results"
)

// results_legacy is the raw results table of before migration 14, one
// row per result, kept as it was: readable and deduplicated against
// until retention has dropped its partitions. Nothing writes to it any
// more, so what it holds is fixed once the store opens, and legacyEnd, a
// bound on the start of every row in it, tells which records can be
// there at all: only those (live results in the first hour after the
// upgrade, and results spooled across it) cost a look-up at ingest.

// loadLegacyEnd returns a bound on the start of every row of
// results_legacy, or zero when it has none (or is gone: a database
// created after migration 14): the end of the day of its newest partition
// holding a row, or if sooner the time the migration recorded, an hour
// after it ran. (The exact newest start would cost a scan of a day of
// rows at every start; collectors refuse records more than 5 minutes
// ahead of their clock, and the replicas of before can write nothing
// after the migration.)
func loadLegacyEnd(ctx context.Context, pool *pgxpool.Pool) (time.Time, error) {
	var end time.Time
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		days, err := legacyPartition.days(ctx, tx)
		if err != nil {
			return err
		}
		for i := len(days) - 1; i >= 0 && end.IsZero(); i-- {
			var found bool
			q := `SELECT EXISTS (SELECT 1 FROM ` + pgx.Identifier{legacyPartition.name(days[i])}.Sanitize() + `)`
			if err := tx.QueryRow(ctx, q).Scan(&found); err != nil {
				return err
			}
			if found {
				end = time.Unix((days[i]+1)*86400, 0).UTC()
			}
		}
		if end.IsZero() {
			return nil
		}
		var recorded bool
		if err := tx.QueryRow(ctx, `SELECT to_regclass('results_legacy_end') IS NOT NULL`).Scan(&recorded); err != nil || !recorded {
			return err
		}
		var migrated *time.Time
		if err := tx.QueryRow(ctx, `SELECT min(at) FROM results_legacy_end`).Scan(&migrated); err != nil {
			return err
		}
		if migrated != nil && migrated.Before(end) {
			end = migrated.UTC()
		}
		return nil
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("postgres: legacy results: %w", err)
	}
	return end, nil
}

// legacyEnd is the bound loadLegacyEnd found, zero once retention has
// dropped every legacy partition this process knew of.
func (s *Store) legacyEnd() time.Time {
	s.pmu.Lock()
	defer s.pmu.Unlock()
	return s.legacy
}

// legacyDuplicates returns the keys of the records of rs that
// results_legacy holds.
func (s *Store) legacyDuplicates(ctx context.Context, rs []results.Result) (map[idKey]bool, error) {
	end := s.legacyEnd()
	if end.IsZero() {
		return nil, nil
	}
	var ids []string
	var ats []time.Time
	for i := range rs {
		if rs[i].StartedAt.Before(end) {
			ids = append(ids, rs[i].ID)
			ats = append(ats, rs[i].StartedAt)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT l.id, l.started_at FROM results_legacy l
		JOIN unnest($1::text[], $2::timestamptz[]) AS k(id, started_at) USING (id, started_at)`, ids, ats)
	if err != nil {
		return nil, fmt.Errorf("postgres: ingest: legacy results: %w", err)
	}
	dups := make(map[idKey]bool)
	var k idKey
	var at time.Time
	_, err = pgx.ForEachRow(rows, []any{&k.id, &at}, func() error {
		k.at = at.UnixMicro()
		dups[k] = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: ingest: legacy results: %w", err)
	}
	return dups, nil
}

const resultColumns = `id, started_at, team, endpoint, check_id, kind, vantage, region, provider, asn,
	target, addr, duration_ms, ok, err_layer, err_code, err_message,
	dns_ms, connect_ms, tls_ms, ttfb_ms, transfer_ms, details`

// legacyQuery is the statement and arguments of Query(q) on
// results_legacy, served by its index on (endpoint, started_at).
func legacyQuery(q results.ResultQuery) (string, []any) {
	var w where
	w.eq("team", q.Team)
	w.eq("endpoint", q.Endpoint)
	w.eq("check_id", q.Check)
	w.eq("vantage", q.Vantage)
	w.eq("region", q.Region)
	w.eq("kind", q.Kind)
	if q.OnlyFailed {
		w.add("NOT ok")
	}
	if !q.Since.IsZero() {
		w.add("started_at >= $", q.Since)
	}
	if !q.Until.IsZero() {
		w.add("started_at < $", q.Until)
	}
	return `SELECT ` + resultColumns + ` FROM results_legacy` + w.String() +
		fmt.Sprintf(` ORDER BY started_at DESC, id DESC LIMIT %d`, results.RowLimit(q.Limit)), w.args
}

// queryLegacy offers the legacy results q selects to top, when there can
// be any.
func (s *Store) queryLegacy(ctx context.Context, tx pgx.Tx, q results.ResultQuery, top *newest) error {
	end := s.legacyEnd()
	if end.IsZero() || !q.Since.IsZero() && !q.Since.Before(end) {
		return nil
	}
	query, args := legacyQuery(q)
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("legacy results: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanResult(rows)
		if err != nil {
			return fmt.Errorf("legacy results: %w", err)
		}
		top.offer(&r)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("legacy results: %w", err)
	}
	return nil
}
