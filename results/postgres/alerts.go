package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/picketnet/picket/results"
)

// Alerting's state (results.AlertStore): alerts with their history,
// silences, and the notification outbox. Bodies are the alerting package's
// JSON, kept as written (json, not jsonb); only the columns that queries
// select on are broken out.

// alertsMigration creates the alerting tables; it is appended to
// migrations.
const alertsMigration = `
CREATE TABLE alerts (
	key        text        NOT NULL,
	starts_at  timestamptz NOT NULL,
	team       text        NOT NULL,
	endpoint   text        NOT NULL,
	type       text        NOT NULL,
	severity   text        NOT NULL,
	state      text        NOT NULL, -- pending, firing, resolved
	updated_at timestamptz NOT NULL,
	body       json        NOT NULL,
	PRIMARY KEY (key, starts_at)
);
CREATE INDEX alerts_team_updated ON alerts (team, updated_at);
CREATE INDEX alerts_updated ON alerts (updated_at);
CREATE INDEX alerts_open ON alerts (state) WHERE state IN ('pending', 'firing');

CREATE TABLE silences (
	id        text        NOT NULL PRIMARY KEY,
	team      text        NOT NULL,
	starts_at timestamptz NOT NULL,
	ends_at   timestamptz NOT NULL,
	body      json        NOT NULL
);
CREATE INDEX silences_ends ON silences (ends_at);

CREATE TABLE outbox (
	id           text        NOT NULL PRIMARY KEY,
	notifier     text        NOT NULL,
	alert_key    text        NOT NULL,
	body         json        NOT NULL,
	created_at   timestamptz NOT NULL,
	attempts     integer     NOT NULL DEFAULT 0,
	next_attempt timestamptz NOT NULL,
	last_error   text        NOT NULL DEFAULT '',
	done         boolean     NOT NULL DEFAULT false,
	failed       boolean     NOT NULL DEFAULT false
);
CREATE INDEX outbox_due ON outbox (next_attempt) WHERE NOT done AND NOT failed;
CREATE INDEX outbox_pending ON outbox (alert_key, notifier, created_at) WHERE NOT done AND NOT failed;
`

var _ results.AlertStore = (*Store)(nil)

const alertColumns = `key, starts_at, team, endpoint, type, severity, state, updated_at, body`

// alertUpsert replaces a stored state with a later one: the lifecycle only
// moves forward (pending, firing, resolved), so a late write of an earlier
// state, from a replica that has not yet noticed it lost the lock, cannot
// reopen a resolved alert.
const alertUpsert = `INSERT INTO alerts (` + alertColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
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

