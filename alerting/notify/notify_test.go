package notify

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a local stand-in for PagerDuty, Slack, Alertmanager or a
// webhook receiver: it records every request and answers with status.
type recorder struct {
	mu       sync.Mutex
	requests []recorded
	status   int
}

type recorded struct {
	method, path, contentType string
	body                      []byte
}

func newRecorder(t *testing.T, status int) (*recorder, *httptest.Server) {
	rec := &recorder{status: status}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.requests = append(rec.requests, recorded{r.Method, r.URL.Path, r.Header.Get("Content-Type"), b})
		rec.mu.Unlock()
		w.WriteHeader(rec.status)
	}))
	t.Cleanup(srv.Close)
	return rec, srv
}

func (r *recorder) only(t *testing.T) recorded {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.requests) != 1 {
		t.Fatalf("got %d requests, want 1", len(r.requests))
	}
	req := r.requests[0]
	if req.method != http.MethodPost || req.contentType != "application/json" {
		t.Fatalf("request %s with %q", req.method, req.contentType)
	}
	return req
}

var (
	startsAt = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	firing   = Message{
		DedupKey: "reachability/payments/checkout-api/http", Status: "firing", Type: "reachability", Severity: "page",
		Summary: "checkout-api: HTTPS connect/timeout from ap-south (AS64603); DNS and ICMP fine",
		Team:    "payments", Endpoint: "checkout-api", Check: "checkout-api/http",
		Regions: []string{"ap-south", "us-east"}, ASNs: []uint32{64603, 64510}, Vantages: []string{"ap-1", "us-1"},
		Layer: "connect", Code: "timeout", StartsAt: startsAt, At: startsAt.Add(time.Second),
		URL: "https://collector.example/endpoints/checkout-api",
	}
)

func resolved() Message {
	m := firing
	m.Status, m.EndsAt, m.At = "resolved", startsAt.Add(5*time.Minute), startsAt.Add(5*time.Minute)
	return m
}

func TestPagerDutyTriggerAndResolve(t *testing.T) {
	rec, srv := newRecorder(t, http.StatusAccepted)
	pd := PagerDuty{URL: srv.URL + "/v2/enqueue", RoutingKey: "R0UT1NG"}
	if err := pd.Send(context.Background(), firing); err != nil {
		t.Fatal(err)
	}
	req := rec.only(t)
	if req.path != "/v2/enqueue" {
		t.Errorf("path %s", req.path)
	}
	var ev map[string]any
	if err := json.Unmarshal(req.body, &ev); err != nil {
		t.Fatal(err)
	}
	payload := ev["payload"].(map[string]any)
	want := map[string]any{
		"routing_key": "R0UT1NG", "event_action": "trigger", "dedup_key": "reachability/payments/checkout-api/http",
	}
	for k, v := range want {
		if ev[k] != v {
			t.Errorf("%s = %v, want %v", k, ev[k], v)
		}
	}
	wantPayload := map[string]any{
		"summary": firing.Summary, "source": "checkout-api", "severity": "critical",
		"timestamp": "2026-11-21T10:00:00.000Z", "component": "checkout-api/http", "group": "payments", "class": "reachability",
	}
	for k, v := range wantPayload {
		if payload[k] != v {
			t.Errorf("payload.%s = %v, want %v", k, payload[k], v)
		}
	}
	details := payload["custom_details"].(map[string]any)
	if details["failing"] != "connect/timeout" || !reflect.DeepEqual(details["regions"], []any{"ap-south", "us-east"}) {
		t.Errorf("custom_details %v", details)
	}

	rec.requests = nil
	if err := pd.Send(context.Background(), resolved()); err != nil {
		t.Fatal(err)
	}
	var res map[string]any
	_ = json.Unmarshal(rec.only(t).body, &res)
	if res["event_action"] != "resolve" || res["dedup_key"] != ev["dedup_key"] || res["routing_key"] != "R0UT1NG" {
		t.Errorf("resolve event %v", res)
	}
	if _, ok := res["payload"]; ok {
		t.Errorf("resolve carries a payload: %v", res)
	}
}

