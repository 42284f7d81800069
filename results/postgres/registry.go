package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/picketnet/picket/results"
)

func isUnique(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}

// CreateTeam implements results.RegistryStore.
func (s *Store) CreateTeam(ctx context.Context, t results.Team) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO teams (name, token_hash, created_at) VALUES ($1, $2, $3)`,
		t.Name, t.TokenHash, orNow(t.CreatedAt))
	if isUnique(err) {
		return fmt.Errorf("postgres: team %q (or its token): %w", t.Name, results.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("postgres: create team %q: %w", t.Name, err)
	}
	return nil
}

func scanTeam(row pgx.Row) (results.Team, error) {
	var t results.Team
	err := row.Scan(&t.Name, &t.TokenHash, &t.CreatedAt)
	t.CreatedAt = t.CreatedAt.UTC()
	return t, err
}

// Teams implements results.RegistryStore.
func (s *Store) Teams(ctx context.Context) ([]results.Team, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, token_hash, created_at FROM teams ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("postgres: teams: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (results.Team, error) { return scanTeam(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: teams: %w", err)
	}
	return out, nil
}

// TeamByTokenHash implements results.RegistryStore.
func (s *Store) TeamByTokenHash(ctx context.Context, hash []byte) (results.Team, error) {
	t, err := scanTeam(s.pool.QueryRow(ctx, `SELECT name, token_hash, created_at FROM teams WHERE token_hash = $1`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return t, fmt.Errorf("postgres: team by token: %w", results.ErrNotFound)
	}
	if err != nil {
		return t, fmt.Errorf("postgres: team by token: %w", err)
	}
	return t, nil
}

// SetTeamToken implements results.RegistryStore.
func (s *Store) SetTeamToken(ctx context.Context, name string, hash []byte) error {
	tag, err := s.pool.Exec(ctx, `UPDATE teams SET token_hash = $1 WHERE name = $2`, hash, name)
	return changedOne(tag, err, "team", name)
}

// DeleteTeam implements results.RegistryStore. The team row, its
// endpoints and its silences go in one transaction, so that an error
// leaves all of them in place.
func (s *Store) DeleteTeam(ctx context.Context, name string) (int, error) {
	var n int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM teams WHERE name = $1`, name)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return results.ErrNotFound
		}
		if tag, err = tx.Exec(ctx, `DELETE FROM endpoints WHERE team = $1`, name); err != nil {
			return fmt.Errorf("endpoints: %w", err)
		}
		n = tag.RowsAffected()
		if _, err := tx.Exec(ctx, `DELETE FROM silences WHERE team = $1`, name); err != nil {
			return fmt.Errorf("silences: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: delete team %q: %w", name, err)
	}
	return int(n), nil
}

// changedOne turns the outcome of an UPDATE or DELETE of the registry row
// what/key into the store's errors: ErrConflict for a token hash another
// row has, ErrNotFound when no row matched.
func changedOne(tag pgconn.CommandTag, err error, what, key string) error {
	if isUnique(err) {
		return fmt.Errorf("postgres: token of %s %q: %w", what, key, results.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("postgres: %s %q: %w", what, key, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: %s %q: %w", what, key, results.ErrNotFound)
	}
	return nil
}

const vantageColumns = `id, region, provider, asn, lat, lon, token_hash, created_at, last_heartbeat,
	heartbeat_every_ns, version, spool_depth, running, last_error, public_addr`

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// CreateVantage implements results.RegistryStore.
func (s *Store) CreateVantage(ctx context.Context, v results.Vantage) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO vantages (`+vantageColumns+`)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)`,
		v.ID, v.Region, v.Provider, int64(v.ASN), v.Lat, v.Lon, v.TokenHash, orNow(v.CreatedAt),
		nullTime(v.LastHeartbeat), int64(v.HeartbeatEvery), v.Version, v.SpoolDepth, int64(v.Running),
		v.LastError, v.PublicAddr)
	if isUnique(err) {
		return fmt.Errorf("postgres: vantage %q (or its token): %w", v.ID, results.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("postgres: create vantage %q: %w", v.ID, err)
	}
	return nil
}

func scanVantage(row pgx.Row) (results.Vantage, error) {
	var v results.Vantage
	var asn, every, running int64
	var hb *time.Time
	err := row.Scan(&v.ID, &v.Region, &v.Provider, &asn, &v.Lat, &v.Lon, &v.TokenHash, &v.CreatedAt,
		&hb, &every, &v.Version, &v.SpoolDepth, &running, &v.LastError, &v.PublicAddr)
	if err != nil {
		return v, err
	}
	v.ASN = uint32(asn)
	v.CreatedAt = v.CreatedAt.UTC()
	if hb != nil {
		v.LastHeartbeat = hb.UTC()
	}
	v.HeartbeatEvery = time.Duration(every)
	v.Running = int(running)
	return v, nil
}

// Vantages implements results.RegistryStore.
func (s *Store) Vantages(ctx context.Context) ([]results.Vantage, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+vantageColumns+` FROM vantages ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("postgres: vantages: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (results.Vantage, error) { return scanVantage(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: vantages: %w", err)
	}
	return out, nil
}

