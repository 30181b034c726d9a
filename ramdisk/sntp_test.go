package ramdisk

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// fakeNTP answers one request per call of reply on 127.0.0.1.
func fakeNTP(t *testing.T, reply func(req []byte) []byte) string {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, addr, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			if resp := reply(buf[:n]); resp != nil {
				_, _ = conn.WriteTo(resp, addr)
			}
		}
	}()
	return conn.LocalAddr().String()
}

// serverReply answers like an NTP server whose clock is at now+skew.
func serverReply(skew time.Duration, mode, stratum byte) func([]byte) []byte {
	return func(req []byte) []byte {
		resp := make([]byte, 48)
		resp[0] = 4<<3 | mode
		resp[1] = stratum
		copy(resp[24:32], req[40:48]) // originate = client's transmit
		now := time.Now().Add(skew)
		putNTPTime(resp[32:], now)
		putNTPTime(resp[40:], now)
		return resp
	}
}

func TestSNTPOffset(t *testing.T) {
	for _, skew := range []time.Duration{0, 90 * time.Minute, -400 * 24 * time.Hour} {
		addr := fakeNTP(t, serverReply(skew, 4, 2))
		off, err := sntpOffset(context.Background(), addr)
		if err != nil {
			t.Fatalf("skew %v: %v", skew, err)
		}
		if d := off - skew; d < -50*time.Millisecond || d > 50*time.Millisecond {
			t.Errorf("skew %v: offset %v", skew, off)
		}
	}
}

func TestSNTPBadReplies(t *testing.T) {
	tests := []struct {
		name  string
		reply func([]byte) []byte
		err   string
	}{
		{name: "client mode", reply: serverReply(0, 3, 2), err: "bad NTP reply: mode 3"},
		{name: "kiss of death", reply: serverReply(0, 4, 0), err: "bad NTP reply"},
		{name: "stratum 16", reply: serverReply(0, 4, 16), err: "unsynchronised (stratum 16)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sntpOffset(context.Background(), fakeNTP(t, tt.reply))
			if err == nil || !errors.Is(err, ErrNTP) || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("err = %v, want ErrNTP containing %q", err, tt.err)
			}
		})
	}
}

func TestSNTPIgnoresStrayAndTimesOut(t *testing.T) {
	// A reply to some other request (wrong originate) is no answer.
	addr := fakeNTP(t, func(req []byte) []byte {
		resp := serverReply(0, 4, 2)(req)
		resp[24] ^= 0xff
		return resp
	})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := sntpOffset(ctx, addr); err == nil {
		t.Fatal("stray reply accepted")
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("took %v despite the context's 300ms", time.Since(start))
	}
}

// NTP timestamps as RFC 5905 writes them: seconds since 1900 and a 32-bit
// binary fraction. The bytes are written out here, not by putNTPTime, so a
// wrong epoch or fraction scale cannot cancel out.
func TestNTPTimeWire(t *testing.T) {
	tests := []struct {
		wire []byte
		at   time.Time
	}{
		{[]byte{0x83, 0xaa, 0x7e, 0x80, 0, 0, 0, 0}, time.Unix(0, 0)},                                              // 1970-01-01, 2208988800 s after 1900
		{[]byte{0x83, 0xaa, 0x7e, 0x81, 0x80, 0, 0, 0}, time.Unix(1, 500_000_000)},                                 // half a second is 2^31
		{[]byte{0xec, 0xca, 0x85, 0x78, 0x40, 0, 0, 0}, time.Date(2025, 11, 21, 6, 30, 16, 250_000_000, time.UTC)}, // 3972695416 s, a quarter
	}
	for _, tt := range tests {
		if got := ntpTime(tt.wire); !got.Equal(tt.at) {
			t.Errorf("ntpTime(% x) = %v, want %v", tt.wire, got.UTC(), tt.at.UTC())
		}
		b := make([]byte, 8)
		putNTPTime(b, tt.at)
		if string(b) != string(tt.wire) {
			t.Errorf("putNTPTime(%v) = % x, want % x", tt.at.UTC(), b, tt.wire)
		}
	}
}

func TestNTPTimeRoundTrip(t *testing.T) {
	in := time.Date(2026, 11, 21, 6, 30, 0, 123456789, time.UTC)
	b := make([]byte, 8)
	putNTPTime(b, in)
	if d := ntpTime(b).Sub(in); d < -time.Microsecond || d > time.Microsecond {
		t.Errorf("round trip off by %v", d)
	}
}
