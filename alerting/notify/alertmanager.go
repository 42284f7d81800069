package notify

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Alertmanager posts alerts to an Alertmanager's v2 API. Labels identify
// the alert (Alertmanager deduplicates on them); a resolve is the same
// labels with endsAt set.
type Alertmanager struct {
	URL    string // base URL, e.g. http://alertmanager:9093
	Client *http.Client
}

// AlertmanagerAlert is one element of POST /api/v2/alerts.
type AlertmanagerAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// BuildAlertmanager renders m as a one-alert batch.
func BuildAlertmanager(m Message) []AlertmanagerAlert {
	labels := map[string]string{
		"alertname": "Picket_" + m.Type, "severity": m.Severity, "picket_key": m.DedupKey,
	}
	for k, v := range map[string]string{"team": m.Team, "endpoint": m.Endpoint, "check": m.Check} {
		if v != "" {
			labels[k] = v
		}
	}
	ann := map[string]string{"summary": m.Summary}
	if len(m.Regions) > 0 {
		ann["regions"] = strings.Join(m.Regions, ",")
	}
	if len(m.ASNs) > 0 {
		ann["asns"] = joinASNs(m.ASNs)
	}
	if m.Layer != "" {
		ann["failing"] = fmt.Sprintf("%s/%s", m.Layer, m.Code)
	}
	if m.Error != "" {
		ann["error"] = m.Error
	}
	a := AlertmanagerAlert{Labels: labels, Annotations: ann, StartsAt: m.StartsAt.UTC(), GeneratorURL: m.URL}
	if m.Status == "resolved" {
		a.EndsAt = m.At.UTC()
	}
	return []AlertmanagerAlert{a}
}

func (a Alertmanager) Send(ctx context.Context, m Message) error {
	return postJSON(ctx, client(a.Client), strings.TrimRight(a.URL, "/")+"/api/v2/alerts", BuildAlertmanager(m), nil)
}