func TestSlackBlocks(t *testing.T) {
	rec, srv := newRecorder(t, http.StatusOK)
	if err := (Slack{URL: srv.URL + "/services/T/B/X"}).Send(context.Background(), firing); err != nil {
		t.Fatal(err)
	}
	var p SlackPayload
	if err := json.Unmarshal(rec.only(t).body, &p); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Text, firing.Summary) || !strings.HasPrefix(p.Text, "🔴 FIRING [page] reachability") {
		t.Errorf("fallback text %q", p.Text)
	}
	if len(p.Blocks) != 4 || p.Blocks[0].Type != "header" || p.Blocks[1].Type != "section" || p.Blocks[3].Type != "context" {
		t.Fatalf("blocks %+v", p.Blocks)
	}
	if p.Blocks[0].Text.Type != "plain_text" || p.Blocks[1].Text.Text != firing.Summary {
		t.Errorf("header/summary %+v %+v", p.Blocks[0].Text, p.Blocks[1].Text)
	}
	var fields []string
	for _, f := range p.Blocks[2].Fields {
		fields = append(fields, f.Text)
	}
	want := []string{"*Endpoint*\ncheckout-api", "*Team*\npayments", "*Severity*\npage", "*Regions*\nap-south, us-east", "*ASNs*\nAS64603, AS64510", "*Failing*\nconnect/timeout"}
	if !reflect.DeepEqual(fields, want) {
		t.Errorf("fields %q, want %q", fields, want)
	}
	if ctx := p.Blocks[3].Elements[0].Text; !strings.Contains(ctx, "reachability/payments/checkout-api/http") || !strings.Contains(ctx, "|dashboard>") {
		t.Errorf("context %q", ctx)
	}
}

// What the channel reads, found by sending real alerts to a local Slack
// stand-in: the team (many teams share a channel), a resolve that says
// when it ended and how long it lasted rather than "since", and AS names
// with "&" or "<" that Slack would otherwise read as entities and links.
func TestSlackNamesTeamEndAndEscapes(t *testing.T) {
	rec, srv := newRecorder(t, http.StatusOK)
	m := resolved()
	m.Type, m.DedupKey, m.Layer, m.Code = "path_detour", "path_detour/payments/checkout-api/traceroute/ap-1", "", ""
	m.Summary = "checkout-api: path from ap-1 (ap-south) detours through AS7018 (ATT-INTERNET4 - AT&T <Services>); RTT 101 ms, +80 ms over the usual 21 ms"
	m.EndsAt = startsAt.Add(5*time.Minute + 30*time.Second)
	if err := (Slack{URL: srv.URL + "/services/T/B/X"}).Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	var p SlackPayload
	if err := json.Unmarshal(rec.only(t).body, &p); err != nil {
		t.Fatal(err)
	}
	escaped := "checkout-api: path from ap-1 (ap-south) detours through AS7018 (ATT-INTERNET4 - AT&amp;T &lt;Services&gt;); RTT 101 ms, +80 ms over the usual 21 ms"
	if want := "✅ RESOLVED [page] path_detour: " + escaped; p.Text != want {
		t.Errorf("fallback text\n %q, want\n %q", p.Text, want)
	}
	if len(p.Blocks) != 4 {
		t.Fatalf("blocks %+v", p.Blocks)
	}
	if got := p.Blocks[0].Text; got.Type != "plain_text" || got.Text != "✅ RESOLVED [page] path_detour" {
		t.Errorf("header %+v", got)
	}
	if got := p.Blocks[1].Text; got.Type != "mrkdwn" || got.Text != escaped {
		t.Errorf("summary %+v, want %q", got, escaped)
	}
	var fields []string
	for _, f := range p.Blocks[2].Fields {
		fields = append(fields, f.Text)
	}
	want := []string{"*Endpoint*\ncheckout-api", "*Team*\npayments", "*Severity*\npage", "*Regions*\nap-south, us-east", "*ASNs*\nAS64603, AS64510"}
	if !reflect.DeepEqual(fields, want) {
		t.Errorf("fields %q, want %q", fields, want)
	}
	wantCtx := "from 2026-11-21 10:00:00Z to 2026-11-21 10:05:30Z (5m30s) · key `path_detour/payments/checkout-api/traceroute/ap-1` · <https://collector.example/endpoints/checkout-api|dashboard>"
	if els := p.Blocks[3].Elements; len(els) != 1 || els[0].Type != "mrkdwn" || els[0].Text != wantCtx {
		t.Errorf("context %+v, want %q", els, wantCtx)
	}
}

