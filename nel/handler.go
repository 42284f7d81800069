package nel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/picketnet/picket/netpath"
	"github.com/picketnet/picket/results"
)

// ReportInserter stores validated reports (results.NELStore does).
type ReportInserter interface {
	InsertNELReports(ctx context.Context, rs []results.NELReport) error
}

// ASNLookup maps a client address to its origin AS (netpath.Resolver
// does). found is false for addresses nobody announces.
type ASNLookup interface {
	LookupAS(ctx context.Context, addr netip.Addr) (info netpath.ASInfo, found bool, err error)
}

// Options configure a Handler. Store and Endpoints are required.
type Options struct {
	Store     ReportInserter
	Endpoints EndpointSource
	// ASN gives clients' networks; nil keeps only the prefix.
	ASN ASNLookup
	// MaxBodyBytes caps a request body (default 64 KiB); MaxReports the
	// reports in one request (default 100).
	MaxBodyBytes int64
	MaxReports   int
	// RatePerSecond and Burst are the token bucket of each client network
	// (its /24 or /48), in reports (defaults 1/s and 200); MaxNetworks
	// bounds how many networks the limiter remembers (default 100000).
	RatePerSecond float64
	Burst         float64
	MaxNetworks   int
	// TrustedProxies are the addresses of reverse proxies in front of the
	// collector, whose X-Forwarded-For is believed. Empty: none is.
	TrustedProxies []netip.Prefix
	// RefreshEvery is how often the registered origins are reloaded
	// (default 30s).
	RefreshEvery time.Duration
	// Metrics, when set, receives the handler's counters.
	Metrics prometheus.Registerer
	Logger  *slog.Logger
	Now     func() time.Time
}

// Handler serves POST /v1/reports/nel and its CORS preflight.
type Handler struct {
	opt     Options
	limit   *limiter
	origins *registered
	log     *slog.Logger

	reports  *prometheus.CounterVec // by outcome
	rejected *prometheus.CounterVec // requests, by reason
}

// NewHandler returns the handler of POST /v1/reports/nel.
func NewHandler(opt Options) (*Handler, error) {
	if opt.Store == nil || opt.Endpoints == nil {
		return nil, errors.New("nel: Options.Store and Options.Endpoints are required")
	}
	if opt.MaxBodyBytes <= 0 {
		opt.MaxBodyBytes = 64 << 10
	}
	if opt.MaxReports <= 0 {
		opt.MaxReports = 100
	}
	if opt.RatePerSecond <= 0 {
		opt.RatePerSecond = 1
	}
	if opt.Burst <= 0 {
		opt.Burst = 200
	}
	if opt.Burst < float64(opt.MaxReports) {
		return nil, fmt.Errorf("nel: burst %v is below the %d reports one request may hold", opt.Burst, opt.MaxReports)
	}
	if opt.MaxNetworks <= 0 {
		opt.MaxNetworks = 100000
	}
	if opt.RefreshEvery <= 0 {
		opt.RefreshEvery = 30 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	h := &Handler{
		opt:     opt,
		limit:   newLimiter(opt.RatePerSecond, opt.Burst, opt.MaxNetworks),
		origins: &registered{src: opt.Endpoints, refresh: opt.RefreshEvery},
		log:     opt.Logger,
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "picket_nel_reports_total",
			Help: "Network Error Logging reports received, by outcome (stored, unregistered_origin).",
		}, []string{"outcome"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "picket_nel_requests_rejected_total",
			Help: "NEL report requests refused whole, by reason.",
		}, []string{"reason"}),
	}
	if opt.Metrics != nil {
		for _, c := range []prometheus.Collector{h.reports, h.rejected} {
			if err := opt.Metrics.Register(c); err != nil {
				return nil, fmt.Errorf("nel: register metrics: %w", err)
			}
		}
	}
	return h, nil
}

// Answer is the body of a 200 answer.
type Answer struct {
	Accepted int        `json:"accepted"`
	Rejected []Rejected `json:"rejected,omitempty"`
}

// Rejected names a report of the request that was not stored.
type Rejected struct {
	Index  int    `json:"index"`
	Reason string `json:"reason"`
}

