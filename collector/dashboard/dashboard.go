package dashboard

import (
	"bytes"
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/picketnet/picket/alerting"
	"github.com/picketnet/picket/results"
	"github.com/picketnet/picket/vantage"
)

// Store is the part of the collector's store the dashboard reads.
type Store interface {
	TeamByTokenHash(ctx context.Context, hash []byte) (results.Team, error)
	Vantages(ctx context.Context) ([]results.Vantage, error)
	Endpoints(ctx context.Context, team string) ([]results.Endpoint, error)
	Query(ctx context.Context, q results.ResultQuery) ([]results.Result, error)
	Rollups(ctx context.Context, q results.RollupQuery) ([]results.Rollup, error)
	Availability(ctx context.Context, q results.ReportQuery) ([]results.AvailabilityRow, error)
	// NELCounts and NELReports read the client-side (Network Error
	// Logging) reports of the endpoint page.
	NELCounts(ctx context.Context, q results.NELQuery) ([]results.NELCount, error)
	NELReports(ctx context.Context, q results.NELQuery) ([]results.NELReport, error)
}

// Alerts is where the dashboard reads alerts and silences
// (alerting.Service).
type Alerts interface {
	// Alerts returns a team's alerts (every team's for ""): the open ones
	// and those updated within window.
	Alerts(ctx context.Context, team string, window time.Duration) ([]alerting.Alert, error)
	// Silences returns a team's silences that have not ended.
	Silences(ctx context.Context, team string) ([]alerting.Silence, error)
}

// Options configure the dashboard. Store and AdminToken are required.
type Options struct {
	Store Store
	// Alerts, when nil, makes the alerts page say that alerting is off.
	Alerts     Alerts
	AdminToken string
	// HeartbeatEvery is the heartbeat interval assumed for a vantage that
	// has not announced one (the collector's HeartbeatEvery).
	HeartbeatEvery time.Duration
	// StateWindow is how far back the heat map looks to decide a cell's
	// state (default 5m).
	StateWindow time.Duration
	// Refresh is how often pages refresh their data (default 30s).
	Refresh time.Duration
	// PageSize is how many endpoints one overview page shows (default 50).
	PageSize int
	// SecureCookie marks the session cookie Secure; it is also set when the
	// request arrived over TLS.
	SecureCookie bool
	Logger       *slog.Logger
	// Now returns the current time; tests replace it.
	Now func() time.Time
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Dashboard serves the dashboard's pages.
type Dashboard struct {
	opt       Options
	adminHash []byte
	mux       *http.ServeMux
	pages     map[string]*template.Template
	log       *slog.Logger
}

// Limits on input.
const (
	maxTokenBytes  = 256
	maxFormBytes   = 4 << 10
	maxFilterBytes = 200
	cookieName     = "picket_token"
	cookieMaxAge   = 7 * 24 * time.Hour
)

// New returns the dashboard. Mount it at "/" of the collector: the API's
// more specific /v1/ patterns take precedence.
func New(opt Options) (*Dashboard, error) {
	if opt.Store == nil {
		return nil, errors.New("dashboard: Options.Store is required")
	}
	if opt.AdminToken == "" {
		return nil, errors.New("dashboard: Options.AdminToken is required")
	}
	if opt.HeartbeatEvery <= 0 {
		opt.HeartbeatEvery = 30 * time.Second
	}
	if opt.StateWindow <= 0 {
		opt.StateWindow = 5 * time.Minute
	}
	if opt.Refresh <= 0 {
		opt.Refresh = 30 * time.Second
	}
	if opt.PageSize <= 0 {
		opt.PageSize = 50
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	pages, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	d := &Dashboard{opt: opt, adminHash: vantage.HashToken(opt.AdminToken), mux: http.NewServeMux(), pages: pages, log: opt.Logger}
	static, _ := fs.Sub(staticFS, "static")
	d.mux.Handle("GET /static/", http.StripPrefix("/static/", cacheFor(time.Hour, http.FileServerFS(static))))
	d.mux.HandleFunc("GET /login", d.handleLoginForm)
	d.mux.HandleFunc("POST /login", d.handleLogin)
	d.mux.HandleFunc("POST /logout", d.handleLogout)
	d.mux.Handle("GET /{$}", d.authed(d.handleOverview))
	d.mux.Handle("GET /endpoints/{team}/{name}", d.authed(d.handleEndpoint))
	d.mux.Handle("GET /endpoints/{team}/{name}/regions/{region}", d.authed(d.handleRegion))
	d.mux.Handle("GET /vantages", d.authed(d.handleVantages))
	d.mux.Handle("GET /alerts", d.authed(d.handleAlerts))
	d.mux.Handle("GET /report", d.authed(d.handleReport))
	d.mux.Handle("GET /report.csv", d.authed(d.handleReportCSV))
	return d, nil
}

func cacheFor(d time.Duration, h http.Handler) http.Handler {
	v := fmt.Sprintf("public, max-age=%d", int(d.Seconds()))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", v)
		h.ServeHTTP(w, r)
	})
}

