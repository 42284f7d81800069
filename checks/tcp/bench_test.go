package tcpcheck_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/picketnet/picket/checks"
	"github.com/picketnet/picket/checks/checktest"
	tcpcheck "github.com/picketnet/picket/checks/tcp"
	"github.com/picketnet/picket/checks/tls/tlstest"
)

// BenchmarkConnect measures one tcp check (connect and close) against a
// loopback listener in the same process; cpu-ns/op counts both ends.
func BenchmarkConnect(b *testing.B) {
	srv := tlstest.Serve(b, tlstest.Silent)
	c, err := tcpcheck.Kind{}.Parse(srv.Addr, json.RawMessage(`{}`))
	if err != nil {
		b.Fatal(err)
	}
	checktest.BenchRun(b, c, checks.Env{}, time.Minute)
}
