package burnin

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// loopbackAddr is a free 127.0.0.1 port: both "nodes" of a test listen
// there in turn and connect to it, never leaving loopback.
func loopbackAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func pair(t *testing.T, addr string, run time.Duration) (a, b NetworkOptions) {
	base := NetworkOptions{Partner: addr, Listen: addr, Runtime: run, PairingTimeout: 10 * time.Second, RetryInterval: 20 * time.Millisecond}
	a, b = base, base
	a.Role, b.Role = roleWriter, roleReader
	return a, b
}

type netOut struct {
	res []DirectionResult
	err error
}

func runPair(a, b NetworkOptions) (ra, rb netOut) {
	var wg sync.WaitGroup
	wg.Go(func() { ra.res, ra.err = Network(context.Background(), a, quiet) })
	wg.Go(func() { rb.res, rb.err = Network(context.Background(), b, quiet) })
	wg.Wait()
	return ra, rb
}

// TestNetworkBothDirections: two nodes (on 127.0.0.1) each write and then
// read, as IPA swaps fio's roles, and every byte sent is checked.
func TestNetworkBothDirections(t *testing.T) {
	a, b := pair(t, loopbackAddr(t), 200*time.Millisecond)
	ra, rb := runPair(a, b)
	if ra.err != nil || rb.err != nil {
		t.Fatalf("errors: %v / %v", ra.err, rb.err)
	}
	if len(ra.res) != 2 || ra.res[0].Role != roleWriter || ra.res[1].Role != roleReader ||
		len(rb.res) != 2 || rb.res[0].Role != roleReader || rb.res[1].Role != roleWriter {
		t.Fatalf("directions = %+v / %+v", ra.res, rb.res)
	}
	// What one side sent is what the other checked.
	if ra.res[0].Bytes == 0 || ra.res[0].Bytes != rb.res[0].Bytes || ra.res[1].Bytes != rb.res[1].Bytes {
		t.Errorf("bytes: writer %d, reader %d; reader %d, writer %d", ra.res[0].Bytes, rb.res[0].Bytes, ra.res[1].Bytes, rb.res[1].Bytes)
	}
}

// TestNetworkDetectsCorruption: a frame altered on the way fails the
// reader, and the writer learns it from the reader's verdict.
func TestNetworkDetectsCorruption(t *testing.T) {
	a, b := pair(t, loopbackAddr(t), 5*time.Second)
	a.fault = func(seq uint64, payload []byte) {
		if seq == 2 {
			payload[100] ^= 0x01
		}
	}
	begin := time.Now()
	ra, rb := runPair(a, b)
	if !errors.Is(rb.err, ErrMismatch) || !strings.Contains(rb.err.Error(), "offset 2097252") {
		t.Errorf("reader: %v, want a mismatch at offset 2097252", rb.err)
	}
	if !errors.Is(ra.err, ErrMismatch) || !strings.Contains(ra.err.Error(), "reader reports") {
		t.Errorf("writer: %v, want the reader's verdict", ra.err)
	}
	if d := time.Since(begin); d > 4*time.Second {
		t.Errorf("corruption ended the burn-in after %v, not at once", d)
	}
}

func TestNetworkNoPartner(t *testing.T) {
	addr := loopbackAddr(t)
	o := NetworkOptions{Role: roleReader, Partner: addr, Listen: addr, Runtime: time.Second,
		PairingTimeout: 300 * time.Millisecond, RetryInterval: 50 * time.Millisecond}
	if _, err := Network(context.Background(), o, quiet); err == nil || !strings.Contains(err.Error(), "not reachable") {
		t.Errorf("reader without writer: %v", err)
	}
	o.Role = roleWriter
	if _, err := Network(context.Background(), o, quiet); err == nil || !strings.Contains(err.Error(), "no partner connected") {
		t.Errorf("writer without reader: %v", err)
	}
}

// TestNetworkNotAWriter: a reader connected to something else than a
// goipa writer says so instead of reporting corruption.
func TestNetworkNotAWriter(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n0123456789012345678901234567890123456789"))
			c.Close()
		}
	}()
	o := NetworkOptions{Role: roleReader, Partner: ln.Addr().String(), Runtime: time.Second, PairingTimeout: time.Second}
	if _, err := Network(context.Background(), o, quiet); err == nil || !strings.Contains(err.Error(), "not a goipa network burn-in writer") {
		t.Errorf("err = %v", err)
	}
}

// TestNetworkWriterStuckPartner: a partner that connects and then reads
// nothing (and sends no verdict) makes the writer's sends time out; the
// writer must stop at the first failed send, not stream on until its
// runtime ends counting bytes that never left.
func TestNetworkWriterStuckPartner(t *testing.T) {
	addr := loopbackAddr(t)
	o := NetworkOptions{Role: roleWriter, Listen: addr, Runtime: 6 * time.Second, PairingTimeout: 10 * time.Second,
		idle: 200 * time.Millisecond}
	done := make(chan netOut, 1)
	start := time.Now()
	go func() {
		res, err := netWrite(context.Background(), o)
		done <- netOut{[]DirectionResult{res}, err}
	}()
	var conn net.Conn
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			conn = c
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	defer conn.Close()
	conn.(*net.TCPConn).SetReadBuffer(4096)
	out := <-done
	took := time.Since(start)
	if out.err == nil || !strings.Contains(out.err.Error(), "sending") {
		t.Errorf("err = %v, want a failed send", out.err)
	}
	if took > 4*time.Second {
		t.Errorf("the writer went on for %v after its sends failed (runtime %v)", took, o.Runtime)
	}
	// Nothing was read: what the kernel buffers is all that left, far
	// less than a few seconds of a loopback stream.
	if b := out.res[0].Bytes; b > 64<<20 {
		t.Errorf("%d bytes reported sent to a partner that read none", b)
	}
}