// The failing runs' error message (the status, the address refused)
// reaches the person paged whatever the notifier: the layer/code alone
// said "http/status" and not which status.
func TestErrorSampleReachesEveryNotifier(t *testing.T) {
	m := firing
	m.Layer, m.Code, m.Error = "http", "status", "fra-1: status 503, expected 200 & <ok>"
	ctx := context.Background()

	rec, srv := newRecorder(t, http.StatusAccepted)
	if err := (PagerDuty{URL: srv.URL, RoutingKey: "R"}).Send(ctx, m); err != nil {
		t.Fatal(err)
	}
	var ev struct {
		Payload struct {
			CustomDetails map[string]any `json:"custom_details"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(rec.only(t).body, &ev); err != nil {
		t.Fatal(err)
	}
	if d := ev.Payload.CustomDetails; d["error"] != m.Error || d["failing"] != "http/status" {
		t.Errorf("PagerDuty custom_details %v; want error %q and failing http/status", d, m.Error)
	}

	rec, srv = newRecorder(t, http.StatusOK)
	if err := (Slack{URL: srv.URL}).Send(ctx, m); err != nil {
		t.Fatal(err)
	}
	var p SlackPayload
	if err := json.Unmarshal(rec.only(t).body, &p); err != nil {
		t.Fatal(err)
	}
	fields := p.Blocks[2].Fields
	if last := fields[len(fields)-1]; last.Type != "mrkdwn" || last.Text != "*Error*\nfra-1: status 503, expected 200 &amp; &lt;ok&gt;" {
		t.Errorf("Slack's last field %+v, want the escaped error", last)
	}

	rec, srv = newRecorder(t, http.StatusOK)
	if err := (Alertmanager{URL: srv.URL}).Send(ctx, m); err != nil {
		t.Fatal(err)
	}
	var as []AlertmanagerAlert
	if err := json.Unmarshal(rec.only(t).body, &as); err != nil || len(as) != 1 {
		t.Fatalf("%v %d alerts", err, len(as))
	}
	if got := as[0].Annotations["error"]; got != m.Error {
		t.Errorf("Alertmanager annotation error %q, want %q", got, m.Error)
	}

	if _, body := BuildEmail(m); !strings.Contains(body, "\nError:     "+m.Error+"\n") {
		t.Errorf("mail body lacks the error line:\n%s", body)
	}
}

func TestAlertmanagerAndWebhook(t *testing.T) {
	rec, srv := newRecorder(t, http.StatusOK)
	if err := (Alertmanager{URL: srv.URL + "/"}).Send(context.Background(), resolved()); err != nil {
		t.Fatal(err)
	}
	req := rec.only(t)
	if req.path != "/api/v2/alerts" {
		t.Errorf("path %s", req.path)
	}
	var alerts []AlertmanagerAlert
	if err := json.Unmarshal(req.body, &alerts); err != nil || len(alerts) != 1 {
		t.Fatalf("%v %s", err, req.body)
	}
	a := alerts[0]
	wantLabels := map[string]string{"alertname": "Picket_reachability", "severity": "page", "picket_key": firing.DedupKey,
		"team": "payments", "endpoint": "checkout-api", "check": "checkout-api/http"}
	if !reflect.DeepEqual(a.Labels, wantLabels) {
		t.Errorf("labels %v", a.Labels)
	}
	if !a.StartsAt.Equal(startsAt) || !a.EndsAt.Equal(startsAt.Add(5*time.Minute)) || a.Annotations["failing"] != "connect/timeout" {
		t.Errorf("alert %+v", a)
	}

	rec2, srv2 := newRecorder(t, http.StatusNoContent)
	if err := (Webhook{URL: srv2.URL}).Send(context.Background(), firing); err != nil {
		t.Fatal(err)
	}
	var got WebhookPayload
	if err := json.Unmarshal(rec2.only(t).body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Version != "1" || !reflect.DeepEqual(got.Message, firing) {
		t.Errorf("webhook got %+v", got)
	}
}

func TestRetryableVersusPermanent(t *testing.T) {
	for _, tt := range []struct {
		status    int
		permanent bool
	}{{500, false}, {503, false}, {429, false}, {408, false}, {400, true}, {404, true}, {401, true}} {
		_, srv := newRecorder(t, tt.status)
		err := (Webhook{URL: srv.URL}).Send(context.Background(), firing)
		if err == nil || errors.Is(err, ErrPermanent) != tt.permanent {
			t.Errorf("status %d: err %v, permanent want %v", tt.status, err, tt.permanent)
		}
	}
	// Nobody listening: retryable.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	if err := (Webhook{URL: "http://" + addr}).Send(context.Background(), firing); err == nil || errors.Is(err, ErrPermanent) {
		t.Errorf("refused: %v", err)
	}
}

// smtpServer is a minimal SMTP receiver that records one session.
type smtpServer struct {
	addr     string
	mu       sync.Mutex
	from     string
	rcpt     []string
	data     string
	commands []string
}

func newSMTPServer(t *testing.T) *smtpServer {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{addr: l.Addr().String()}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *smtpServer) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	say := func(line string) { io.WriteString(c, line+"\r\n") }
	say("220 test ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		s.mu.Lock()
		s.commands = append(s.commands, strings.Fields(line + " x")[0])
		s.mu.Unlock()
		switch cmd := strings.ToUpper(strings.Fields(line + " x")[0]); cmd {
		case "EHLO", "HELO":
			say("250-test")
			say("250 8BITMIME")
		case "MAIL":
			s.mu.Lock()
			s.from = line
			s.mu.Unlock()
			say("250 ok")
		case "RCPT":
			s.mu.Lock()
			s.rcpt = append(s.rcpt, line)
			s.mu.Unlock()
			say("250 ok")
		case "DATA":
			say("354 go on")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(l)
			}
			s.mu.Lock()
			s.data = b.String()
			s.mu.Unlock()
			say("250 queued")
		case "QUIT":
			say("221 bye")
			return
		default:
			say("250 ok")
		}
	}
}

func TestEmail(t *testing.T) {
	srv := newSMTPServer(t)
	e := Email{Addr: srv.addr, From: "picket@example.com", To: []string{"sre@example.com", "oncall@example.com"}}
	if err := e.Send(context.Background(), firing); err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.from != "MAIL FROM:<picket@example.com> BODY=8BITMIME" && srv.from != "MAIL FROM:<picket@example.com>" {
		t.Errorf("from %q", srv.from)
	}
	if !reflect.DeepEqual(srv.rcpt, []string{"RCPT TO:<sre@example.com>", "RCPT TO:<oncall@example.com>"}) {
		t.Errorf("rcpt %q", srv.rcpt)
	}
	for _, want := range []string{
		"From: picket@example.com\r\n", "To: sre@example.com, oncall@example.com\r\n",
		"Subject: [FIRING] [page] checkout-api: HTTPS connect/timeout from ap-south (AS64603); DNS and ICMP fine\r\n",
		"Regions:   ap-south, us-east\r\n", "Failing:   connect/timeout\r\n", "Key:       reachability/payments/checkout-api/http\r\n",
	} {
		if !strings.Contains(srv.data, want) {
			t.Errorf("mail lacks %q:\n%s", want, srv.data)
		}
	}
}

// What a detour or a latency page measured reaches PagerDuty's
// custom_details, beside the fields every alert has.
func TestPagerDutyCarriesDetails(t *testing.T) {
	m := firing
	m.Type, m.Layer, m.Code = "path_detour", "", ""
	m.Details = json.RawMessage(`{"new_asns":[{"asn":64999,"name":"DETOUR-NET"}],"extra_ms":42,"type":"not this"}`)
	rec, srv := newRecorder(t, http.StatusAccepted)
	if err := (PagerDuty{URL: srv.URL, RoutingKey: "R"}).Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	type asn struct {
		Number uint32 `json:"asn"`
		Name   string `json:"name"`
	}
	var ev struct {
		Payload struct {
			CustomDetails struct {
				NewASNs []asn    `json:"new_asns"`
				ExtraMS float64  `json:"extra_ms"`
				Type    string   `json:"type"`
				Regions []string `json:"regions"`
			} `json:"custom_details"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(rec.only(t).body, &ev); err != nil {
		t.Fatal(err)
	}
	d := ev.Payload.CustomDetails
	if !slices.Equal(d.NewASNs, []asn{{64999, "DETOUR-NET"}}) || d.ExtraMS != 42 {
		t.Errorf("custom_details %+v: want new_asns [AS64999 DETOUR-NET] and extra_ms 42", d)
	}
	// The alert's own fields win over its details.
	if d.Type != "path_detour" || !slices.Equal(d.Regions, m.Regions) {
		t.Errorf("custom_details %+v: want type path_detour and regions %v", d, m.Regions)
	}
}
