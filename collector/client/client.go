package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/picketnet/picket/alerting"
	"github.com/picketnet/picket/collector/api"
	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/vantage"
)

// DefaultCollector is where clients look when nothing else is configured.
const DefaultCollector = "http://127.0.0.1:8080"

// maxAnswerBytes bounds what the client reads from the collector.
const maxAnswerBytes = 64 << 20

// Client talks to one collector with one token.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// New returns a client for the collector at baseURL using token (which may
// be empty for /healthz). httpClient may be nil.
func New(baseURL, token string, httpClient *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("collector URL %q: expected http(s)://host[:port]", baseURL)
	}
	if httpClient == nil {
		httpClient = &http.Client{Timeout: time.Minute}
	}
	return &Client{base: u, token: token, http: httpClient}, nil
}

// Error is an error answer of the API.
type Error struct {
	Status int
	// Body is the server's JSON error: message, code and field.
	Body api.Error
}

func (e *Error) Error() string {
	if e.Body.Error == "" {
		return fmt.Sprintf("collector answered %d %s", e.Status, http.StatusText(e.Status))
	}
	return e.Body.Error
}

// IsStatus reports whether err is an API error with the given status.
func IsStatus(err error, status int) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == status
}

func (c *Client) url(path string, q url.Values) string {
	u := *c.base
	u.Path = c.base.Path + path
	if q != nil {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// do sends a request and decodes a 2xx JSON answer into out (if non-nil).
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url(path, q), rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	_, err = c.send(req, out)
	return err
}

func (c *Client) send(req *http.Request, out any) (*http.Response, error) {
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("collector %s: %w", c.base.Host, unwrapURLError(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return resp, fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode == http.StatusNotModified {
		return resp, nil
	}
	if resp.StatusCode >= 300 {
		e := &Error{Status: resp.StatusCode}
		if json.Unmarshal(data, &e.Body) != nil || e.Body.Error == "" {
			e.Body.Error = fmt.Sprintf("collector answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
		}
		return resp, e
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp, fmt.Errorf("decode answer of %s %s: %w", req.Method, req.URL.Path, err)
		}
	}
	return resp, nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Health calls /healthz.
func (c *Client) Health(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/healthz", nil, nil, nil)
}

// CreateTeam creates a team (admin) and returns it with its token.
func (c *Client) CreateTeam(ctx context.Context, name string) (api.TeamCreated, error) {
	var out api.TeamCreated
	err := c.do(ctx, http.MethodPost, "/v1/teams", nil, api.CreateTeam{Name: name}, &out)
	return out, err
}

// Teams lists teams (admin).
func (c *Client) Teams(ctx context.Context) ([]results.Team, error) {
	var out api.Teams
	err := c.do(ctx, http.MethodGet, "/v1/teams", nil, nil, &out)
	return out.Teams, err
}

// EnrolVantage enrols a vantage (admin) and returns it with its token.
func (c *Client) EnrolVantage(ctx context.Context, v api.EnrolVantage) (api.VantageEnrolled, error) {
	var out api.VantageEnrolled
	err := c.do(ctx, http.MethodPost, "/v1/vantages", nil, v, &out)
	return out, err
}

// RotateVantageToken gives vantage id a new token (admin) and returns it;
// the old one stops working.
func (c *Client) RotateVantageToken(ctx context.Context, id string) (api.VantageToken, error) {
	var out api.VantageToken
	err := c.do(ctx, http.MethodPost, "/v1/vantages/"+url.PathEscape(id)+"/token", nil, nil, &out)
	return out, err
}

// RemoveVantage revokes vantage id (admin): its token stops working and it
// leaves the list of vantages; its results stay.
func (c *Client) RemoveVantage(ctx context.Context, id string) (api.VantageRemoved, error) {
	var out api.VantageRemoved
	err := c.do(ctx, http.MethodDelete, "/v1/vantages/"+url.PathEscape(id), nil, nil, &out)
	return out, err
}

// RotateTeamToken gives team name a new token (admin) and returns it; the
// old one stops working.
func (c *Client) RotateTeamToken(ctx context.Context, name string) (api.TeamToken, error) {
	var out api.TeamToken
	err := c.do(ctx, http.MethodPost, "/v1/teams/"+url.PathEscape(name)+"/token", nil, nil, &out)
	return out, err
}

// RemoveTeam removes team name (admin) with its endpoints and silences:
// its token stops working; its results and alerts stay.
func (c *Client) RemoveTeam(ctx context.Context, name string) (api.TeamRemoved, error) {
	var out api.TeamRemoved
	err := c.do(ctx, http.MethodDelete, "/v1/teams/"+url.PathEscape(name), nil, nil, &out)
	return out, err
}

// Vantages lists vantages with their last heartbeat and state.
func (c *Client) Vantages(ctx context.Context) ([]api.VantageStatus, error) {
	var out api.Vantages
	err := c.do(ctx, http.MethodGet, "/v1/vantages", nil, nil, &out)
	return out.Vantages, err
}

func teamQuery(team string) url.Values {
	if team == "" {
		return nil
	}
	return url.Values{"team": {team}}
}

// Endpoints lists the token's team's endpoints; an admin may name a team
// or pass "" for all.
func (c *Client) Endpoints(ctx context.Context, team string) ([]results.Endpoint, error) {
	var out api.Endpoints
	err := c.do(ctx, http.MethodGet, "/v1/endpoints", teamQuery(team), nil, &out)
	return out.Endpoints, err
}

// ApplyEndpoints registers endpoints (see api.ApplyEndpoints). team is
// only for the admin token.
func (c *Client) ApplyEndpoints(ctx context.Context, team string, req api.ApplyEndpoints) (api.Applied, error) {
	var out api.Applied
	err := c.do(ctx, http.MethodPost, "/v1/endpoints", teamQuery(team), req, &out)
	return out, err
}

// DeleteEndpoint deletes one endpoint.
func (c *Client) DeleteEndpoint(ctx context.Context, team, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/endpoints/"+url.PathEscape(name), teamQuery(team), nil, nil)
}

// ReportQuery are the parameters of the availability report. Since and
// Until are durations before now ("24h", "30d") or RFC 3339 times.
type ReportQuery struct {
	Team, Endpoint, By, Since, Until string
}

// Availability fetches the availability report.
func (c *Client) Availability(ctx context.Context, q ReportQuery) (api.Report, error) {
	v := url.Values{}
	for k, s := range map[string]string{"team": q.Team, "endpoint": q.Endpoint, "by": q.By, "since": q.Since, "until": q.Until} {
		if s != "" {
			v.Set(k, s)
		}
	}
	var out api.Report
	err := c.do(ctx, http.MethodGet, "/v1/reports/availability", v, nil, &out)
	return out, err
}

// PostResults sends a batch (gzip-compressed when compress is set) and
// returns the acknowledgement.
func (c *Client) PostResults(ctx context.Context, b results.Batch, compress bool) (results.BatchAck, error) {
	body, err := json.Marshal(b)
	if err != nil {
		return results.BatchAck{}, fmt.Errorf("encode batch: %w", err)
	}
	return c.PostResultsBody(ctx, body, compress)
}

// PostResultsBody sends an already encoded batch, compressing it when
// compress is set.
func (c *Client) PostResultsBody(ctx context.Context, body []byte, compress bool) (results.BatchAck, error) {
	if compress {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		if _, err := zw.Write(body); err != nil {
			return results.BatchAck{}, err
		}
		if err := zw.Close(); err != nil {
			return results.BatchAck{}, err
		}
		return c.PostEncoded(ctx, buf.Bytes(), "gzip")
	}
	return c.PostEncoded(ctx, body, "")
}

// PostEncoded sends a batch body that is already in the given
// Content-Encoding ("" or "gzip").
func (c *Client) PostEncoded(ctx context.Context, body []byte, encoding string) (results.BatchAck, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url("/v1/results", nil), bytes.NewReader(body))
	if err != nil {
		return results.BatchAck{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	var ack results.BatchAck
	_, err = c.send(req, &ack)
	return ack, err
}

// Heartbeat sends a vantage's heartbeat.
func (c *Client) Heartbeat(ctx context.Context, hb results.Heartbeat) (api.HeartbeatAck, error) {
	var out api.HeartbeatAck
	err := c.do(ctx, http.MethodPost, "/v1/heartbeat", nil, hb, &out)
	return out, err
}

// Assignment fetches the vantage's assignment. With etag set (from a
// previous answer) an unchanged assignment returns notModified=true and a
// zero Assignment.
func (c *Client) Assignment(ctx context.Context, etag string) (a vantage.Assignment, notModified bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url("/v1/assignments", nil), nil)
	if err != nil {
		return a, false, err
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := c.send(req, &a)
	if err != nil {
		return a, false, err
	}
	if resp.StatusCode == http.StatusNotModified {
		return vantage.Assignment{}, true, nil
	}
	if a.ETag == "" {
		a.ETag = resp.Header.Get("ETag")
	}
	return a, false, nil
}

// Alerts lists the team's open alerts and those updated within window
// ("" for the collector's default of 24h).
func (c *Client) Alerts(ctx context.Context, team, window string) ([]alerting.Alert, error) {
	v := teamQuery(team)
	if window != "" {
		if v == nil {
			v = url.Values{}
		}
		v.Set("window", window)
	}
	var out api.Alerts
	err := c.do(ctx, http.MethodGet, "/v1/alerts", v, nil, &out)
	return out.Alerts, err
}

// Silences lists the team's silences that have not ended.
func (c *Client) Silences(ctx context.Context, team string) ([]alerting.Silence, error) {
	var out api.Silences
	err := c.do(ctx, http.MethodGet, "/v1/silences", teamQuery(team), nil, &out)
	return out.Silences, err
}

// AddSilence creates a silence or maintenance window.
func (c *Client) AddSilence(ctx context.Context, team string, req api.NewSilence) (alerting.Silence, error) {
	var out alerting.Silence
	err := c.do(ctx, http.MethodPost, "/v1/silences", teamQuery(team), req, &out)
	return out, err
}

// DeleteSilence ends a silence now by removing it.
func (c *Client) DeleteSilence(ctx context.Context, team, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/silences/"+url.PathEscape(id), teamQuery(team), nil, nil)
}
