package notify

import (
	"context"
	"encoding/json"
	"net/http"
)

// DefaultPagerDutyURL is the Events API v2 endpoint.
const DefaultPagerDutyURL = "https://events.pagerduty.com/v2/enqueue"

// PagerDuty triggers and resolves incidents with the Events API v2. The
// alert key is the dedup_key, so a resolve closes the incident its trigger
// opened, and repeated triggers of one alert stay one incident.
type PagerDuty struct {
	URL        string // DefaultPagerDutyURL when empty
	RoutingKey string
	Client     *http.Client
}

// PagerDutyEvent is an Events API v2 event.
type PagerDutyEvent struct {
	RoutingKey  string            `json:"routing_key"`
	EventAction string            `json:"event_action"` // trigger, resolve
	DedupKey    string            `json:"dedup_key"`
	Payload     *PagerDutyPayload `json:"payload,omitempty"`
	Client      string            `json:"client,omitempty"`
	ClientURL   string            `json:"client_url,omitempty"`
}

// PagerDutyPayload is the payload of a trigger.
type PagerDutyPayload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"` // critical, error, warning, info
	Timestamp     string         `json:"timestamp"`
	Component     string         `json:"component,omitempty"`
	Group         string         `json:"group,omitempty"`
	Class         string         `json:"class,omitempty"`
	CustomDetails map[string]any `json:"custom_details,omitempty"`
}

// BuildPagerDuty renders m as an event.
func BuildPagerDuty(routingKey string, m Message) PagerDutyEvent {
	ev := PagerDutyEvent{RoutingKey: routingKey, DedupKey: m.DedupKey, Client: "Picket", ClientURL: m.URL}
	if m.Status == "resolved" {
		ev.EventAction = "resolve"
		return ev
	}
	ev.EventAction = "trigger"
	sev := "warning"
	switch m.Severity {
	case "page":
		sev = "critical"
	case "info":
		sev = "info"
	}
	source := m.Endpoint
	if source == "" {
		source = "picket"
	}
	// The alert's own details (the new ASNs of a detour, the value that
	// broke a limit) first, so that the fields every alert has win.
	details := map[string]any{}
	if len(m.Details) > 0 {
		_ = json.Unmarshal(m.Details, &details) // an object from alerting; anything else adds nothing
	}
	details["type"], details["regions"], details["asns"], details["vantages"] = m.Type, m.Regions, m.ASNs, m.Vantages
	if m.Layer != "" {
		details["failing"] = m.Layer + "/" + m.Code
	}
	if m.Error != "" {
		details["error"] = m.Error
	}
	if m.Phase != "" {
		details["phase"] = m.Phase
	}
	ev.Payload = &PagerDutyPayload{
		Summary: truncate(m.Summary, 1024), Source: source, Severity: sev,
		Timestamp: m.StartsAt.UTC().Format("2006-01-02T15:04:05.000Z"),
		Component: m.Check, Group: m.Team, Class: m.Type, CustomDetails: details,
	}
	return ev
}

func (p PagerDuty) Send(ctx context.Context, m Message) error {
	url := p.URL
	if url == "" {
		url = DefaultPagerDutyURL
	}
	return postJSON(ctx, client(p.Client), url, BuildPagerDuty(p.RoutingKey, m), nil)
}