// RecordAlerts implements results.AlertStore.
func (s *Store) RecordAlerts(ctx context.Context, alerts []results.AlertRecord, outbox []results.OutboxItem) error {
	if len(alerts) == 0 && len(outbox) == 0 {
		return nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// One statement per row, in order: an alert may appear twice in a
		// call, which one multi-row upsert could not take.
		b := &pgx.Batch{}
		for _, a := range alerts {
			b.Queue(alertUpsert, a.Key, a.StartsAt, a.Team, a.Endpoint, a.Type, a.Severity, a.State,
				a.UpdatedAt, jsonText(a.Body))
		}
		for _, o := range outbox {
			b.Queue(`INSERT INTO outbox (id, notifier, alert_key, body, created_at, attempts, next_attempt,
				last_error, done, failed) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
				o.ID, o.Notifier, o.AlertKey, jsonText(o.Body), o.CreatedAt, o.Attempts, o.NextAttempt,
				o.LastError, o.Done, o.Failed)
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if isUnique(err) {
		return fmt.Errorf("postgres: record alerts: outbox item: %w", results.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("postgres: record alerts: %w", err)
	}
	return nil
}

func (s *Store) queryAlerts(ctx context.Context, q string, args ...any) ([]results.AlertRecord, error) {
	rows, err := s.pool.Query(ctx, `SELECT key, starts_at, team, endpoint, type, severity, state, updated_at,
		body::text FROM alerts `+q, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (results.AlertRecord, error) {
		var a results.AlertRecord
		var body string
		err := r.Scan(&a.Key, &a.StartsAt, &a.Team, &a.Endpoint, &a.Type, &a.Severity, &a.State, &a.UpdatedAt, &body)
		a.StartsAt, a.UpdatedAt, a.Body = a.StartsAt.UTC(), a.UpdatedAt.UTC(), json.RawMessage(body)
		return a, err
	})
}

// OpenAlerts implements results.AlertStore.
func (s *Store) OpenAlerts(ctx context.Context) ([]results.AlertRecord, error) {
	out, err := s.queryAlerts(ctx, `WHERE state IN ('pending', 'firing') ORDER BY key, starts_at`)
	if err != nil {
		return nil, fmt.Errorf("postgres: open alerts: %w", err)
	}
	return out, nil
}

// ListAlerts implements results.AlertStore.
func (s *Store) ListAlerts(ctx context.Context, team string, since time.Time, limit int) ([]results.AlertRecord, error) {
	if limit <= 0 {
		limit = 1000
	}
	out, err := s.queryAlerts(ctx, `WHERE (state IN ('pending', 'firing') OR updated_at >= $1)
		AND ($2 = '' OR team = $2) ORDER BY updated_at DESC, key, starts_at DESC LIMIT $3`, since, team, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: list alerts: %w", err)
	}
	return out, nil
}

// PutSilence implements results.AlertStore: it creates the silence or
// replaces the one with the same id, which must be the same team's.
func (s *Store) PutSilence(ctx context.Context, sil results.SilenceRecord) error {
	tag, err := s.pool.Exec(ctx, `INSERT INTO silences (id, team, starts_at, ends_at, body) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (id) DO UPDATE SET starts_at = excluded.starts_at, ends_at = excluded.ends_at,
		body = excluded.body WHERE silences.team = excluded.team`,
		sil.ID, sil.Team, sil.StartsAt, sil.EndsAt, jsonText(sil.Body))
	if err != nil {
		return fmt.Errorf("postgres: put silence %s: %w", sil.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: silence %s belongs to another team: %w", sil.ID, results.ErrConflict)
	}
	return nil
}

// Silences implements results.AlertStore.
func (s *Store) Silences(ctx context.Context, team string, now time.Time) ([]results.SilenceRecord, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, team, starts_at, ends_at, body::text FROM silences
		WHERE ends_at > $1 AND ($2 = '' OR team = $2) ORDER BY starts_at, id`, now, team)
	if err != nil {
		return nil, fmt.Errorf("postgres: silences: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (results.SilenceRecord, error) {
		var sil results.SilenceRecord
		var body string
		err := r.Scan(&sil.ID, &sil.Team, &sil.StartsAt, &sil.EndsAt, &body)
		sil.StartsAt, sil.EndsAt, sil.Body = sil.StartsAt.UTC(), sil.EndsAt.UTC(), json.RawMessage(body)
		return sil, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: silences: %w", err)
	}
	return out, nil
}

// DeleteSilence implements results.AlertStore. Team "" deletes any team's.
func (s *Store) DeleteSilence(ctx context.Context, team, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM silences WHERE id = $1 AND ($2 = '' OR team = $2)`, id, team)
	if err != nil {
		return fmt.Errorf("postgres: delete silence %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: silence %s: %w", id, results.ErrNotFound)
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
	rows, err := s.pool.Query(ctx, `SELECT id, notifier, alert_key, body::text, created_at, attempts,
		next_attempt, last_error FROM outbox o
		WHERE NOT done AND NOT failed AND next_attempt <= $1
		AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.alert_key = o.alert_key AND p.notifier = o.notifier
			AND NOT p.done AND NOT p.failed AND (p.created_at, p.id) < (o.created_at, o.id))
		ORDER BY created_at, id LIMIT $2`, now, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: due outbox: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (results.OutboxItem, error) {
		var o results.OutboxItem
		var body string
		var attempts int32
		err := r.Scan(&o.ID, &o.Notifier, &o.AlertKey, &body, &o.CreatedAt, &attempts, &o.NextAttempt, &o.LastError)
		o.Body, o.Attempts = json.RawMessage(body), int(attempts)
		o.CreatedAt, o.NextAttempt = o.CreatedAt.UTC(), o.NextAttempt.UTC()
		return o, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: due outbox: %w", err)
	}
	return out, nil
}

// MarkOutbox implements results.AlertStore.
func (s *Store) MarkOutbox(ctx context.Context, item results.OutboxItem) error {
	tag, err := s.pool.Exec(ctx, `UPDATE outbox SET attempts = $1, next_attempt = $2, last_error = $3,
		done = $4, failed = $5 WHERE id = $6`,
		item.Attempts, item.NextAttempt, item.LastError, item.Done, item.Failed, item.ID)
	if err != nil {
		return fmt.Errorf("postgres: mark outbox %s: %w", item.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: outbox item %s: %w", item.ID, results.ErrNotFound)
	}
	return nil
}

// HoldsLock reports whether the named lock taken with TryLock is still
// held. The lock lives as long as its session, and a session can end
// without this process unlocking: a network partition, a server restart,
// an idle-session timeout. Then another replica may hold the lock, and
// work guarded by it must stop. A failed check counts as lost: the lock
// session is closed, releasing whatever it still held, so that this
// process's view and the server's agree.
func (s *Store) HoldsLock(ctx context.Context, name string) (bool, error) {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	if !s.locked[name] || s.lconn == nil {
		return false, nil
	}
	// A session-level lock on a bigint key shows in pg_locks as classid
	// (high half), objid (low half) and objsubid 1.
	key := uint64(hashKey("lock", name))
	var held bool
	err := s.lconn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'
		AND pid = pg_backend_pid() AND granted AND objsubid = 1
		AND classid::bigint = $1 AND objid::bigint = $2)`, int64(key>>32), int64(key&0xffffffff)).Scan(&held)
	if err != nil {
		s.lconn.Close(context.Background())
		s.lconn = nil
		clear(s.locked)
		return false, fmt.Errorf("postgres: check lock %q: %w", name, err)
	}
	if !held {
		delete(s.locked, name)
	}
	return held, nil
}
