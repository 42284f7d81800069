// Package notify sends alert notifications: webhook (JSON), Slack incoming
// webhooks, PagerDuty Events API v2, email over SMTP, and the Alertmanager
// v2 API. Each sender turns a Message (an alert transition) into its
// service's payload and returns an error that says whether a retry can help.
// Retrying and the durable outbox are the caller's (alerting.Dispatcher).
package notify
