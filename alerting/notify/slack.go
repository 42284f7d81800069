package notify

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Slack posts to a Slack incoming webhook with Block Kit blocks and a plain
// text fallback for notifications.
type Slack struct {
	URL    string
	Client *http.Client
}

// SlackPayload is the incoming-webhook body.
type SlackPayload struct {
	Text   string       `json:"text"`
	Blocks []SlackBlock `json:"blocks"`
}

// SlackBlock is the subset of Block Kit used: header, section, context.
type SlackBlock struct {
	Type     string      `json:"type"`
	Text     *SlackText  `json:"text,omitempty"`
	Fields   []SlackText `json:"fields,omitempty"`
	Elements []SlackText `json:"elements,omitempty"`
}

// SlackText is a text object.
type SlackText struct {
	Type string `json:"type"` // plain_text, mrkdwn
	Text string `json:"text"`
}

// slackTitle is the header: state symbol, state and severity, so the
// channel reads at a glance without relying on colour.
func slackTitle(m Message) string {
	symbol := "🔴"
	if m.Status == "resolved" {
		symbol = "✅"
	} else if m.Severity != "page" {
		symbol = "🟠"
	}
	return fmt.Sprintf("%s %s [%s] %s", symbol, strings.ToUpper(m.Status), m.Severity, m.Type)
}

// BuildSlack renders m as blocks. Text that Picket did not write itself
// (summaries carry AS names such as "AT&T") is escaped, since Slack reads
// &, < and > in mrkdwn as entities and links.
func BuildSlack(m Message) SlackPayload {
	fields := []SlackText{
		{Type: "mrkdwn", Text: "*Endpoint*\n" + slackEscape(orDash(m.Endpoint))},
		{Type: "mrkdwn", Text: "*Team*\n" + slackEscape(orDash(m.Team))},
		{Type: "mrkdwn", Text: "*Severity*\n" + m.Severity},
		{Type: "mrkdwn", Text: "*Regions*\n" + slackEscape(orDash(strings.Join(m.Regions, ", ")))},
		{Type: "mrkdwn", Text: "*ASNs*\n" + orDash(joinASNs(m.ASNs))},
	}
	if m.Layer != "" {
		fields = append(fields, SlackText{Type: "mrkdwn", Text: "*Failing*\n" + slackEscape(m.Layer+"/"+m.Code)})
	}
	if m.Error != "" {
		fields = append(fields, SlackText{Type: "mrkdwn", Text: "*Error*\n" + slackEscape(truncate(m.Error, 1900))})
	}
	if m.Phase != "" {
		fields = append(fields, SlackText{Type: "mrkdwn", Text: "*Phase*\n" + slackEscape(m.Phase)})
	}
	const stamp = "2006-01-02 15:04:05Z"
	ctx := "since " + m.StartsAt.UTC().Format(stamp)
	if m.Status == "resolved" && !m.EndsAt.IsZero() {
		// "since" would read as still going: say when it ended and how
		// long it lasted.
		ctx = fmt.Sprintf("from %s to %s (%s)", m.StartsAt.UTC().Format(stamp), m.EndsAt.UTC().Format(stamp),
			m.EndsAt.Sub(m.StartsAt).Round(time.Second))
	}
	ctx += fmt.Sprintf(" · key `%s`", m.DedupKey)
	if m.URL != "" {
		ctx += fmt.Sprintf(" · <%s|dashboard>", m.URL)
	}
	title := slackTitle(m)
	summary := slackEscape(m.Summary)
	return SlackPayload{
		Text: title + ": " + summary,
		Blocks: []SlackBlock{
			{Type: "header", Text: &SlackText{Type: "plain_text", Text: truncate(title, 150)}},
			{Type: "section", Text: &SlackText{Type: "mrkdwn", Text: truncate(summary, 3000)}},
			{Type: "section", Fields: fields},
			{Type: "context", Elements: []SlackText{{Type: "mrkdwn", Text: ctx}}},
		},
	}
}

// slackEscape escapes the three characters Slack's mrkdwn gives a meaning
// to (https://api.slack.com/reference/surfaces/formatting#escaping).
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func (s Slack) Send(ctx context.Context, m Message) error {
	return postJSON(ctx, client(s.Client), s.URL, BuildSlack(m), nil)
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func joinASNs(asns []uint32) string {
	parts := make([]string, len(asns))
	for i, a := range asns {
		parts[i] = fmt.Sprintf("AS%d", a)
	}
	return strings.Join(parts, ", ")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	r := []rune(s)
	for len(string(r)) > n-1 {
		r = r[:len(r)-1]
	}
	return string(r) + "…"
}
