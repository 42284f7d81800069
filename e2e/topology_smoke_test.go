package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"
)

// The lab itself works before any picket runs in it: every vantage
// resolves the target's name through the lab DNS server and fetches its
// health page over TLS with the lab CA, and every vantage reaches both
// collector addresses.
func TestLabTopology(t *testing.T) {
	topo := buildTopology(t)
	tg := startTarget(t, topo.nodes["target"])
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(tg.ca.File)
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(pem)

	for _, s := range sites {
		n := topo.nodes["v-"+s.region]
		// The resolver and the HTTP transport dial from goroutines of their
		// own, so every dial switches into the vantage's namespace itself.
		dial := func(ctx context.Context, network, addr string) (c net.Conn, err error) {
			err = n.Do(func() error {
				var d net.Dialer
				c, err = d.DialContext(ctx, network, addr)
				return err
			})
			return c, err
		}
		err := func() error {
			resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return dial(ctx, network, targetAddr+":53")
			}}
			addrs, err := resolver.LookupHost(context.Background(), targetName)
			if err != nil {
				return err
			}
			if len(addrs) != 1 || addrs[0] != targetAddr {
				t.Errorf("%s resolves %s to %v", s.id, targetName, addrs)
			}
			c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
				DialContext:     dial,
				TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: targetName},
			}}
			resp, err := c.Get("https://" + targetAddr + "/health")
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || string(body) != "ok\n" {
				t.Errorf("%s: %s %q", s.id, resp.Status, body)
			}
			for _, addr := range []string{collectorA, collectorB} {
				// Nothing listens yet: a refusal proves the route works.
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				conn, err := dial(ctx, "tcp", net.JoinHostPort(addr, collectorPort))
				cancel()
				if err == nil {
					conn.Close()
				} else if ne, ok := err.(*net.OpError); !ok || ne.Timeout() {
					t.Errorf("%s to collector %s: %v", s.id, addr, err)
				}
			}
			return nil
		}()
		if err != nil {
			t.Fatalf("%s: %v", s.id, err)
		}
	}
}
