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

// BuildRoutes turns the notifiers list into routes, reading secrets. An
// error names the notifier and the field. Notifiers without severities get
// page and notify (info is recorded only).
func BuildRoutes(cfgs []NotifierConfig, getenv func(string) string) ([]Route, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	var routes []Route
	seen := map[string]bool{}
	for i, c := range cfgs {
		where := fmt.Sprintf("notifiers[%d]", i)
		if c.Name != "" {
			where += " (" + c.Name + ")"
		}
		fail := func(field, format string, args ...any) error {
			return fmt.Errorf("%s.%s: %s", where, field, fmt.Sprintf(format, args...))
		}
		if c.Name == "" {
			return nil, fail("name", "missing")
		}
		if seen[c.Name] {
			return nil, fail("name", "%q is used twice", c.Name)
		}
		seen[c.Name] = true
		for _, s := range c.Severities {
			if s != SeverityPage && s != SeverityNotify && s != SeverityInfo {
				return nil, fail("severities", "%q is not one of page, notify, info", s)
			}
		}
		sev := c.Severities
		if len(sev) == 0 {
			sev = []Severity{SeverityPage, SeverityNotify}
		}
		var sender notify.Sender
		switch c.Kind {
		case "webhook", "slack", "alertmanager":
			u, err := secretOrInline(c.URL, c.URLFile, c.URLEnv, getenv)
			if err != nil {
				return nil, fail("url", "%v", err)
			}
			if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
				return nil, fail("url", "not an http(s) URL")
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
				return nil, fail("routing_key_file", "%v", err)
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
					return nil, fail("password_file", "%v", err)
				}
				e.Password = pw
			}
			sender = e
		default:
			return nil, fail("kind", "%q is not one of webhook, slack, pagerduty, email, alertmanager", c.Kind)
		}
		routes = append(routes, Route{Name: c.Name, Sender: sender, Severities: sev})
	}
	return routes, nil
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
