package nel

import (
	"net/netip"
	"net/url"
	"strings"
)

// ClientPrefix is the client address truncated to the network it shares
// with its neighbours: /24 for IPv4, /48 for IPv6. It is the finest
// client detail the collector keeps.
func ClientPrefix(addr netip.Addr) netip.Prefix {
	addr = addr.Unmap().WithZone("")
	bits := 48
	if addr.Is4() {
		bits = 24
	}
	p, _ := addr.Prefix(bits)
	return p
}

// Origin is scheme://host[:port] of u, without a default port.
func Origin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	port := u.Port()
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host
}

// StoredURL is what the collector keeps of a reported URL: never the
// user info, query or fragment; for failures in the dns and connection
// phases only the origin, as the NEL specification asks, since no request
// reached the server and the path is the client's business alone.
func StoredURL(u *url.URL, phase string) string {
	o := Origin(u)
	if phase == PhaseDNS || phase == PhaseConnection {
		return o + "/"
	}
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	return o + p
}

// browsers are tried in order: many user agents name several products
// ("... Chrome/131 Safari/537.36 Edg/131"), and the most specific wins.
var browsers = []struct{ token, family string }{
	{"Edg/", "Edge"},
	{"EdgA/", "Edge"},
	{"EdgiOS/", "Edge"},
	{"OPR/", "Opera"},
	{"SamsungBrowser/", "Samsung Internet"},
	{"YaBrowser/", "Yandex"},
	{"Firefox/", "Firefox"},
	{"FxiOS/", "Firefox"},
	{"CriOS/", "Chrome"},
	{"HeadlessChrome/", "HeadlessChrome"},
	{"Chrome/", "Chrome"},
	{"Chromium/", "Chromium"},
	{"picket-reporting/", "picket-reporting"},
	{"Go-http-client/", "Go"},
	{"curl/", "curl"},
}

// Browser reduces a user agent to its family and major version
// ("Chrome 131", "Firefox 133", "Safari 18"), or "other". Everything else
// in the string (platform, device model, build numbers, extensions) is
// dropped: together those single out a client.
func Browser(ua string) string {
	for _, b := range browsers {
		if i := strings.Index(ua, b.token); i >= 0 {
			return withMajor(b.family, ua[i+len(b.token):])
		}
	}
	// Safari names its version in Version/ and itself in Safari/.
	if strings.Contains(ua, "Safari/") {
		if i := strings.Index(ua, "Version/"); i >= 0 {
			return withMajor("Safari", ua[i+len("Version/"):])
		}
	}
	return "other"
}

func withMajor(family, rest string) string {
	n := 0
	for n < len(rest) && n < 6 && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	if n == 0 {
		return family
	}
	return family + " " + rest[:n]
}
