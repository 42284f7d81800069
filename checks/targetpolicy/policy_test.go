package targetpolicy_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/picketnet/picket/checks/targetpolicy"
)

func TestCheck(t *testing.T) {
	deny := &targetpolicy.Policy{DenyPrivate: true}
	allow := &targetpolicy.Policy{DenyPrivate: true, Allow: []netip.Prefix{
		netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("fd00:1::/32"),
	}}
	operatorRanges := []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("203.0.113.8/29"), netip.MustParsePrefix("2001:db8::/32")}
	withDeny := &targetpolicy.Policy{DenyPrivate: true, Allow: allow.Allow, Deny: operatorRanges}
	denyOnly := &targetpolicy.Policy{Deny: operatorRanges}
	tests := []struct {
		policy *targetpolicy.Policy
		addr   string
		denied bool
	}{
		{nil, "127.0.0.1", false},
		{&targetpolicy.Policy{}, "169.254.169.254", false},
		{deny, "93.184.216.34", false},
		{deny, "2606:2800:220:1:248:1893:25c8:1946", false},
		{deny, "8.8.8.8", false},
		{deny, "127.0.0.1", true},
		{deny, "127.255.255.254", true},
		{deny, "10.0.0.1", true},
		{deny, "172.16.5.4", true},
		{deny, "172.32.0.1", false}, // just outside 172.16/12
		{deny, "192.168.1.1", true},
		{deny, "100.64.0.1", true},
		{deny, "100.100.100.200", true}, // Alibaba metadata
		{deny, "169.254.169.254", true}, // AWS/GCP/Azure metadata
		{deny, "0.0.0.0", true},
		{deny, "224.0.0.1", true},
		{deny, "255.255.255.255", true},
		{deny, "198.18.0.1", true},
		{deny, "::1", true},
		{deny, "::", true},
		{deny, "fe80::1", true},
		{deny, "fd00:ec2::254", true}, // AWS IPv6 metadata
		{deny, "fc00::1", true},
		{deny, "fe80::1%eth0", true}, // a zone does not hide a link-local address
		{deny, "ff02::1", true},
		{deny, "64:ff9b:1::a00:1", true},
		{deny, "::ffff:127.0.0.1", true},                      // IPv4-mapped loopback
		{deny, "::ffff:169.254.169.254", true},                // IPv4-mapped metadata
		{deny, "::ffff:93.184.216.34", false},                 // a mapped public address is the public address
		{deny, "64:ff9b::a9fe:a9fe", true},                    // NAT64 of the metadata address
		{deny, "64:ff9b::127.0.0.1", true},                    // NAT64 of loopback
		{deny, "64:ff9b::8.8.8.8", false},                     // NAT64 of a public address
		{deny, "2002:a00:1::1", true},                         // 6to4 of 10.0.0.1
		{deny, "2002:808:808::1", false},                      // 6to4 of 8.8.8.8
		{deny, "::127.0.0.1", true},                           // IPv4-compatible loopback
		{deny, "::ffff:0:a00:1", true},                        // SIIT IPv4-translated 10.0.0.1
		{deny, "::ffff:0:a9fe:a9fe", true},                    // SIIT IPv4-translated metadata
		{deny, "::ffff:0:808:808", false},                     // SIIT of 8.8.8.8
		{deny, "2001:0:4136:e378:8000:63bf:f5ff:fffe", true},  // Teredo, client 10.0.0.1
		{deny, "2001:0:4136:e378:8000:63bf:5601:5601", true},  // Teredo, client 169.254.169.254 (inverted)
		{deny, "2001:0:4136:e378:8000:63bf:3fff:fdd2", false}, // Teredo, client 192.0.2.45 (RFC 4380's example)
		{deny, "100::1", true},                                // discard-only
		{allow, "64:ff9b::10.1.2.3", false},                   // exceptions hold through NAT64
		{allow, "203.0.113.7", false},                         // an exception outside the denied ranges
		{allow, "10.1.2.3", false},                            // an exception inside a denied range
		{allow, "::ffff:10.1.2.3", false},                     // the exception applies to the mapped form too
		{allow, "10.2.0.1", true},                             // the rest of 10/8 stays denied
		{allow, "fd00:1::5", false},
		{allow, "fd00:2::5", true},
		{allow, "169.254.169.254", true},
		// The operator's own ranges: refused even when allowed, through
		// translations, and without deny_private.
		{withDeny, "198.51.100.7", true},
		{withDeny, "::ffff:198.51.100.7", true},
		{withDeny, "64:ff9b::198.51.100.7", true},
		{withDeny, "203.0.113.9", true},  // denied beats allowed
		{withDeny, "203.0.114.1", false}, // outside both lists
		{withDeny, "2001:db8::1", true},
		{withDeny, "10.9.9.9", true},         // deny_private still holds
		{denyOnly, "198.51.100.7", true},     // deny without deny_private
		{denyOnly, "10.9.9.9", false},        // deny_private off: private is allowed
		{denyOnly, "2606:4700::1111", false}, // outside the list
		{deny, "203.0.113.9", false},         // documentation ranges are not denied by default
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			err := tt.policy.Check(netip.MustParseAddr(tt.addr))
			if (err != nil) != tt.denied {
				t.Fatalf("Check(%s) = %v, want denied=%v", tt.addr, err, tt.denied)
			}
			if err != nil {
				if !errors.Is(err, targetpolicy.ErrDenied) {
					t.Fatalf("error %v does not wrap ErrDenied", err)
				}
				if !strings.Contains(err.Error(), netip.MustParseAddr(tt.addr).Unmap().WithZone("").String()) {
					t.Fatalf("error %q does not name the address", err)
				}
			}
		})
	}
}

