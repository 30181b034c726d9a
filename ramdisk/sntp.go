package ramdisk

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"
)

// ErrNTP reports an unusable answer from an NTP server.
var ErrNTP = errors.New("bad NTP reply")

const (
	ntpPort     = "123"
	ntpTimeout  = 3 * time.Second
	ntpEpochGap = 2208988800 // seconds from 1900-01-01 to 1970-01-01
)

// sntpOffset asks one server (host or host:port) for the time with a single
// SNTPv4 exchange (RFC 4330) and returns how far the local clock is behind.
func sntpOffset(ctx context.Context, server string) (time.Duration, error) {
	if _, _, err := net.SplitHostPort(server); err != nil {
		server = net.JoinHostPort(server, ntpPort)
	}
	ctx, cancel := context.WithTimeout(ctx, ntpTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", server)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}

	req := make([]byte, 48)
	req[0] = 0<<6 | 4<<3 | 3 // no leap warning, version 4, client
	t1 := time.Now()
	putNTPTime(req[40:], t1) // echoed back as the originate timestamp
	if _, err := conn.Write(req); err != nil {
		return 0, err
	}
	resp := make([]byte, 128)
	for {
		n, err := conn.Read(resp)
		if err != nil {
			return 0, err
		}
		t4 := time.Now()
		if n < 48 || !bytesEqual(resp[24:32], req[40:48]) {
			continue // not the answer to our request
		}
		if mode := resp[0] & 7; mode != 4 {
			return 0, fmt.Errorf("%w: mode %d from %s", ErrNTP, mode, server)
		}
		if resp[0]>>6 == 3 || resp[1] == 0 || resp[1] > 15 {
			return 0, fmt.Errorf("%w: %s is unsynchronised (stratum %d)", ErrNTP, server, resp[1])
		}
		t2, t3 := ntpTime(resp[32:40]), ntpTime(resp[40:48])
		return (t2.Sub(t1) + t3.Sub(t4)) / 2, nil
	}
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

func ntpTime(b []byte) time.Time {
	sec := int64(binary.BigEndian.Uint32(b)) - ntpEpochGap
	frac := int64(binary.BigEndian.Uint32(b[4:]))
	return time.Unix(sec, frac*1e9>>32)
}

func putNTPTime(b []byte, t time.Time) {
	binary.BigEndian.PutUint32(b, uint32(t.Unix()+ntpEpochGap))
	binary.BigEndian.PutUint32(b[4:], uint32((int64(t.Nanosecond())<<32)/1e9))
}