// VantageByTokenHash implements results.RegistryStore.
func (s *Store) VantageByTokenHash(ctx context.Context, hash []byte) (results.Vantage, error) {
	v, err := scanVantage(s.pool.QueryRow(ctx, `SELECT `+vantageColumns+` FROM vantages WHERE token_hash = $1`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return v, fmt.Errorf("postgres: vantage by token: %w", results.ErrNotFound)
	}
	if err != nil {
		return v, fmt.Errorf("postgres: vantage by token: %w", err)
	}
	return v, nil
}

// SetVantageToken implements results.RegistryStore.
func (s *Store) SetVantageToken(ctx context.Context, id string, hash []byte) error {
	tag, err := s.pool.Exec(ctx, `UPDATE vantages SET token_hash = $1 WHERE id = $2`, hash, id)
	return changedOne(tag, err, "vantage", id)
}

// DeleteVantage implements results.RegistryStore. Results and rollups
// carry the vantage's id, region, provider and ASN themselves, so they
// need nothing from the deleted row.
func (s *Store) DeleteVantage(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM vantages WHERE id = $1`, id)
	return changedOne(tag, err, "vantage", id)
}

// RecordHeartbeat implements results.RegistryStore. A heartbeat's ASN,
// when the prober discovered one, replaces the stored ASN.
func (s *Store) RecordHeartbeat(ctx context.Context, hb results.Heartbeat) error {
	tag, err := s.pool.Exec(ctx, `UPDATE vantages SET last_heartbeat = $1, heartbeat_every_ns = $2,
		version = $3, spool_depth = $4, running = $5, last_error = $6, public_addr = $7,
		asn = CASE WHEN $8::bigint <> 0 THEN $8::bigint ELSE asn END WHERE id = $9`,
		nullTime(hb.At), int64(hb.Every), hb.Version, hb.SpoolDepth, int64(hb.Running), hb.LastError,
		hb.PublicAddr, int64(hb.ASN), hb.Vantage)
	if err != nil {
		return fmt.Errorf("postgres: heartbeat of %q: %w", hb.Vantage, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: heartbeat of vantage %q: %w", hb.Vantage, results.ErrNotFound)
	}
	return nil
}

// PutEndpoint implements results.RegistryStore.
func (s *Store) PutEndpoint(ctx context.Context, e results.Endpoint) error {
	checks, err := json.Marshal(e.Checks)
	if err != nil {
		return fmt.Errorf("postgres: endpoint %s/%s checks: %w", e.Team, e.Name, err)
	}
	regions, err := json.Marshal(e.Regions)
	if err != nil {
		return fmt.Errorf("postgres: endpoint %s/%s regions: %w", e.Team, e.Name, err)
	}
	var alert *string
	if len(e.Alert) > 0 {
		a := string(e.Alert)
		alert = &a
	}
	// The lock on the name makes the check and the insert one step for
	// every replica: two teams registering one name at once wait for
	// each other, and the second sees the first's row. The share lock on
	// the team's row does the same against DeleteTeam, which deletes that
	// row first: a request that passed authentication just before its
	// team was removed finds no team, rather than leaving an endpoint
	// behind it.
	var n int64
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, hashKey("endpoint", e.Name)); err != nil {
			return err
		}
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM teams WHERE name = $1 FOR KEY SHARE`, e.Team).Scan(&one); errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("no team %q: %w", e.Team, results.ErrNotFound)
		} else if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO endpoints (team, name, target, checks, regions, alert, updated_at)
			SELECT $1::text, $2::text, $3::text, $4::json, $5::json, $6::json, $7::timestamptz
			WHERE NOT EXISTS (SELECT 1 FROM endpoints WHERE name = $2 AND team <> $1)
			ON CONFLICT (team, name) DO UPDATE SET target = excluded.target, checks = excluded.checks,
			regions = excluded.regions, alert = excluded.alert, updated_at = excluded.updated_at`,
			e.Team, e.Name, e.Target, string(checks), string(regions), alert, orNow(e.UpdatedAt))
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: put endpoint %s/%s: %w", e.Team, e.Name, err)
	}
	if n == 0 {
		return fmt.Errorf("postgres: put endpoint %s/%s: another team has an endpoint of that name: %w", e.Team, e.Name, results.ErrConflict)
	}
	return nil
}

// DeleteEndpoint implements results.RegistryStore.
func (s *Store) DeleteEndpoint(ctx context.Context, team, name string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM endpoints WHERE team = $1 AND name = $2`, team, name)
	if err != nil {
		return fmt.Errorf("postgres: delete endpoint %s/%s: %w", team, name, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: endpoint %s/%s: %w", team, name, results.ErrNotFound)
	}
	return nil
}

// Endpoints implements results.RegistryStore.
func (s *Store) Endpoints(ctx context.Context, team string) ([]results.Endpoint, error) {
	q := `SELECT team, name, target, checks::text, regions::text, coalesce(alert::text, ''), updated_at FROM endpoints`
	var args []any
	if team != "" {
		q += ` WHERE team = $1`
		args = append(args, team)
	}
	rows, err := s.pool.Query(ctx, q+` ORDER BY team, name`, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: endpoints: %w", err)
	}
	defer rows.Close()
	var out []results.Endpoint
	for rows.Next() {
		var e results.Endpoint
		var checks, regions, alert string
		if err := rows.Scan(&e.Team, &e.Name, &e.Target, &checks, &regions, &alert, &e.UpdatedAt); err != nil {
			return nil, fmt.Errorf("postgres: endpoints: %w", err)
		}
		e.UpdatedAt = e.UpdatedAt.UTC()
		if err := json.Unmarshal([]byte(checks), &e.Checks); err != nil {
			return nil, fmt.Errorf("postgres: endpoint %s/%s checks: %w", e.Team, e.Name, err)
		}
		if err := json.Unmarshal([]byte(regions), &e.Regions); err != nil {
			return nil, fmt.Errorf("postgres: endpoint %s/%s regions: %w", e.Team, e.Name, err)
		}
		if alert != "" {
			e.Alert = json.RawMessage(alert)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: endpoints: %w", err)
	}
	return out, nil
}