// apiError has the shape of every collector API error.
type apiError struct {
	Error string `json:"error"`
	Code  string `json:"code"`
	Field string `json:"field,omitempty"`
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cors(w.Header())
	switch r.Method {
	case http.MethodOptions:
		// The preflight of a cross-origin browser: the upload's
		// Content-Type application/reports+json is not CORS-safelisted.
		w.Header().Set("Access-Control-Allow-Methods", "POST, OPTIONS")
		w.Header().Set("Access-Control-Allow-Headers", "Content-Type")
		w.Header().Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
		return
	case http.MethodPost:
	default:
		w.Header().Set("Allow", "POST, OPTIONS")
		h.fail(w, http.StatusMethodNotAllowed, "method", apiError{Error: "method " + r.Method + " not allowed; POST reports", Code: "bad_request"})
		return
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/reports+json" && ct != "application/json" {
		h.fail(w, http.StatusUnsupportedMediaType, "content_type", apiError{Error: fmt.Sprintf("Content-Type %q is not application/reports+json", r.Header.Get("Content-Type")), Code: "bad_request"})
		return
	}
	client, ok := h.clientAddr(r)
	if !ok {
		h.fail(w, http.StatusBadRequest, "client", apiError{Error: "cannot tell the client's address", Code: "bad_request"})
		return
	}
	network := ClientPrefix(client)
	now := h.opt.Now()
	// One token for the request before reading it, so that malformed
	// floods are limited too; the rest once the reports are counted.
	if ok, retry := h.limit.take(network.String(), 1, now); !ok {
		h.tooMany(w, retry)
		return
	}
	if r.ContentLength > h.opt.MaxBodyBytes {
		h.fail(w, http.StatusRequestEntityTooLarge, "too_large", apiError{Error: fmt.Sprintf("body of %d bytes is over the %d-byte limit", r.ContentLength, h.opt.MaxBodyBytes), Code: "too_large"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opt.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.fail(w, http.StatusRequestEntityTooLarge, "too_large", apiError{Error: fmt.Sprintf("body is over the %d-byte limit", h.opt.MaxBodyBytes), Code: "too_large"})
			return
		}
		h.fail(w, http.StatusBadRequest, "read", apiError{Error: "cannot read the body: " + err.Error(), Code: "bad_request"})
		return
	}
	reports, err := Parse(body, h.opt.MaxReports)
	if err != nil {
		if errors.Is(err, ErrTooManyReports) {
			h.fail(w, http.StatusRequestEntityTooLarge, "too_many", apiError{Error: err.Error(), Code: "too_large"})
			return
		}
		e := apiError{Error: err.Error(), Code: "invalid"}
		var fe *FieldError
		if errors.As(err, &fe) {
			e.Field = fe.Field
		}
		h.fail(w, http.StatusBadRequest, "invalid", e)
		return
	}
	if n := len(reports) - 1; n > 0 {
		if ok, retry := h.limit.take(network.String(), float64(n), now); !ok {
			h.tooMany(w, retry)
			return
		}
	}
	h.store(w, r, reports, client, network, now)
}

func (h *Handler) store(w http.ResponseWriter, r *http.Request, reports []Report, client netip.Addr, network netip.Prefix, now time.Time) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	var asn netpath.ASInfo
	if h.opt.ASN != nil {
		info, found, err := h.opt.ASN.LookupAS(ctx, client)
		if err != nil {
			h.log.Warn("nel: client AS lookup", "network", network, "err", err)
		}
		if found {
			asn = info
		}
	}
	want := r.URL.Query().Get("endpoint")
	var ans Answer
	var keep []results.NELReport
	for i, rep := range reports {
		ref, ok, reason, err := h.origins.lookup(ctx, Origin(rep.URL), want, now)
		if err != nil {
			h.log.Error("nel: load registered endpoints", "err", err)
			writeJSON(w, http.StatusServiceUnavailable, apiError{Error: "registered endpoints unavailable; retry later", Code: "unavailable"})
			return
		}
		if !ok {
			ans.Rejected = append(ans.Rejected, Rejected{Index: i, Reason: reason})
			continue
		}
		keep = append(keep, results.NELReport{
			ReceivedAt:       now.UTC(),
			OccurredAt:       now.Add(-rep.Age).UTC(),
			Team:             ref.team,
			Endpoint:         ref.name,
			URL:              StoredURL(rep.URL, rep.Body.Phase),
			Phase:            rep.Body.Phase,
			Type:             rep.Body.Type,
			SamplingFraction: rep.Body.SamplingFraction,
			ElapsedMS:        rep.Body.Elapsed.Milliseconds(),
			ServerIP:         addrString(rep.Body.ServerIP),
			Protocol:         rep.Body.Protocol,
			Method:           rep.Body.Method,
			StatusCode:       rep.Body.StatusCode,
			ClientASN:        asn.ASN,
			ClientCountry:    country(asn.Country),
			ClientPrefix:     network.String(),
			Browser:          Browser(rep.UserAgent),
		})
	}
	if len(ans.Rejected) > 0 {
		h.reports.WithLabelValues("unregistered_origin").Add(float64(len(ans.Rejected)))
	}
	if len(keep) == 0 {
		h.fail(w, http.StatusForbidden, "unregistered_origin", apiError{Error: ans.Rejected[0].Reason, Code: "forbidden", Field: "reports[0].url"})
		return
	}
	if err := h.opt.Store.InsertNELReports(ctx, keep); err != nil {
		h.log.Error("nel: store reports", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, apiError{Error: "cannot store the reports now; retry later", Code: "unavailable"})
		return
	}
	h.reports.WithLabelValues("stored").Add(float64(len(keep)))
	ans.Accepted = len(keep)
	writeJSON(w, http.StatusOK, ans)
}

// clientAddr is the address the request came from: the peer, or when the
// peer is a trusted proxy the last address in X-Forwarded-For that is not
// one.
func (h *Handler) clientAddr(r *http.Request) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	peer = peer.Unmap().WithZone("")
	if !h.trusted(peer) {
		return peer, true
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return peer, true
		}
		a = a.Unmap().WithZone("")
		if !h.trusted(a) {
			return a, true
		}
	}
	return peer, true
}

func (h *Handler) trusted(a netip.Addr) bool {
	for _, p := range h.opt.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (h *Handler) tooMany(w http.ResponseWriter, retry time.Duration) {
	secs := int(retry.Seconds() + 0.999)
	w.Header().Set("Retry-After", strconv.Itoa(max(1, secs)))
	h.fail(w, http.StatusTooManyRequests, "rate_limited", apiError{Error: "too many reports from your network; retry later", Code: "rate_limited"})
}

func (h *Handler) fail(w http.ResponseWriter, status int, reason string, e apiError) {
	h.rejected.WithLabelValues(reason).Inc()
	writeJSON(w, status, e)
}

// cors lets any origin post reports: the endpoint is public, it reads no
// cookies (credentials are not allowed), and it answers only counts.
func cors(h http.Header) {
	h.Set("Access-Control-Allow-Origin", "*")
	h.Add("Vary", "Origin")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"cannot encode the answer","code":"internal"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// country keeps a two-letter code and nothing else.
func country(c string) string {
	if len(c) != 2 {
		return ""
	}
	return strings.ToUpper(c)
}
