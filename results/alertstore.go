package results

import (
	"context"
	"encoding/json"
	"time"
)

// AlertStore keeps alerting's state: alerts with their history, silences,
// and the notification outbox. The records are opaque JSON bodies with the
// few columns the stores index, so this package does not depend on
// alerting's types.
type AlertStore interface {
	// RecordAlerts saves alert states (upsert by Key and StartsAt) and
	// enqueues notifications in one transaction: a notification exists if
	// and only if the transition that caused it was recorded.
	RecordAlerts(ctx context.Context, alerts []AlertRecord, outbox []OutboxItem) error
	// OpenAlerts returns every pending or firing alert.
	OpenAlerts(ctx context.Context) ([]AlertRecord, error)
	// ListAlerts returns a team's alerts (every team's for "") that are open
	// or were updated since since, newest first, at most limit.
	ListAlerts(ctx context.Context, team string, since time.Time, limit int) ([]AlertRecord, error)

	PutSilence(ctx context.Context, s SilenceRecord) error
	// Silences returns a team's silences (every team's for "") that end
	// after now.
	Silences(ctx context.Context, team string, now time.Time) ([]SilenceRecord, error)
	DeleteSilence(ctx context.Context, team, id string) error // ErrNotFound

	// DueOutbox returns undelivered notifications whose next attempt is at
	// or before now, oldest first. An item is held back while an older
	// undelivered one of the same AlertKey and Notifier exists, so that a
	// receiver never gets an alert's resolve before its firing.
	DueOutbox(ctx context.Context, now time.Time, limit int) ([]OutboxItem, error)
	// MarkOutbox records an attempt: delivered (Done), given up (Failed), or
	// to retry at NextAttempt.
	MarkOutbox(ctx context.Context, item OutboxItem) error
}

// AlertRecord is one alert as stored. An alert that resolves and fires
// again later is a new record (same Key, new StartsAt), so history stays.
type AlertRecord struct {
	Key       string          `json:"key"`
	StartsAt  time.Time       `json:"starts_at"`
	Team      string          `json:"team"`
	Endpoint  string          `json:"endpoint"`
	Type      string          `json:"type"`
	Severity  string          `json:"severity"`
	State     string          `json:"state"` // pending, firing, resolved
	UpdatedAt time.Time       `json:"updated_at"`
	Body      json.RawMessage `json:"body"`
}

// SilenceRecord is a silence or maintenance window.
type SilenceRecord struct {
	ID       string          `json:"id"`
	Team     string          `json:"team"`
	StartsAt time.Time       `json:"starts_at"`
	EndsAt   time.Time       `json:"ends_at"`
	Body     json.RawMessage `json:"body"`
}

// OutboxItem is a notification waiting to be delivered.
type OutboxItem struct {
	ID          string          `json:"id"`
	Notifier    string          `json:"notifier"`
	AlertKey    string          `json:"alert_key"`
	Body        json.RawMessage `json:"body"`
	CreatedAt   time.Time       `json:"created_at"`
	Attempts    int             `json:"attempts"`
	NextAttempt time.Time       `json:"next_attempt"`
	LastError   string          `json:"last_error,omitempty"`
	Done        bool            `json:"done"`
	Failed      bool            `json:"failed"`
}
