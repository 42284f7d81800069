package notify

import (
	"context"
	"crypto/tls"
	"fmt"
	"mime"
	"net"
	"net/smtp"
	"strings"
	"time"
)

// Email sends a plain-text mail over SMTP, with STARTTLS when the server
// offers it and PLAIN auth when a username is set.
type Email struct {
	Addr     string // host:port
	From     string
	To       []string
	Username string
	Password string
	// TLSConfig for STARTTLS; nil verifies against the system roots.
	TLSConfig *tls.Config
}

// BuildEmail returns the subject and body of m.
func BuildEmail(m Message) (subject, body string) {
	subject = fmt.Sprintf("[%s] [%s] %s", strings.ToUpper(m.Status), m.Severity, truncate(m.Summary, 180))
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n", m.Summary)
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%-10s %s\n", k+":", v)
		}
	}
	line("Status", m.Status)
	line("Severity", m.Severity)
	line("Type", m.Type)
	line("Team", m.Team)
	line("Endpoint", m.Endpoint)
	line("Check", m.Check)
	line("Regions", strings.Join(m.Regions, ", "))
	line("ASNs", joinASNs(m.ASNs))
	line("Vantages", strings.Join(m.Vantages, ", "))
	if m.Layer != "" {
		line("Failing", m.Layer+"/"+m.Code)
	}
	line("Error", m.Error)
	line("Phase", m.Phase)
	line("Since", m.StartsAt.UTC().Format(time.RFC3339))
	line("Key", m.DedupKey)
	line("Dashboard", m.URL)
	return subject, b.String()
}

func (e Email) Send(ctx context.Context, m Message) error {
	subject, body := BuildEmail(m)
	host, _, err := net.SplitHostPort(e.Addr)
	if err != nil {
		return fmt.Errorf("%w: smtp address %q: %v", ErrPermanent, e.Addr, err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", e.Addr)
	if err != nil {
		return fmt.Errorf("smtp dial: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	} else {
		_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp: %w", err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		cfg := e.TLSConfig
		if cfg == nil {
			cfg = &tls.Config{ServerName: host}
		}
		if err := c.StartTLS(cfg); err != nil {
			return fmt.Errorf("smtp starttls: %w", err)
		}
	}
	if e.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", e.Username, e.Password, host)); err != nil {
			return fmt.Errorf("%w: smtp auth: %v", ErrPermanent, err)
		}
	}
	if err := c.Mail(e.From); err != nil {
		return fmt.Errorf("smtp MAIL FROM: %w", err)
	}
	for _, to := range e.To {
		if err := c.Rcpt(to); err != nil {
			return fmt.Errorf("smtp RCPT TO %s: %w", to, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp DATA: %w", err)
	}
	msg := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s@picket>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s",
		e.From, strings.Join(e.To, ", "), mime.QEncoding.Encode("utf-8", subject), m.At.UTC().Format(time.RFC1123Z),
		strings.NewReplacer("/", ".", ":", ".").Replace(m.DedupKey)+"."+fmt.Sprint(m.At.UnixNano()),
		strings.ReplaceAll(body, "\n", "\r\n"))
	if _, err := w.Write([]byte(msg)); err != nil {
		return fmt.Errorf("smtp write: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp end of data: %w", err)
	}
	return c.Quit()
}
