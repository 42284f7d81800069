package nel

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"golang.org/x/net/publicsuffix"
)

// ReportPath is where collectors take NEL reports.
const ReportPath = "/v1/reports/nel"

// HeaderOptions describe the reporting policy a team's service announces.
type HeaderOptions struct {
	// Collectors are the collectors' base URLs (https://collector.a.example)
	// or full report URLs, in the order browsers should try them. They
	// must span at least MinDomains registrable domains, so that reports
	// still arrive when one domain's DNS or provider fails.
	Collectors []string
	// Endpoint is the registered endpoint the reports are about.
	Endpoint string
	// Group is the Reporting API group name (default "picket-nel").
	Group string
	// MaxAge is how long browsers keep the policy (default 30 days).
	MaxAge time.Duration
	// SuccessFraction and FailureFraction are the sampling rates of
	// successful and failed requests (defaults 0.01 and 1).
	SuccessFraction *float64
	FailureFraction *float64
	// IncludeSubdomains extends the policy to the origin's subdomains.
	IncludeSubdomains bool
	// MinDomains is how many registrable domains the collectors must span
	// (default 2).
	MinDomains int
}

// Headers are the response headers that enable NEL for an origin.
type Headers struct {
	NEL                string
	ReportTo           string
	ReportingEndpoints string
}

// BuildHeaders returns the NEL, Report-To and Reporting-Endpoints headers.
func BuildHeaders(o HeaderOptions) (Headers, error) {
	if o.Endpoint == "" {
		return Headers{}, errors.New("no endpoint name")
	}
	if o.Group == "" {
		o.Group = "picket-nel"
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 30 * 24 * time.Hour
	}
	if o.MinDomains <= 0 {
		o.MinDomains = 2
	}
	success, failure := 0.01, 1.0
	if o.SuccessFraction != nil {
		success = *o.SuccessFraction
	}
	if o.FailureFraction != nil {
		failure = *o.FailureFraction
	}
	for name, f := range map[string]float64{"success fraction": success, "failure fraction": failure} {
		if math.IsNaN(f) || f < 0 || f > 1 {
			return Headers{}, fmt.Errorf("%s %v is not in [0, 1]", name, f)
		}
	}
	if len(o.Collectors) == 0 {
		return Headers{}, errors.New("no collectors: give their URLs")
	}
	var urls []string
	domains := map[string]bool{}
	for _, c := range o.Collectors {
		u, domain, err := ReportURL(c, o.Endpoint)
		if err != nil {
			return Headers{}, err
		}
		urls = append(urls, u)
		domains[domain] = true
	}
	if len(domains) < o.MinDomains {
		return Headers{}, fmt.Errorf("the collectors span %d domain(s), want at least %d: reports must reach a collector when one domain fails", len(domains), o.MinDomains)
	}
	maxAge := int64(o.MaxAge / time.Second)

	type rtEndpoint struct {
		URL      string `json:"url"`
		Priority int    `json:"priority"`
	}
	rt := struct {
		Group             string       `json:"group"`
		MaxAge            int64        `json:"max_age"`
		Endpoints         []rtEndpoint `json:"endpoints"`
		IncludeSubdomains bool         `json:"include_subdomains,omitempty"`
	}{Group: o.Group, MaxAge: maxAge, IncludeSubdomains: o.IncludeSubdomains}
	for i, u := range urls {
		// Distinct priorities: browsers try the first and fail over.
		rt.Endpoints = append(rt.Endpoints, rtEndpoint{URL: u, Priority: i + 1})
	}
	nel := struct {
		ReportTo          string  `json:"report_to"`
		MaxAge            int64   `json:"max_age"`
		IncludeSubdomains bool    `json:"include_subdomains,omitempty"`
		SuccessFraction   float64 `json:"success_fraction"`
		FailureFraction   float64 `json:"failure_fraction"`
	}{o.Group, maxAge, o.IncludeSubdomains, success, failure}
	var re []string
	for i, u := range urls {
		name := o.Group
		if i > 0 {
			name = fmt.Sprintf("%s-%d", o.Group, i+1)
		}
		re = append(re, fmt.Sprintf("%s=%q", name, u))
	}
	rtJSON, _ := json.Marshal(rt)
	nelJSON, _ := json.Marshal(nel)
	return Headers{NEL: string(nelJSON), ReportTo: string(rtJSON), ReportingEndpoints: strings.Join(re, ", ")}, nil
}

// ReportURL turns a collector's base URL into its NEL report URL for the
// endpoint, and returns the registrable domain it lives in. Browsers send
// reports only to secure URLs: https, or http on a loopback host.
func ReportURL(collector, endpoint string) (reportURL, domain string, err error) {
	u, err := url.Parse(collector)
	if err != nil || u.Host == "" {
		return "", "", fmt.Errorf("collector %q is not an absolute URL", collector)
	}
	host := u.Hostname()
	if u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(host)) {
		return "", "", fmt.Errorf("collector %q: browsers send reports only over https", collector)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = ReportPath
	}
	q := u.Query()
	q.Set("endpoint", endpoint)
	u.RawQuery = q.Encode()
	u.Fragment = ""
	domain = strings.ToLower(host)
	if _, perr := netip.ParseAddr(host); perr != nil {
		if d, err := publicsuffix.EffectiveTLDPlusOne(domain); err == nil {
			domain = d
		}
	}
	return u.String(), domain, nil
}

func isLoopback(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
