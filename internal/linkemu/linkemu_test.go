package linkemu

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/picketnet/picket/internal/netlab"
)

// echoPair starts a UDP echo server in b and returns a client socket in a
// connected to it across the link.
func echoPair(t *testing.T, a, b *netlab.Node) *net.UDPConn {
	t.Helper()
	var srv *net.UDPConn
	if err := b.Do(func() (err error) {
		srv, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(198, 18, 0, 2), Port: 7})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := srv.ReadFromUDP(buf)
			if err != nil {
				return
			}
			_, _ = srv.WriteToUDP(buf[:n], from)
		}
	}()
	var c *net.UDPConn
	if err := a.Do(func() (err error) {
		c, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(198, 18, 0, 2), Port: 7})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip sends one datagram and waits for its echo up to wait.
func roundTrip(c *net.UDPConn, wait time.Duration) (time.Duration, error) {
	start := time.Now()
	if _, err := c.Write([]byte("ping")); err != nil {
		return 0, err
	}
	_ = c.SetReadDeadline(start.Add(wait))
	buf := make([]byte, 64)
	if _, err := c.Read(buf); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

func TestLinkDelayAndLoss(t *testing.T) {
	lab := netlab.New(t)
	a, b := lab.Node("a"), lab.Node("b")
	link, err := New(
		End{Netns: a.NS, Dev: "emu0", Addr: netip.MustParsePrefix("198.18.0.1/30"), Peer: netip.MustParseAddr("198.18.0.2")},
		End{Netns: b.NS, Dev: "emu0", Addr: netip.MustParsePrefix("198.18.0.2/30"), Peer: netip.MustParseAddr("198.18.0.1")},
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { link.Close() })
	c := echoPair(t, a, b)

	if _, err := roundTrip(c, 2*time.Second); err != nil {
		t.Fatalf("no echo across a clean link: %v", err)
	}

	// The emulator cannot deliver before the delay: each direction waits
	// at least 40 ms, so a round trip takes at least 80 ms.
	link.Set(Conditions{Delay: 40 * time.Millisecond})
	for range 3 {
		rtt, err := roundTrip(c, 3*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if rtt < 80*time.Millisecond {
			t.Fatalf("rtt %s across a link delayed 40 ms each way", rtt)
		}
	}

	// Total loss one way: nothing comes back, and the drops are counted.
	link.SetDirection(1, Conditions{Loss: 1})
	_, dropsBefore := link.Stats()
	if _, err := roundTrip(c, 300*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("echo crossed a link with 100%% loss: %v", err)
	}
	if _, drops := link.Stats(); drops <= dropsBefore {
		t.Fatalf("drops %d, before %d", drops, dropsBefore)
	}

	// And back to normal at run time.
	link.Set(Conditions{})
	if _, err := roundTrip(c, 2*time.Second); err != nil {
		t.Fatalf("no echo after restoring the link: %v", err)
	}
	if fwd, _ := link.Stats(); fwd < 10 {
		t.Fatalf("forwarded %d packets", fwd)
	}
}

func TestBadDeviceName(t *testing.T) {
	if _, err := New(End{Dev: "this-name-is-too-long"}, End{Dev: "x"}); err == nil {
		t.Fatal("accepted a 21-byte device name")
	}
}