// ServeHTTP sets the security headers every answer carries and routes.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// Only our own files: no inline script, so injected markup cannot run.
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	// A ?token= link must not leak through Referer.
	h.Set("Referrer-Policy", "no-referrer")
	if strings.HasPrefix(r.URL.Path, "/v1/") {
		// Mounted at "/", the dashboard sees the API paths the API does
		// not know: answer them as the API would.
		h.Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, "{\"error\":%q,\"code\":\"not_found\"}\n", "no such API path "+r.URL.Path)
		return
	}
	if _, pattern := d.mux.Handler(r); pattern == "" {
		d.renderError(w, r, http.StatusNotFound, "No such page.")
		return
	}
	d.mux.ServeHTTP(w, r)
}

// viewer is who looks at the dashboard.
type viewer struct {
	admin bool
	team  string // the token's team; "" for the admin
}

// scope is the team whose data a request shows: the viewer's team, or for
// the admin the ?team= filter ("" for every team).
func (v viewer) scope(r *http.Request) string {
	if v.admin {
		return r.URL.Query().Get("team")
	}
	return v.team
}

// canSee reports whether v may see team's data.
func (v viewer) canSee(team string) bool { return v.admin || v.team == team }

var (
	errNoToken  = errors.New("no token")
	errBadToken = errors.New("unknown token")
)

// identify resolves a token to a viewer.
func (d *Dashboard) identify(ctx context.Context, token string) (viewer, error) {
	token = strings.TrimSpace(token)
	if token == "" {
		return viewer{}, errNoToken
	}
	if len(token) > maxTokenBytes || strings.HasPrefix(token, vantage.TokenPrefix) {
		return viewer{}, errBadToken
	}
	hash := vantage.HashToken(token)
	if subtle.ConstantTimeCompare(hash, d.adminHash) == 1 {
		return viewer{admin: true}, nil
	}
	t, err := d.opt.Store.TeamByTokenHash(ctx, hash)
	if errors.Is(err, results.ErrNotFound) {
		return viewer{}, errBadToken
	}
	if err != nil {
		return viewer{}, fmt.Errorf("look up token: %w", err)
	}
	return viewer{team: t.Name}, nil
}

type pageHandler func(w http.ResponseWriter, r *http.Request, v viewer)

// authed admits requests with a valid token: from the session cookie, an
// Authorization: Bearer header, or ?token= once (which becomes the cookie,
// and the request is redirected to the same URL without it).
func (d *Dashboard) authed(h pageHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Has("token") {
			token := strings.TrimSpace(q.Get("token"))
			if _, err := d.identify(r.Context(), token); err != nil {
				d.authFailed(w, r, err)
				return
			}
			d.setCookie(w, r, token)
			q.Del("token")
			u := *r.URL
			u.RawQuery = q.Encode()
			http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
			return
		}
		token := ""
		if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			token = bearer
		} else if c, err := r.Cookie(cookieName); err == nil {
			token = c.Value
		}
		v, err := d.identify(r.Context(), token)
		if err != nil {
			d.authFailed(w, r, err)
			return
		}
		h(w, r, v)
	})
}

func (d *Dashboard) authFailed(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, errNoToken) || errors.Is(err, errBadToken):
		if isFragment(r) {
			// The refresh script sends the viewer to the login form.
			http.Error(w, "sign in again", http.StatusUnauthorized)
			return
		}
		msg := ""
		if errors.Is(err, errBadToken) {
			msg = "That token is not a team token or the admin token of this collector."
			d.clearCookie(w, r)
		}
		d.renderLogin(w, r, http.StatusUnauthorized, r.URL.RequestURI(), msg)
	default:
		d.log.Error("dashboard: authenticate", "err", err)
		d.renderError(w, r, http.StatusServiceUnavailable, "Cannot check the token now; retry in a moment.")
	}
}

