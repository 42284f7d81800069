package httpcheck

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/picketnet/picket/checks"
	"github.com/picketnet/picket/checks/checktest"
)

// BenchmarkRun measures one whole check, on a fresh connection each time,
// against a local server. ns/op is wall time; cpu-ns/op is the CPU time of
// the process (user + system) per run, which includes the server's share
// since it runs in the same process; B/op and allocs/op count both too.
func BenchmarkRun(b *testing.B) {
	ca := newCA(b)
	caFile := `"ca_file":"` + ca.pemFile + `"`
	for _, bc := range []struct {
		name, target, spec string
	}{
		{"http1.1", startHTTP(b, false).URL + "/ok", `{}`},
		{"http1.1-tls", startTLS(b, ca.validLeaf(b), false).URL + "/ok", `{` + caFile + `}`},
		{"http2-tls", startTLS(b, ca.validLeaf(b), true).URL + "/ok", `{"http_version":"2",` + caFile + `}`},
		{"http3", startH3(b, ca.validLeaf(b)) + "/ok", `{"http_version":"3",` + caFile + `}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			chk, err := Kind{}.Parse(bc.target, json.RawMessage(bc.spec))
			if err != nil {
				b.Fatal(err)
			}
			checktest.BenchRun(b, chk, checks.Env{}, 5*time.Second)
		})
	}
}
