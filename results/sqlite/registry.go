package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/picketnet/picket/results"
)

// isUnique reports whether err is a UNIQUE or PRIMARY KEY violation.
func isUnique(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

func (s *Store) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.w.ExecContext(ctx, q, args...)
}

func timeOf(unixNano int64) time.Time {
	if unixNano == 0 {
		return time.Time{}
	}
	return time.Unix(0, unixNano).UTC()
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// CreateTeam implements results.RegistryStore.
func (s *Store) CreateTeam(ctx context.Context, t results.Team) error {
	if t.CreatedAt.IsZero() {
		t.CreatedAt = time.Now()
	}
	_, err := s.exec(ctx, `INSERT INTO teams (name, token_hash, created_at) VALUES (?, ?, ?)`,
		t.Name, t.TokenHash, nanos(t.CreatedAt))
	if isUnique(err) {
		return fmt.Errorf("sqlite: team %q (or its token): %w", t.Name, results.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("sqlite: create team %q: %w", t.Name, err)
	}
	return nil
}

// Teams implements results.RegistryStore.
func (s *Store) Teams(ctx context.Context) ([]results.Team, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT name, token_hash, created_at FROM teams ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: teams: %w", err)
	}
	defer rows.Close()
	var out []results.Team
	for rows.Next() {
		var t results.Team
		var created int64
		if err := rows.Scan(&t.Name, &t.TokenHash, &created); err != nil {
			return nil, fmt.Errorf("sqlite: teams: %w", err)
		}
		t.CreatedAt = timeOf(created)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: teams: %w", err)
	}
	return out, nil
}

// TeamByTokenHash implements results.RegistryStore.
func (s *Store) TeamByTokenHash(ctx context.Context, hash []byte) (results.Team, error) {
	var t results.Team
	var created int64
	err := s.r.QueryRowContext(ctx, `SELECT name, token_hash, created_at FROM teams WHERE token_hash = ?`, hash).
		Scan(&t.Name, &t.TokenHash, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("sqlite: team by token: %w", results.ErrNotFound)
	}
	if err != nil {
		return t, fmt.Errorf("sqlite: team by token: %w", err)
	}
	t.CreatedAt = timeOf(created)
	return t, nil
}

// SetTeamToken implements results.RegistryStore.
func (s *Store) SetTeamToken(ctx context.Context, name string, hash []byte) error {
	res, err := s.exec(ctx, `UPDATE teams SET token_hash = ? WHERE name = ?`, hash, name)
	return changedOne(res, err, "team", name)
}

// DeleteTeam implements results.RegistryStore. The team row, its
// endpoints and its silences go in one transaction, so that an error
// leaves all of them in place.
func (s *Store) DeleteTeam(ctx context.Context, name string) (int, error) {
	var n int64
	s.wmu.Lock()
	defer s.wmu.Unlock()
	err := s.writeTx(ctx, fmt.Sprintf("delete team %q", name), func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM teams WHERE name = ?`, name)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return results.ErrNotFound
		}
		if res, err = tx.ExecContext(ctx, `DELETE FROM endpoints WHERE team = ?`, name); err != nil {
			return fmt.Errorf("endpoints: %w", err)
		}
		if n, err = res.RowsAffected(); err != nil {
			return fmt.Errorf("endpoints: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM silences WHERE team = ?`, name); err != nil {
			return fmt.Errorf("silences: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return int(n), nil
}

// changedOne turns the outcome of an UPDATE or DELETE of the registry row
// what/key into the store's errors: ErrConflict for a token hash another
// row has, ErrNotFound when no row matched.
func changedOne(res sql.Result, err error, what, key string) error {
	if isUnique(err) {
		return fmt.Errorf("sqlite: token of %s %q: %w", what, key, results.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("sqlite: %s %q: %w", what, key, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: %s %q: %w", what, key, err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: %s %q: %w", what, key, results.ErrNotFound)
	}
	return nil
}

const vantageColumns = `id, region, provider, asn, lat, lon, token_hash, created_at, last_heartbeat,
	heartbeat_every_ns, version, spool_depth, running, last_error, public_addr`

// CreateVantage implements results.RegistryStore.
func (s *Store) CreateVantage(ctx context.Context, v results.Vantage) error {
	if v.CreatedAt.IsZero() {
		v.CreatedAt = time.Now()
	}
	_, err := s.exec(ctx, `INSERT INTO vantages (`+vantageColumns+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		v.ID, v.Region, v.Provider, int64(v.ASN), v.Lat, v.Lon, v.TokenHash, nanos(v.CreatedAt),
		nanos(v.LastHeartbeat), int64(v.HeartbeatEvery), v.Version, v.SpoolDepth, v.Running,
		v.LastError, v.PublicAddr)
	if isUnique(err) {
		return fmt.Errorf("sqlite: vantage %q (or its token): %w", v.ID, results.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("sqlite: create vantage %q: %w", v.ID, err)
	}
	return nil
}

type scanner interface{ Scan(dest ...any) error }

func scanVantage(sc scanner) (results.Vantage, error) {
	var v results.Vantage
	var asn, created, hb, every int64
	var lat, lon sql.NullFloat64
	err := sc.Scan(&v.ID, &v.Region, &v.Provider, &asn, &lat, &lon, &v.TokenHash, &created, &hb,
		&every, &v.Version, &v.SpoolDepth, &v.Running, &v.LastError, &v.PublicAddr)
	if err != nil {
		return v, err
	}
	v.ASN = uint32(asn)
	if lat.Valid {
		v.Lat = &lat.Float64
	}
	if lon.Valid {
		v.Lon = &lon.Float64
	}
	v.CreatedAt, v.LastHeartbeat = timeOf(created), timeOf(hb)
	v.HeartbeatEvery = time.Duration(every)
	return v, nil
}

// Vantages implements results.RegistryStore.
func (s *Store) Vantages(ctx context.Context) ([]results.Vantage, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+vantageColumns+` FROM vantages ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: vantages: %w", err)
	}
	defer rows.Close()
	var out []results.Vantage
	for rows.Next() {
		v, err := scanVantage(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: vantages: %w", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: vantages: %w", err)
	}
	return out, nil
}

// VantageByTokenHash implements results.RegistryStore.
func (s *Store) VantageByTokenHash(ctx context.Context, hash []byte) (results.Vantage, error) {
	v, err := scanVantage(s.r.QueryRowContext(ctx, `SELECT `+vantageColumns+` FROM vantages WHERE token_hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return v, fmt.Errorf("sqlite: vantage by token: %w", results.ErrNotFound)
	}
	if err != nil {
		return v, fmt.Errorf("sqlite: vantage by token: %w", err)
	}
	return v, nil
}

// SetVantageToken implements results.RegistryStore.
func (s *Store) SetVantageToken(ctx context.Context, id string, hash []byte) error {
	res, err := s.exec(ctx, `UPDATE vantages SET token_hash = ? WHERE id = ?`, hash, id)
	return changedOne(res, err, "vantage", id)
}

// DeleteVantage implements results.RegistryStore. Results and rollups
// carry the vantage's id, region, provider and ASN themselves, so they
// need nothing from the deleted row.
func (s *Store) DeleteVantage(ctx context.Context, id string) error {
	res, err := s.exec(ctx, `DELETE FROM vantages WHERE id = ?`, id)
	return changedOne(res, err, "vantage", id)
}

// RecordHeartbeat implements results.RegistryStore. A heartbeat's ASN,
// when the prober discovered one, replaces the stored ASN.
func (s *Store) RecordHeartbeat(ctx context.Context, hb results.Heartbeat) error {
	res, err := s.exec(ctx, `UPDATE vantages SET last_heartbeat = ?, heartbeat_every_ns = ?, version = ?,
		spool_depth = ?, running = ?, last_error = ?, public_addr = ?,
		asn = CASE WHEN ? <> 0 THEN ? ELSE asn END WHERE id = ?`,
		nanos(hb.At), int64(hb.Every), hb.Version, hb.SpoolDepth, hb.Running, hb.LastError,
		hb.PublicAddr, int64(hb.ASN), int64(hb.ASN), hb.Vantage)
	if err != nil {
		return fmt.Errorf("sqlite: heartbeat of %q: %w", hb.Vantage, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: heartbeat of %q: %w", hb.Vantage, err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: heartbeat of vantage %q: %w", hb.Vantage, results.ErrNotFound)
	}
	return nil
}

// PutEndpoint implements results.RegistryStore.
func (s *Store) PutEndpoint(ctx context.Context, e results.Endpoint) error {
	if e.UpdatedAt.IsZero() {
		e.UpdatedAt = time.Now()
	}
	checks, err := json.Marshal(e.Checks)
	if err != nil {
		return fmt.Errorf("sqlite: endpoint %s/%s checks: %w", e.Team, e.Name, err)
	}
	regions, err := json.Marshal(e.Regions)
	if err != nil {
		return fmt.Errorf("sqlite: endpoint %s/%s regions: %w", e.Team, e.Name, err)
	}
	// One statement, and SQLite has one writer: no other team can take
	// the name, and DeleteTeam cannot remove the team, between the checks
	// and the insert.
	res, err := s.exec(ctx, `INSERT INTO endpoints (team, name, target, checks, regions, alert, updated_at)
		SELECT ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM endpoints WHERE name = ? AND team <> ?)
		AND EXISTS (SELECT 1 FROM teams WHERE name = ?)
		ON CONFLICT (team, name) DO UPDATE SET target = excluded.target, checks = excluded.checks,
		regions = excluded.regions, alert = excluded.alert, updated_at = excluded.updated_at`,
		e.Team, e.Name, e.Target, string(checks), string(regions), string(e.Alert), nanos(e.UpdatedAt), e.Name, e.Team, e.Team)
	if err != nil {
		return fmt.Errorf("sqlite: put endpoint %s/%s: %w", e.Team, e.Name, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: put endpoint %s/%s: %w", e.Team, e.Name, err)
	} else if n > 0 {
		return nil
	}
	// Which check refused it: a team removed since is the rarer case.
	var teams int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM teams WHERE name = ?`, e.Team).Scan(&teams); err != nil {
		return fmt.Errorf("sqlite: put endpoint %s/%s: %w", e.Team, e.Name, err)
	}
	if teams == 0 {
		return fmt.Errorf("sqlite: put endpoint %s/%s: no team %q: %w", e.Team, e.Name, e.Team, results.ErrNotFound)
	}
	return fmt.Errorf("sqlite: put endpoint %s/%s: another team has an endpoint of that name: %w", e.Team, e.Name, results.ErrConflict)
}

// DeleteEndpoint implements results.RegistryStore.
func (s *Store) DeleteEndpoint(ctx context.Context, team, name string) error {
	res, err := s.exec(ctx, `DELETE FROM endpoints WHERE team = ? AND name = ?`, team, name)
	if err != nil {
		return fmt.Errorf("sqlite: delete endpoint %s/%s: %w", team, name, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: delete endpoint %s/%s: %w", team, name, err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: endpoint %s/%s: %w", team, name, results.ErrNotFound)
	}
	return nil
}

// Endpoints implements results.RegistryStore.
func (s *Store) Endpoints(ctx context.Context, team string) ([]results.Endpoint, error) {
	q := `SELECT team, name, target, checks, regions, alert, updated_at FROM endpoints`
	var args []any
	if team != "" {
		q += ` WHERE team = ?`
		args = append(args, team)
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY team, name`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: endpoints: %w", err)
	}
	defer rows.Close()
	var out []results.Endpoint
	for rows.Next() {
		var e results.Endpoint
		var checks, regions, alert string
		var updated int64
		if err := rows.Scan(&e.Team, &e.Name, &e.Target, &checks, &regions, &alert, &updated); err != nil {
			return nil, fmt.Errorf("sqlite: endpoints: %w", err)
		}
		if err := json.Unmarshal([]byte(checks), &e.Checks); err != nil {
			return nil, fmt.Errorf("sqlite: endpoint %s/%s checks: %w", e.Team, e.Name, err)
		}
		if err := json.Unmarshal([]byte(regions), &e.Regions); err != nil {
			return nil, fmt.Errorf("sqlite: endpoint %s/%s regions: %w", e.Team, e.Name, err)
		}
		if alert != "" {
			e.Alert = json.RawMessage(alert)
		}
		e.UpdatedAt = timeOf(updated)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: endpoints: %w", err)
	}
	return out, nil
}
