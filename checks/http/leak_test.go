package httpcheck

import (
	"testing"
	"time"

	"github.com/picketnet/picket/checks/tls/tlstest"
	"github.com/picketnet/picket/results"
)

// TestNoLeaks runs every kind of run many times, passing and failing, and
// checks that no goroutine or socket outlives them.
func TestNoLeaks(t *testing.T) {
	ca := newCA(t)
	plain := startHTTP(t, false).URL
	h2 := startTLS(t, ca.validLeaf(t), true).URL
	h3 := startH3(t, ca.validLeaf(t))
	silent := startSilent(t)
	refused := closedPort(t)
	silentUDP := startSilentUDP(t)
	caFile := `"ca_file":"` + ca.pemFile + `"`
	short := 100 * time.Millisecond
	cases := []runCase{
		{name: "http1 ok", target: plain + "/redirect/1"},
		{name: "http1 first byte timeout", target: plain + "/sleep", timeout: short, layer: results.LayerHTTP, code: results.CodeTimeout},
		{name: "http1 body timeout", target: plain + "/slowbody", timeout: short, layer: results.LayerHTTP, code: results.CodeTimeout},
		{name: "http1 too large", target: plain + "/bytes/5000", spec: `{"max_bytes":10}`, layer: results.LayerHTTP, code: results.CodeTooLarge},
		{name: "refused", target: "http://" + refused + "/", layer: results.LayerConnect, code: results.CodeRefused},
		{name: "tls handshake timeout", target: "https://" + silent + "/", timeout: short, layer: results.LayerTLS, code: results.CodeTimeout},
		{name: "http2 ok", target: h2 + "/redirect/1", spec: `{` + caFile + `}`},
		{name: "http2 untrusted", target: h2 + "/ok", layer: results.LayerTLS, code: results.CodeCertUntrusted},
		{name: "http2 first byte timeout", target: h2 + "/sleep", spec: `{` + caFile + `}`, timeout: short, layer: results.LayerHTTP, code: results.CodeTimeout},
		{name: "http3 ok", target: h3 + "/redirect/1", spec: `{"http_version":"3",` + caFile + `}`},
		{name: "http3 untrusted", target: h3 + "/ok", spec: `{"http_version":"3"}`, layer: results.LayerTLS, code: results.CodeCertUntrusted},
		{name: "http3 body timeout", target: h3 + "/slowbody", spec: `{"http_version":"3",` + caFile + `}`, timeout: short, layer: results.LayerHTTP, code: results.CodeTimeout},
		{name: "http3 no answer", target: "https://" + silentUDP + "/", spec: `{"http_version":"3"}`, timeout: short, layer: results.LayerConnect, code: results.CodeTimeout},
	}
	run := func() {
		for _, tc := range cases {
			rec, _ := runOnce(t, tc)
			// With timeouts this short, a loaded machine may time out a
			// phase earlier than the case means to (TestRun* check the
			// layer): here only the outcome matters.
			if (tc.layer == "") != rec.OK || (rec.Error != nil && rec.Error.Code != tc.code) {
				t.Fatalf("%s: got %v, want %s/%s", tc.name, rec.Error, tc.layer, tc.code)
			}
		}
	}
	// The first round starts what lives for the whole process (the
	// resolver's and the runtime's own goroutines); it is not a leak.
	run()
	tlstest.NoLeaks(t, func() {
		for range 5 {
			run()
		}
	})
}
