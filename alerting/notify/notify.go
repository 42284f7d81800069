package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Message is one alert transition as notifiers see it. It is a copy of the
// alert's fields so this package does not depend on the engine.
type Message struct {
	// DedupKey is stable for the life of an alert: PagerDuty's dedup_key,
	// the Alertmanager label set, the webhook's "key".
	DedupKey string   `json:"dedup_key"`
	Status   string   `json:"status"` // firing, resolved
	Type     string   `json:"type"`
	Severity string   `json:"severity"` // page, notify, info
	Summary  string   `json:"summary"`
	Team     string   `json:"team,omitempty"`
	Endpoint string   `json:"endpoint,omitempty"`
	Check    string   `json:"check,omitempty"`
	Regions  []string `json:"regions,omitempty"`
	ASNs     []uint32 `json:"asns,omitempty"`
	Vantages []string `json:"vantages,omitempty"`
	Layer    string   `json:"layer,omitempty"`
	Code     string   `json:"code,omitempty"`
	// Error quotes one vantage's error message of that layer and code.
	Error    string    `json:"error,omitempty"`
	Phase    string    `json:"phase,omitempty"`
	StartsAt time.Time `json:"starts_at"`
	EndsAt   time.Time `json:"ends_at,omitzero"`
	At       time.Time `json:"at"`
	// Details holds the rest of the alert (new ASNs, extra ms, ...).
	Details json.RawMessage `json:"details,omitempty"`
	// URL links back to the dashboard, when the collector knows its own.
	URL string `json:"url,omitempty"`
}

// Sender delivers messages to one destination.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// ErrPermanent marks a failure that retrying cannot fix (a 4xx other than
// 408/429, a malformed destination); the outbox gives up on it at once.
var ErrPermanent = errors.New("permanent delivery failure")

// maxResponse bounds what is read of a destination's answer.
const maxResponse = 64 << 10

// postJSON posts body as JSON and maps the answer to nil, a retryable
// error, or one wrapping ErrPermanent.
func postJSON(ctx context.Context, client *http.Client, url string, body any, header http.Header) error {
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("%w: encode: %v", ErrPermanent, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrPermanent, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "picket-notify")
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("post to %s: %w", req.URL.Host, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode >= 500:
		return fmt.Errorf("%s answered %s: %s", req.URL.Host, resp.Status, bytes.TrimSpace(answer))
	}
	return fmt.Errorf("%w: %s answered %s: %s", ErrPermanent, req.URL.Host, resp.Status, bytes.TrimSpace(answer))
}

// Webhook posts the Message itself as JSON.
type Webhook struct {
	URL    string
	Client *http.Client
}

// WebhookPayload is the body of a webhook notification; Version lets
// receivers cope with future additions.
type WebhookPayload struct {
	Version string `json:"version"`
	Message
}

func (w Webhook) Send(ctx context.Context, m Message) error {
	return postJSON(ctx, client(w.Client), w.URL, WebhookPayload{Version: "1", Message: m}, nil)
}

func client(c *http.Client) *http.Client {
	if c != nil {
		return c
	}
	return &http.Client{Timeout: 15 * time.Second}
}
