package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/picketnet/picket/results"
)

// Alerting's state (results.AlertStore): alerts with their history,
// silences, and the notification outbox. Bodies are the alerting package's
// JSON; only the columns that queries select on are broken out.

// alertsMigration creates the alerting tables; it is appended to
// migrations.
const alertsMigration = `
CREATE TABLE alerts (
	key        TEXT    NOT NULL,
	starts_at  INTEGER NOT NULL, -- Unix nanoseconds
	team       TEXT    NOT NULL,
	endpoint   TEXT    NOT NULL,
	type       TEXT    NOT NULL,
	severity   TEXT    NOT NULL,
	state      TEXT    NOT NULL, -- pending, firing, resolved
	updated_at INTEGER NOT NULL,
	body       TEXT    NOT NULL,
	PRIMARY KEY (key, starts_at)
) WITHOUT ROWID;
CREATE INDEX alerts_team_updated ON alerts (team, updated_at);
CREATE INDEX alerts_updated ON alerts (updated_at);
CREATE INDEX alerts_open ON alerts (state) WHERE state IN ('pending', 'firing');

CREATE TABLE silences (
	id        TEXT    NOT NULL PRIMARY KEY,
	team      TEXT    NOT NULL,
	starts_at INTEGER NOT NULL,
	ends_at   INTEGER NOT NULL,
	body      TEXT    NOT NULL
);
CREATE INDEX silences_ends ON silences (ends_at);

CREATE TABLE outbox (
	id           TEXT    NOT NULL PRIMARY KEY,
	notifier     TEXT    NOT NULL,
	alert_key    TEXT    NOT NULL,
	body         TEXT    NOT NULL,
	created_at   INTEGER NOT NULL,
	attempts     INTEGER NOT NULL DEFAULT 0,
	next_attempt INTEGER NOT NULL,
	last_error   TEXT    NOT NULL DEFAULT '',
	done         INTEGER NOT NULL DEFAULT 0,
	failed       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX outbox_due ON outbox (next_attempt) WHERE done = 0 AND failed = 0;
CREATE INDEX outbox_pending ON outbox (alert_key, notifier, created_at) WHERE done = 0 AND failed = 0;
`

var _ results.AlertStore = (*Store)(nil)

const alertColumns = `key, starts_at, team, endpoint, type, severity, state, updated_at, body`

