package netdial_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/picketnet/picket/checks/netdial"
	"github.com/picketnet/picket/checks/targetpolicy"
)

func TestOrderByFamily(t *testing.T) {
	a4, b4 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	a6, b6 := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	for _, tc := range []struct {
		name   string
		in     []netip.Addr
		prefer int
		want   []netip.Addr
	}{
		{"resolver order", []netip.Addr{a6, a4, b6, b4}, 0, []netip.Addr{a6, b6, a4, b4}},
		{"prefer 4", []netip.Addr{a6, a4, b6, b4}, 4, []netip.Addr{a4, b4, a6, b6}},
		{"prefer 6", []netip.Addr{a4, a6, b4}, 6, []netip.Addr{a6, a4, b4}},
		{"prefer absent family", []netip.Addr{a4, b4}, 6, []netip.Addr{a4, b4}},
		{"empty", nil, 4, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := netdial.OrderByFamily(tc.in, tc.prefer); !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestLookupLiteral(t *testing.T) {
	for _, tc := range []struct{ host, want string }{
		{"127.0.0.1", "127.0.0.1"},
		{"::ffff:10.0.0.1", "10.0.0.1"}, // mapped addresses are checked and recorded as IPv4
		{"::1", "::1"},
	} {
		addrs, took, err := netdial.Dialer{}.Lookup(context.Background(), "ip", tc.host)
		if err != nil || len(addrs) != 1 || addrs[0].String() != tc.want || took != 0 {
			t.Errorf("Lookup(%s) = %v, %v, %v; want [%s], no DNS time", tc.host, addrs, took, err, tc.want)
		}
	}
}

// listen returns the port of a listener on 127.0.0.1 that counts the
// connections it accepts.
func listen(t *testing.T) (string, func() int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan struct{}, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- struct{}{}
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port, func() int { return len(accepted) }
}

func TestConnect(t *testing.T) {
	port, accepted := listen(t)
	// A port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, closed, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	v6, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Fatalf("IPv6 loopback: %v", err)
	}
	v6.Close()

	a := netip.MustParseAddr
	loopback := &targetpolicy.Policy{DenyPrivate: true, Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}}
	tests := []struct {
		name     string
		policy   *targetpolicy.Policy
		addrs    []netip.Addr
		port     string
		wantAddr string
		wantErr  error // nil: connects
	}{
		{"one address", nil, []netip.Addr{a("127.0.0.1")}, port, "127.0.0.1", nil},
		{"refused", nil, []netip.Addr{a("127.0.0.1")}, closed, "127.0.0.1", syscall.ECONNREFUSED},
		// [::1] refuses on the listener's port: the other family takes over
		// at once, without waiting for the fallback delay.
		{"fallback family", nil, []netip.Addr{a("::1"), a("127.0.0.1")}, port, "127.0.0.1", nil},
		{"denied", &targetpolicy.Policy{DenyPrivate: true}, []netip.Addr{a("127.0.0.1")}, port, "127.0.0.1", targetpolicy.ErrDenied},
		{"denied in the fallback family", &targetpolicy.Policy{DenyPrivate: true, Allow: []netip.Prefix{netip.MustParsePrefix("::1/128")}},
			[]netip.Addr{a("::1"), a("127.0.0.1")}, closed, "127.0.0.1", targetpolicy.ErrDenied},
		// A refusal by policy explains a failure better than a closed port.
		{"denial wins over refusal", loopback, []netip.Addr{a("127.0.0.1"), a("127.0.0.2")}, closed, "127.0.0.2", targetpolicy.ErrDenied},
		{"allowed after a denied one", loopback, []netip.Addr{a("127.0.0.2"), a("127.0.0.1")}, port, "127.0.0.1", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := accepted()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			conn, addr, err := netdial.Dialer{Policy: tc.policy}.Connect(ctx, "tcp", tc.addrs, tc.port)
			if conn != nil {
				defer conn.Close()
			}
			if addr.String() != tc.wantAddr {
				t.Errorf("address %s, want %s", addr, tc.wantAddr)
			}
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Connect: %v", err)
				}
				// The listener counts the connection in its own goroutine:
				// wait for it, or the next case would see it as its own.
				for accepted() == before && ctx.Err() == nil {
					time.Sleep(time.Millisecond)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Connect: %v, want %v", err, tc.wantErr)
			}
			if errors.Is(tc.wantErr, targetpolicy.ErrDenied) && accepted() != before {
				t.Fatal("a denied connect reached the listener")
			}
		})
	}
}
