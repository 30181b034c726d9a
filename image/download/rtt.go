package download

import (
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// LongPathRTT is the round-trip time from which a Stream with no Streams
// set fetches over DefaultStreams connections. Below it (a LAN, where
// RTTs are well under a millisecond) one TCP connection's window carries
// far more than the disk takes (Linux's default 6 MiB receive window over
// 2 ms is 3 GB/s), and more connections only cost the node and a shared
// server CPU; beyond it the window, not the link, bounds one connection.
const LongPathRTT = 2 * time.Millisecond

// pathRTT measures a connection's round-trip time; tests replace it.
var pathRTT = connRTT

// connRTT is the kernel's smoothed round-trip time of c's TCP connection
// (to the proxy, through one), 0 if c is not TCP.
func connRTT(c net.Conn) time.Duration {
	if tc, ok := c.(interface{ NetConn() net.Conn }); ok {
		c = tc.NetConn() // *tls.Conn
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return 0
	}
	var info *unix.TCPInfo
	if cerr := raw.Control(func(fd uintptr) {
		info, err = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); cerr != nil || err != nil {
		return 0
	}
	return time.Duration(info.Rtt) * time.Microsecond
}