// alertUpsert replaces a stored state with a later one: the lifecycle only
// moves forward (pending, firing, resolved), so a late write of an earlier
// state, from a replica that has not yet noticed it lost the lock, cannot
// reopen a resolved alert.
const alertUpsert = `INSERT INTO alerts (` + alertColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (key, starts_at) DO UPDATE SET
	team = excluded.team, endpoint = excluded.endpoint, type = excluded.type,
	severity = excluded.severity, state = excluded.state, updated_at = excluded.updated_at,
	body = excluded.body
	WHERE (CASE excluded.state WHEN 'pending' THEN 0 WHEN 'firing' THEN 1 ELSE 2 END)
	   >= (CASE alerts.state WHEN 'pending' THEN 0 WHEN 'firing' THEN 1 ELSE 2 END)`

func jsonText(b json.RawMessage) string {
	if len(b) == 0 {
		return "null"
	}
	return string(b)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// RecordAlerts implements results.AlertStore.
func (s *Store) RecordAlerts(ctx context.Context, alerts []results.AlertRecord, outbox []results.OutboxItem) error {
	if len(alerts) == 0 && len(outbox) == 0 {
		return nil
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: record alerts: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	for _, a := range alerts {
		if _, err := tx.ExecContext(ctx, alertUpsert, a.Key, a.StartsAt.UnixNano(), a.Team, a.Endpoint,
			a.Type, a.Severity, a.State, a.UpdatedAt.UnixNano(), jsonText(a.Body)); err != nil {
			return fmt.Errorf("sqlite: record alert %s: %w", a.Key, err)
		}
	}
	for _, o := range outbox {
		_, err := tx.ExecContext(ctx, `INSERT INTO outbox (id, notifier, alert_key, body, created_at,
			attempts, next_attempt, last_error, done, failed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			o.ID, o.Notifier, o.AlertKey, jsonText(o.Body), o.CreatedAt.UnixNano(), o.Attempts,
			o.NextAttempt.UnixNano(), o.LastError, boolInt(o.Done), boolInt(o.Failed))
		if isUnique(err) {
			return fmt.Errorf("sqlite: outbox item %s: %w", o.ID, results.ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("sqlite: outbox item %s: %w", o.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: record alerts: commit: %w", err)
	}
	return nil
}

func (s *Store) queryAlerts(ctx context.Context, q string, args ...any) ([]results.AlertRecord, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+alertColumns+` FROM alerts `+q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []results.AlertRecord
	for rows.Next() {
		var a results.AlertRecord
		var starts, updated int64
		var body string
		if err := rows.Scan(&a.Key, &starts, &a.Team, &a.Endpoint, &a.Type, &a.Severity, &a.State, &updated, &body); err != nil {
			return nil, err
		}
		a.StartsAt, a.UpdatedAt, a.Body = timeOf(starts), timeOf(updated), json.RawMessage(body)
		out = append(out, a)
	}
	return out, rows.Err()
}

// OpenAlerts implements results.AlertStore.
func (s *Store) OpenAlerts(ctx context.Context) ([]results.AlertRecord, error) {
	out, err := s.queryAlerts(ctx, `WHERE state IN ('pending', 'firing') ORDER BY key, starts_at`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open alerts: %w", err)
	}
	return out, nil
}

// ListAlerts implements results.AlertStore.
func (s *Store) ListAlerts(ctx context.Context, team string, since time.Time, limit int) ([]results.AlertRecord, error) {
	if limit <= 0 {
		limit = 1000
	}
	q := `WHERE (state IN ('pending', 'firing') OR updated_at >= ?)`
	args := []any{since.UnixNano()}
	if team != "" {
		q += ` AND team = ?`
		args = append(args, team)
	}
	q += ` ORDER BY updated_at DESC, key, starts_at DESC LIMIT ?`
	out, err := s.queryAlerts(ctx, q, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list alerts: %w", err)
	}
	return out, nil
}

// PutSilence implements results.AlertStore: it creates the silence or
// replaces the one with the same id, which must be the same team's.
func (s *Store) PutSilence(ctx context.Context, sil results.SilenceRecord) error {
	res, err := s.exec(ctx, `INSERT INTO silences (id, team, starts_at, ends_at, body) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET starts_at = excluded.starts_at, ends_at = excluded.ends_at,
		body = excluded.body WHERE silences.team = excluded.team`,
		sil.ID, sil.Team, sil.StartsAt.UnixNano(), sil.EndsAt.UnixNano(), jsonText(sil.Body))
	if err != nil {
		return fmt.Errorf("sqlite: put silence %s: %w", sil.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: put silence %s: %w", sil.ID, err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: silence %s belongs to another team: %w", sil.ID, results.ErrConflict)
	}
	return nil
}

// Silences implements results.AlertStore.
func (s *Store) Silences(ctx context.Context, team string, now time.Time) ([]results.SilenceRecord, error) {
	q := `SELECT id, team, starts_at, ends_at, body FROM silences WHERE ends_at > ?`
	args := []any{now.UnixNano()}
	if team != "" {
		q += ` AND team = ?`
		args = append(args, team)
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY starts_at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: silences: %w", err)
	}
	defer rows.Close()
	var out []results.SilenceRecord
	for rows.Next() {
		var r results.SilenceRecord
		var starts, ends int64
		var body string
		if err := rows.Scan(&r.ID, &r.Team, &starts, &ends, &body); err != nil {
			return nil, fmt.Errorf("sqlite: silences: %w", err)
		}
		r.StartsAt, r.EndsAt, r.Body = timeOf(starts), timeOf(ends), json.RawMessage(body)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: silences: %w", err)
	}
	return out, nil
}

// DeleteSilence implements results.AlertStore. Team "" deletes any team's.
func (s *Store) DeleteSilence(ctx context.Context, team, id string) error {
	q, args := `DELETE FROM silences WHERE id = ?`, []any{id}
	if team != "" {
		q += ` AND team = ?`
		args = append(args, team)
	}
	res, err := s.exec(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("sqlite: delete silence %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: delete silence %s: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: silence %s: %w", id, results.ErrNotFound)
	}
	return nil
}

// DueOutbox implements results.AlertStore. Items come in the order they
// were enqueued, and one waits while an older one of the same alert and
// notifier is undelivered, so that a resolve never overtakes its firing.
func (s *Store) DueOutbox(ctx context.Context, now time.Time, limit int) ([]results.OutboxItem, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id, notifier, alert_key, body, created_at, attempts,
		next_attempt, last_error FROM outbox o
		WHERE done = 0 AND failed = 0 AND next_attempt <= ?
		AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.alert_key = o.alert_key AND p.notifier = o.notifier
			AND p.done = 0 AND p.failed = 0
			AND (p.created_at < o.created_at OR (p.created_at = o.created_at AND p.id < o.id)))
		ORDER BY created_at, id LIMIT ?`, now.UnixNano(), limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: due outbox: %w", err)
	}
	defer rows.Close()
	var out []results.OutboxItem
	for rows.Next() {
		var o results.OutboxItem
		var body string
		var created, next int64
		if err := rows.Scan(&o.ID, &o.Notifier, &o.AlertKey, &body, &created, &o.Attempts, &next, &o.LastError); err != nil {
			return nil, fmt.Errorf("sqlite: due outbox: %w", err)
		}
		o.Body, o.CreatedAt, o.NextAttempt = json.RawMessage(body), timeOf(created), timeOf(next)
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: due outbox: %w", err)
	}
	return out, nil
}

// MarkOutbox implements results.AlertStore.
func (s *Store) MarkOutbox(ctx context.Context, item results.OutboxItem) error {
	res, err := s.exec(ctx, `UPDATE outbox SET attempts = ?, next_attempt = ?, last_error = ?, done = ?, failed = ?
		WHERE id = ?`, item.Attempts, item.NextAttempt.UnixNano(), item.LastError,
		boolInt(item.Done), boolInt(item.Failed), item.ID)
	if err != nil {
		return fmt.Errorf("sqlite: mark outbox %s: %w", item.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: mark outbox %s: %w", item.ID, err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: outbox item %s: %w", item.ID, results.ErrNotFound)
	}
	return nil
}

// HoldsLock reports whether the named lock taken with TryLock is still
// held: with an in-process lock, until it is unlocked.
func (s *Store) HoldsLock(ctx context.Context, name string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	s.lmu.Lock()
	defer s.lmu.Unlock()
	return s.locks[name], nil
}