// secure says whether the session cookie is marked Secure: when the
// request came over TLS, to the collector or to the TLS proxy or load
// balancer in front of it (X-Forwarded-Proto, which such proxies set). The
// header is believed from anyone: it can only make the cookie stricter. A
// cookie without Secure, once set over HTTPS, would be sent in the clear
// by a later http:// visit, before any redirect to HTTPS.
func (d *Dashboard) secure(r *http.Request) bool {
	return d.opt.SecureCookie || r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func (d *Dashboard) setCookie(w http.ResponseWriter, r *http.Request, token string) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: token, Path: "/", MaxAge: int(cookieMaxAge.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: d.secure(r)})
}

func (d *Dashboard) clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: d.secure(r)})
}

// localPath returns next when it is a path on this site, else "/", so that
// the login form cannot be used to redirect elsewhere.
func localPath(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Host != "" || u.Scheme != "" {
		return "/"
	}
	return next
}

func (d *Dashboard) handleLoginForm(w http.ResponseWriter, r *http.Request) {
	d.renderLogin(w, r, http.StatusOK, r.URL.Query().Get("next"), "")
}

// crossSite reports whether a form was posted from another site. The
// session cookie is SameSite=Strict, which covers logout; this also stops
// another site from signing a viewer in with a token of its choosing.
// Browsers say where a request comes from in Sec-Fetch-Site; older ones
// only in Origin, which is "null" under our no-referrer policy.
func crossSite(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "none":
		return false
	case "":
	default:
		return true
	}
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" {
		return false
	}
	u, err := url.Parse(origin)
	return err != nil || u.Host != r.Host
}

func (d *Dashboard) handleLogin(w http.ResponseWriter, r *http.Request) {
	if crossSite(r) {
		d.renderError(w, r, http.StatusForbidden, "Sign in from this collector's own login form.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		d.renderLogin(w, r, http.StatusBadRequest, "/", "The form could not be read.")
		return
	}
	token, next := r.PostForm.Get("token"), localPath(r.PostForm.Get("next"))
	if _, err := d.identify(r.Context(), token); err != nil {
		if errors.Is(err, errNoToken) || errors.Is(err, errBadToken) {
			d.renderLogin(w, r, http.StatusUnauthorized, next, "That token is not a team token or the admin token of this collector.")
			return
		}
		d.authFailed(w, r, err)
		return
	}
	d.setCookie(w, r, strings.TrimSpace(token))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (d *Dashboard) handleLogout(w http.ResponseWriter, r *http.Request) {
	if crossSite(r) {
		d.renderError(w, r, http.StatusForbidden, "Sign out from this collector's own pages.")
		return
	}
	d.clearCookie(w, r)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// isFragment reports whether the refresh script asks for the live part of
// a page only.
func isFragment(r *http.Request) bool { return r.URL.Query().Get("fragment") == "1" }

// page is what every page template receives.
type page struct {
	Title   string
	Nav     string // which navigation entry is current
	Viewer  string // "admin" or "team payments"
	Admin   bool
	Refresh int // seconds; 0 disables the refresh script
	Now     time.Time
	Data    any
}

func (d *Dashboard) newPage(v viewer, title, nav string, data any) page {
	who := "admin"
	if !v.admin {
		who = "team " + v.team
	}
	return page{Title: title, Nav: nav, Viewer: who, Admin: v.admin, Refresh: int(d.opt.Refresh.Seconds()), Now: d.opt.Now().UTC(), Data: data}
}

// render executes a page template; for the refresh script's fragment
// requests only its "live" block.
func (d *Dashboard) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	t, ok := d.pages[name]
	if !ok {
		d.log.Error("dashboard: no template", "name", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	block := "layout"
	if isFragment(r) && t.Lookup("live") != nil {
		block = "live"
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, block, p); err != nil {
		d.log.Error("dashboard: render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (d *Dashboard) renderLogin(w http.ResponseWriter, r *http.Request, status int, next, msg string) {
	p := page{Title: "Sign in", Now: d.opt.Now().UTC(), Data: struct{ Next, Error string }{localPath(next), msg}}
	d.render(w, r, status, "login", p)
}

func (d *Dashboard) renderError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	p := page{Title: http.StatusText(status), Now: d.opt.Now().UTC(), Data: msg}
	d.render(w, r, status, "error", p)
}

// internal answers an error of the store.
func (d *Dashboard) internal(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return
	}
	d.log.Error("dashboard", "path", r.URL.Path, "err", err)
	d.renderError(w, r, http.StatusInternalServerError, "The store could not answer; retry in a moment.")
}
