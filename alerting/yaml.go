package alerting

import (
	"fmt"
	"net/mail"
	"net/url"
	"os"
	"strings"

	"github.com/picketnet/picket/alerting/notify"
	"github.com/picketnet/picket/internal/config"
)

// YAMLConfig is the alerting block of collector.yaml. Omitted keys keep
// the defaults of DefaultConfig.
type YAMLConfig struct {
	EvaluateEvery config.Duration `yaml:"evaluate_every"`
	FailAfter     int             `yaml:"fail_after"`
	RecoverAfter  int             `yaml:"recover_after"`
	PendingFor    config.Duration `yaml:"pending_for"`
	Latency       struct {
		Window      config.Duration `yaml:"window"`
		Baseline    config.Duration `yaml:"baseline"`
		K           float64         `yaml:"k"`
		Ratio       float64         `yaml:"ratio"`
		FloorMS     float64         `yaml:"floor_ms"`
		Windows     int             `yaml:"windows"`
		MinVantages int             `yaml:"min_vantages"`
	} `yaml:"latency"`
	Path struct {
		Rounds     int     `yaml:"rounds"`
		History    int     `yaml:"history"`
		UsualShare float64 `yaml:"usual_share"`
		FloorMS    float64 `yaml:"floor_ms"`
	} `yaml:"path"`
	MissingAfter    int     `yaml:"missing_after"`
	CertMinDaysLeft float64 `yaml:"cert_min_days_left"`
	// DashboardURL is the collector's public URL, linked from notifications.
	DashboardURL string `yaml:"dashboard_url"`
}

// Config converts the YAML block to the engine's configuration.
func (y YAMLConfig) Config() Config {
	c := Config{
		EvaluateEvery: y.EvaluateEvery.Std(), FailAfter: y.FailAfter, RecoverAfter: y.RecoverAfter,
		PendingFor: y.PendingFor.Std(), MissingAfter: y.MissingAfter, CertMinDaysLeft: y.CertMinDaysLeft,
	}
	c.Latency = LatencyConfig{Window: y.Latency.Window.Std(), Baseline: y.Latency.Baseline.Std(), K: y.Latency.K,
		Ratio: y.Latency.Ratio, FloorMS: y.Latency.FloorMS, Windows: y.Latency.Windows, MinVantages: y.Latency.MinVantages}
	c.Path = PathConfig{Rounds: y.Path.Rounds, History: y.Path.History, UsualShare: y.Path.UsualShare, FloorMS: y.Path.FloorMS}
	return c.withDefaults()
}

// NotifierConfig is one entry of collector.yaml's notifiers list. Secrets
// (PagerDuty routing keys, Slack URLs, SMTP passwords) come from files or
// environment variables.
type NotifierConfig struct {
	Name           string     `yaml:"name"`
	Kind           string     `yaml:"kind"` // webhook, slack, pagerduty, email, alertmanager
	URL            string     `yaml:"url"`
	URLFile        string     `yaml:"url_file"`
	URLEnv         string     `yaml:"url_env"`
	RoutingKeyFile string     `yaml:"routing_key_file"`
	RoutingKeyEnv  string     `yaml:"routing_key_env"`
	SMTP           string     `yaml:"smtp"`
	From           string     `yaml:"from"`
	To             []string   `yaml:"to"`
	Username       string     `yaml:"username"`
	PasswordFile   string     `yaml:"password_file"`
	PasswordEnv    string     `yaml:"password_env"`
	Severities     []Severity `yaml:"severities"`
}

// NotifierError is a mistake in one entry of collector.yaml's notifiers
// list, naming the entry and the field, so that the caller can add the
// field's line.
type NotifierError struct {
	// Index is the entry's position in the list.
	Index int
	// Name is the entry's name, when it has one.
	Name string
	// Field is the key inside the entry ("url", "to[1]"); empty for the
	// entry as a whole.
	Field  string
	Reason string
	Err    error
}

func (e *NotifierError) Error() string {
	where := fmt.Sprintf("notifiers[%d]", e.Index)
	if e.Name != "" {
		where += " (" + e.Name + ")"
	}
	if e.Field != "" {
		where += "." + e.Field
	}
	return where + ": " + e.Reason
}

func (e *NotifierError) Unwrap() error { return e.Err }

// Path is the field's path in the file: "notifiers[2].url".
func (e *NotifierError) Path() string {
	p := fmt.Sprintf("notifiers[%d]", e.Index)
	if e.Field != "" {
		p += "." + e.Field
	}
	return p
}

