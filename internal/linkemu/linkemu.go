package linkemu

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/picketnet/picket/internal/netlab"
)

// End is one side of a link: the namespace, the name of the TUN device to
// create there, its address, and the address of the other end.
type End struct {
	// Netns is the namespace's name under /run/netns.
	Netns string
	// Dev is the TUN device name (at most 15 bytes).
	Dev string
	// Addr is this end's address with the link's prefix length.
	Addr netip.Prefix
	// Peer is the other end's address.
	Peer netip.Addr
}

// Conditions of one direction of a link.
type Conditions struct {
	Delay  time.Duration
	Jitter time.Duration // uniform in [0, Jitter), added to Delay
	Loss   float64       // fraction of packets dropped, 0..1
}

// Link is a running emulated link. Its zero value is not usable; see New.
type Link struct {
	ends [2]*os.File
	// conditions of the direction a->b ([0]) and b->a ([1])
	cond [2]atomic.Pointer[Conditions]

	forwarded, dropped atomic.Uint64

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// maxPacket is larger than any MTU the lab uses.
const maxPacket = 65535

// queueLen bounds the packets in flight per direction; beyond it the link
// drops, as a full router queue would.
const queueLen = 4096

// New creates the TUN devices, addresses them, brings them up and starts
// forwarding. Close stops it and removes the devices.
func New(a, b End) (*Link, error) {
	l := &Link{}
	for i, e := range []End{a, b} {
		f, err := openTUN(e)
		if err != nil {
			l.closeFiles()
			return nil, err
		}
		l.ends[i] = f
	}
	l.cond[0].Store(&Conditions{})
	l.cond[1].Store(&Conditions{})
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.forward(ctx, 0, l.ends[0], l.ends[1])
	l.forward(ctx, 1, l.ends[1], l.ends[0])
	return l, nil
}

// Set changes the conditions of both directions at once. A delay applies
// in each direction, so a round trip takes twice as long.
func (l *Link) Set(c Conditions) {
	l.SetDirection(0, c)
	l.SetDirection(1, c)
}

// SetDirection changes the conditions of one direction: 0 is a->b, 1 is b->a.
func (l *Link) SetDirection(dir int, c Conditions) {
	c.Loss = min(max(c.Loss, 0), 1)
	l.cond[dir].Store(&c)
}

// Stats returns how many packets were forwarded and dropped so far.
func (l *Link) Stats() (forwarded, dropped uint64) {
	return l.forwarded.Load(), l.dropped.Load()
}

// Close stops forwarding and removes both devices.
func (l *Link) Close() error {
	l.cancel()
	err := l.closeFiles()
	l.wg.Wait()
	return err
}

func (l *Link) closeFiles() error {
	var errs []error
	for _, f := range l.ends {
		if f != nil {
			errs = append(errs, f.Close())
		}
	}
	return errors.Join(errs...)
}

type packet struct {
	due  time.Time
	data []byte
}

// forward moves packets from src to dst under the conditions of dir.
func (l *Link) forward(ctx context.Context, dir int, src, dst *os.File) {
	queue := make(chan packet, queueLen)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(dir)))
	l.wg.Add(2)
	go func() {
		defer l.wg.Done()
		defer close(queue)
		buf := make([]byte, maxPacket)
		var last time.Time
		for {
			n, err := src.Read(buf)
			if err != nil {
				return // closed
			}
			c := l.cond[dir].Load()
			if c.Loss > 0 && rng.Float64() < c.Loss {
				l.dropped.Add(1)
				continue
			}
			due := time.Now().Add(c.Delay)
			if c.Jitter > 0 {
				due = due.Add(time.Duration(rng.Int64N(int64(c.Jitter))))
			}
			// Never overtake the packet before: a link keeps order.
			if due.Before(last) {
				due = last
			}
			last = due
			select {
			case queue <- packet{due: due, data: append([]byte(nil), buf[:n]...)}:
			default:
				l.dropped.Add(1)
			}
		}
	}()
	go func() {
		defer l.wg.Done()
		t := time.NewTimer(0)
		defer t.Stop()
		for p := range queue {
			if d := time.Until(p.due); d > 0 {
				t.Reset(d)
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
			if _, err := dst.Write(p.data); err != nil {
				if ctx.Err() != nil {
					return
				}
				l.dropped.Add(1)
				continue
			}
			l.forwarded.Add(1)
		}
	}()
}

// ifreq is struct ifreq as TUNSETIFF reads it.
type ifreq struct {
	name  [unix.IFNAMSIZ]byte
	flags uint16
	_     [22]byte
}

// openTUN creates a TUN device inside e's namespace and configures it.
// The file descriptor works from any namespace once created.
func openTUN(e End) (*os.File, error) {
	if len(e.Dev) == 0 || len(e.Dev) >= unix.IFNAMSIZ {
		return nil, fmt.Errorf("linkemu: device name %q must be 1..15 bytes", e.Dev)
	}
	var fd int
	err := netlab.Do("/run/netns/"+e.Netns, func() error {
		var err error
		fd, err = unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open /dev/net/tun: %w", err)
		}
		var req ifreq
		copy(req.name[:], e.Dev)
		req.flags = unix.IFF_TUN | unix.IFF_NO_PI
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(unix.TUNSETIFF), uintptr(unsafe.Pointer(&req))); errno != 0 {
			unix.Close(fd)
			return fmt.Errorf("TUNSETIFF %s: %w", e.Dev, errno)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("linkemu: %s in %s: %w", e.Dev, e.Netns, err)
	}
	// Non-blocking, so the runtime poller owns it and Close ends reads.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("linkemu: %w", err)
	}
	f := os.NewFile(uintptr(fd), e.Dev)
	for _, args := range [][]string{
		{"addr", "add", e.Addr.String(), "peer", e.Peer.String(), "dev", e.Dev},
		{"link", "set", e.Dev, "mtu", "1500", "up"},
	} {
		if strings.Contains(e.Addr.String(), ":") && args[0] == "addr" {
			args = append(args, "nodad")
		}
		cmd := exec.Command("ip", append([]string{"-n", e.Netns}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			f.Close()
			return nil, fmt.Errorf("linkemu: ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return f, nil
}
