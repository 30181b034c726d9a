package download

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"
)

// TestConnRTT reads the kernel's RTT of a loopback TCP connection, which is
// far below LongPathRTT, and none of a connection that is not TCP.
func TestConnRTT(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			defer c.Close()
			c.Write([]byte("x"))
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Read(make([]byte, 1))
	if rtt := connRTT(c); rtt <= 0 || rtt >= LongPathRTT {
		t.Errorf("loopback RTT %v, want above 0 and below %v", rtt, LongPathRTT)
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if rtt := connRTT(a); rtt != 0 {
		t.Errorf("pipe RTT %v, want 0", rtt)
	}
}

// TestStreamConnections: with Streams unset, a Stream uses one connection on
// a short path and DefaultStreams on a long one; a set Streams wins either
// way. One connection means one request, read ahead of the reader.
func TestStreamConnections(t *testing.T) {
	for _, tc := range []struct {
		name    string
		streams int
		rtt     time.Duration
		want    int // connections
	}{
		{"LAN", 0, 200 * time.Microsecond, 1},
		{"unknown RTT", 0, 0, 1},
		{"just under the long path", 0, LongPathRTT - time.Microsecond, 1},
		{"long path", 0, LongPathRTT, DefaultStreams},
		{"WAN", 0, 40 * time.Millisecond, DefaultStreams},
		{"one set, WAN", 1, 40 * time.Millisecond, 1},
		{"three set, LAN", 3, 100 * time.Microsecond, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			saved := pathRTT
			pathRTT = func(net.Conn) time.Duration { return tc.rtt }
			defer func() { pathRTT = saved }()
			data := testData(20*testSegment + 7)
			srv := newImageServer(t, data)
			opts := parallelOptions(t, srv.url())
			opts.Streams = tc.streams
			s, err := Open(context.Background(), opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			got, _, err := readHashed(t, s)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read %d bytes, %v", len(got), err)
			}
			ranges := len(srv.ranges())
			switch {
			case tc.want == 1 && len(srv.requests()) != 1:
				t.Errorf("%d requests (%d Range), want the first alone", len(srv.requests()), ranges)
			case tc.want > 1 && ranges != 20:
				t.Errorf("%d Range requests, want one per segment after the first (20)", ranges)
			}
			if s.par != nil {
				t.Error("fetch still running after the end")
			}
		})
	}
}
