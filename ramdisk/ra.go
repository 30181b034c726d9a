package ramdisk

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ErrNoRA reports that no router advertised itself on a link.
var ErrNoRA = errors.New("no IPv6 router advertisement")

// Router advertisement (RFC 4861 §4.2) fields and options.
const (
	icmpv6RA      = 134
	raMinLen      = 16
	raFlagManaged = 0x80 // M: addresses from DHCPv6
	raFlagOther   = 0x40 // O: other configuration (DNS) from DHCPv6
	raOptRDNSS    = 25   // RFC 8106 recursive DNS servers
)

// routerAdvert is what the ramdisk needs from an RA; the kernel applies the
// prefixes and the default route itself.
type routerAdvert struct {
	managed, other bool
	dns            []net.IP
}

// parseRA decodes an ICMPv6 router advertisement as a raw ICMPv6 socket
// delivers it (no IPv6 header).
func parseRA(b []byte) (routerAdvert, error) {
	if len(b) < raMinLen || b[0] != icmpv6RA {
		return routerAdvert{}, fmt.Errorf("not a router advertisement (%d bytes)", len(b))
	}
	ra := routerAdvert{managed: b[5]&raFlagManaged != 0, other: b[5]&raFlagOther != 0}
	for opts := b[raMinLen:]; len(opts) >= 2; {
		n := int(opts[1]) * 8
		if n == 0 || n > len(opts) {
			return ra, fmt.Errorf("router advertisement option %d: bad length %d", opts[0], n)
		}
		if opts[0] == raOptRDNSS && n >= 24 && binary.BigEndian.Uint32(opts[4:8]) != 0 {
			for a := opts[8:n]; len(a) >= net.IPv6len; a = a[net.IPv6len:] {
				ra.dns = append(ra.dns, net.IP(append([]byte(nil), a[:net.IPv6len]...)))
			}
		}
		opts = opts[n:]
	}
	return ra, nil
}

// listenRA opens a raw ICMPv6 socket on one NIC that passes router
// advertisements only. It is opened before the link goes up, so the answer
// to the kernel's first router solicitation is not missed.
func listenRA(ctx context.Context, name string) (*net.IPConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			var f unix.ICMPv6Filter
			for i := range f.Data {
				f.Data[i] = ^uint32(0) // a set bit blocks the type
			}
			f.Data[icmpv6RA>>5] &^= 1 << (icmpv6RA & 31)
			serr = errors.Join(
				unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, name),
				unix.SetsockoptICMPv6Filter(int(fd), unix.SOL_ICMPV6, unix.ICMPV6_FILTER, &f))
		})
		return errors.Join(err, serr)
	}}
	c, err := lc.ListenPacket(ctx, "ip6:ipv6-icmp", "::")
	if err != nil {
		return nil, fmt.Errorf("%s: router advertisement socket: %w", name, err)
	}
	return c.(*net.IPConn), nil
}

// readRA waits up to timeout for the first valid router advertisement.
func readRA(ctx context.Context, c *net.IPConn, timeout time.Duration) (routerAdvert, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Now()) })
	defer stop()
	buf := make([]byte, 1500)
	for {
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return routerAdvert{}, fmt.Errorf("%w after %v", ErrNoRA, timeout)
			}
			return routerAdvert{}, err
		}
		if ra, err := parseRA(buf[:n]); err == nil {
			return ra, nil
		}
	}
}