// BuildRoutes turns the notifiers list into routes, reading secrets. An
// error is a *NotifierError naming the notifier and the field. Notifiers
// without severities get page and notify (info is recorded only).
func BuildRoutes(cfgs []NotifierConfig, getenv func(string) string) ([]Route, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	var routes []Route
	seen := map[string]bool{}
	for i, c := range cfgs {
		fail := func(field, format string, args ...any) error {
			e := &NotifierError{Index: i, Name: c.Name, Field: field, Reason: fmt.Sprintf(format, args...)}
			for _, a := range args {
				if err, ok := a.(error); ok {
					e.Err = err
				}
			}
			return e
		}
		if c.Name == "" {
			return nil, fail("name", "missing")
		}
		if seen[c.Name] {
			return nil, fail("name", "%q is used twice", c.Name)
		}
		seen[c.Name] = true
		for j, s := range c.Severities {
			if s != SeverityPage && s != SeverityNotify && s != SeverityInfo {
				return nil, fail(fmt.Sprintf("severities[%d]", j), "%q is not one of page, notify, info", s)
			}
		}
		sev := c.Severities
		if len(sev) == 0 {
			sev = []Severity{SeverityPage, SeverityNotify}
		}
		var sender notify.Sender
		switch c.Kind {
		case "webhook", "slack", "alertmanager":
			field := firstSet([]string{"url", "url_file", "url_env"}, c.URL, c.URLFile, c.URLEnv)
			u, err := secretOrInline(c.URL, c.URLFile, c.URLEnv, getenv)
			if err != nil {
				return nil, fail(field, "%v", err)
			}
			if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
				return nil, fail(field, "not an http(s) URL")
			}
			switch c.Kind {
			case "webhook":
				sender = notify.Webhook{URL: u}
			case "slack":
				if c.URL != "" {
					return nil, fail("url", "a Slack webhook URL is a secret: use url_file or url_env")
				}
				sender = notify.Slack{URL: u}
			default:
				sender = notify.Alertmanager{URL: u}
			}
		case "pagerduty":
			key, err := config.Secret{File: c.RoutingKeyFile, Env: c.RoutingKeyEnv}.Read(getenv)
			if err != nil {
				return nil, fail(firstSet([]string{"routing_key_file", "routing_key_env"}, c.RoutingKeyFile, c.RoutingKeyEnv), "%v", err)
			}
			sender = notify.PagerDuty{URL: c.URL, RoutingKey: key}
		case "email":
			if c.SMTP == "" || !strings.Contains(c.SMTP, ":") {
				return nil, fail("smtp", "want host:port")
			}
			if _, err := mail.ParseAddress(c.From); err != nil {
				return nil, fail("from", "%v", err)
			}
			if len(c.To) == 0 {
				return nil, fail("to", "missing")
			}
			for j, to := range c.To {
				if _, err := mail.ParseAddress(to); err != nil {
					return nil, fail(fmt.Sprintf("to[%d]", j), "%v", err)
				}
			}
			e := notify.Email{Addr: c.SMTP, From: c.From, To: c.To, Username: c.Username}
			if c.Username != "" {
				pw, err := config.Secret{File: c.PasswordFile, Env: c.PasswordEnv}.Read(getenv)
				if err != nil {
					return nil, fail(firstSet([]string{"password_file", "password_env"}, c.PasswordFile, c.PasswordEnv), "%v", err)
				}
				e.Password = pw
			}
			sender = e
		case "":
			return nil, fail("kind", "missing; one of webhook, slack, pagerduty, email, alertmanager")
		default:
			return nil, fail("kind", "%q is not one of webhook, slack, pagerduty, email, alertmanager", c.Kind)
		}
		routes = append(routes, Route{Name: c.Name, Sender: sender, Severities: sev})
	}
	return routes, nil
}

// firstSet returns the name of the first non-empty value, so that an error
// about a secret names the key the operator wrote; names[0] when none is.
func firstSet(names []string, values ...string) string {
	for i, v := range values {
		if v != "" {
			return names[i]
		}
	}
	return names[0]
}

// secretOrInline reads a value given inline, in a file, or in an
// environment variable (exactly one).
func secretOrInline(inline, file, env string, getenv func(string) string) (string, error) {
	n := 0
	for _, v := range []string{inline, file, env} {
		if v != "" {
			n++
		}
	}
	if n != 1 {
		return "", fmt.Errorf("set exactly one of url, url_file, url_env")
	}
	if inline != "" {
		return inline, nil
	}
	return config.Secret{File: file, Env: env}.Read(getenv)
}