func TestCheckHost(t *testing.T) {
	deny := &targetpolicy.Policy{DenyPrivate: true}
	ctx := context.Background()
	tests := []struct {
		policy *targetpolicy.Policy
		host   string
		denied bool
	}{
		{deny, "127.0.0.1", true},
		{deny, "169.254.169.254", true},
		{deny, "::ffff:127.0.0.1", true},
		{deny, "192.0.2.1", false},
		{deny, "localhost", true}, // resolves (from /etc/hosts) to loopback
		{nil, "localhost", false},
		{&targetpolicy.Policy{DenyPrivate: true, Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}, "localhost", false},
		// A deny list alone is enforced, names included.
		{&targetpolicy.Policy{Deny: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}, "localhost", true},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			err := tt.policy.CheckHost(ctx, nil, tt.host)
			if (err != nil) != tt.denied {
				t.Fatalf("CheckHost(%s) = %v, want denied=%v", tt.host, err, tt.denied)
			}
			if err != nil && !errors.Is(err, targetpolicy.ErrDenied) {
				t.Fatalf("error %v does not wrap ErrDenied", err)
			}
		})
	}
}

func TestControl(t *testing.T) {
	deny := &targetpolicy.Policy{DenyPrivate: true}
	tests := []struct {
		policy  *targetpolicy.Policy
		network string
		address string
		denied  bool
	}{
		{deny, "tcp4", "127.0.0.1:80", true},
		{deny, "tcp6", "[::1]:443", true},
		{deny, "tcp6", "[::ffff:169.254.169.254]:80", true},
		{deny, "udp4", "169.254.169.254:53", true},
		{deny, "tcp4", "192.0.2.1:80", false},
		{deny, "tcp6", "[fe80::1%eth0]:80", true},
		{deny, "tcp", "not-an-address", true}, // what cannot be checked is refused
		{nil, "tcp", "not-an-address", false},
		{&targetpolicy.Policy{DenyPrivate: true, Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}, "tcp4", "127.0.0.1:80", false},
		{&targetpolicy.Policy{Deny: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}, "tcp4", "192.0.2.1:80", true},
	}
	for _, tt := range tests {
		t.Run(tt.address, func(t *testing.T) {
			err := tt.policy.Control(context.Background(), tt.network, tt.address, nil)
			if (err != nil) != tt.denied {
				t.Fatalf("Control(%s) = %v, want denied=%v", tt.address, err, tt.denied)
			}
			if err != nil && !errors.Is(err, targetpolicy.ErrDenied) {
				t.Fatalf("error %v does not wrap ErrDenied", err)
			}
		})
	}
}

// TestDialerRefusesAtConnect checks the policy on a real dial: nothing is
// sent to a denied address, even one a name resolved to.
func TestDialerRefusesAtConnect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- struct{}{}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	d := (&targetpolicy.Policy{DenyPrivate: true}).Dialer()
	for _, host := range []string{"127.0.0.1", "localhost"} {
		if c, err := d.Dial("tcp", net.JoinHostPort(host, port)); err == nil || !errors.Is(err, targetpolicy.ErrDenied) {
			if c != nil {
				c.Close()
			}
			t.Fatalf("dial %s: err = %v, want ErrDenied", host, err)
		}
	}
	select {
	case <-accepted:
		t.Fatal("a denied dial reached the listener")
	default:
	}
	// The zero policy dials.
	c, err := (&targetpolicy.Policy{}).Dialer().Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}
