package burnin

import (
	"bufio"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"
)

// Network burn-in roles, as in IPA's agent_burnin_fio_network_config.
const (
	roleWriter = "writer"
	roleReader = "reader"
)

const (
	netMagic   = "GOIPABN1"
	netFrame   = 1 << 20
	netIdle    = 60 * time.Second // longest silence from the partner mid-stream
	netVerdict = 60 * time.Second // how long the writer waits for the reader's verdict
)

// DirectionResult is one direction of burnin_network.
type DirectionResult struct {
	Role    string  `json:"role"`
	Partner string  `json:"partner"`
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
	MBps    float64 `json:"mb_per_second"`
}

// Network is burnin_network with a static partner (IPA's fio network job
// between two nodes): the writer listens, the reader connects to its
// partner; for o.Runtime the writer streams a keyed position-dependent
// pattern and the reader checks every byte, then reports its verdict back
// so both sides fail on corruption. Then the roles swap, as in IPA, so
// each node both sends and checks. The partner runs the same step with
// the opposite role.
func Network(ctx context.Context, o NetworkOptions, log *slog.Logger) ([]DirectionResult, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	addr, err := partnerAddr(o.Partner)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidOption, err)
	}
	if o.Listen == "" {
		o.Listen = ":" + strconv.Itoa(defaultNetPort)
	}
	if o.RetryInterval <= 0 {
		o.RetryInterval = time.Second
	}
	var out []DirectionResult
	for _, role := range []string{o.Role, swap(o.Role)} {
		log.Info("network burn-in", "role", role, "partner", addr, "runtime", o.Runtime)
		var r DirectionResult
		var err error
		if role == roleWriter {
			r, err = netWrite(ctx, o)
		} else {
			r, err = netRead(ctx, o, addr)
		}
		r.Role, r.Partner = role, addr
		if r.Seconds > 0 {
			r.MBps = float64(r.Bytes) / 1e6 / r.Seconds
		}
		out = append(out, r)
		if err != nil {
			return out, fmt.Errorf("as %s with %s: %w", role, addr, err)
		}
		if o.OutputFile != "" {
			if err := WriteReport(o.OutputFile+"."+role, r); err != nil {
				return out, err
			}
		}
	}
	return out, nil
}

func swap(role string) string {
	if role == roleWriter {
		return roleReader
	}
	return roleWriter
}

// partnerAddr is host:port from "host", "host:port", "[v6]:port" or a bare
// IPv6 address; the port defaults to fio's 9000.
func partnerAddr(p string) (string, error) {
	if host, port, err := net.SplitHostPort(p); err == nil {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || host == "" {
			return "", fmt.Errorf("partner %q: bad host or port", p)
		}
		return p, nil
	}
	p = strings.TrimSuffix(strings.TrimPrefix(p, "["), "]")
	if p == "" || strings.ContainsAny(p, " /[]") {
		return "", fmt.Errorf("partner %q: want a host or address, optionally with :port", p)
	}
	return net.JoinHostPort(p, strconv.Itoa(defaultNetPort)), nil
}

// netWrite waits for the partner to connect, streams the pattern for
// o.Runtime and returns the reader's verdict.
func netWrite(ctx context.Context, o NetworkOptions) (DirectionResult, error) {
	var res DirectionResult
	lc := net.ListenConfig{}
	ln, err := lc.Listen(ctx, "tcp", o.Listen)
	if err != nil {
		return res, fmt.Errorf("listening on %s: %w", o.Listen, err)
	}
	_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(o.PairingTimeout))
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	conn, err := ln.Accept()
	stop()
	ln.Close()
	if err != nil {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		return res, fmt.Errorf("no partner connected to %s within %v: %w", o.Listen, o.PairingTimeout, err)
	}
	defer conn.Close()
	defer context.AfterFunc(ctx, func() { conn.Close() })()

	verdict := make(chan string, 1)
	go func() {
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil && line == "" {
			line = "connection lost: " + err.Error()
		}
		verdict <- strings.TrimSpace(line)
	}()
	p := newPattern()
	w := bufio.NewWriterSize(conn, 64<<10)
	if _, err := w.Write(append([]byte(netMagic), p.keyBytes...)); err != nil {
		return res, err
	}
	payload := make([]byte, netFrame)
	var hdr [4]byte
	begin := time.Now()
	deadline := begin.Add(o.Runtime)
	for seq := uint64(0); time.Now().Before(deadline); seq++ {
		select {
		case v := <-verdict:
			res.Seconds = time.Since(begin).Seconds()
			return res, verdictErr(v)
		default:
		}
		p.fill(payload, res.Bytes)
		if o.fault != nil {
			o.fault(seq, payload)
		}
		binary.BigEndian.PutUint32(hdr[:], netFrame)
		_ = conn.SetWriteDeadline(time.Now().Add(cmp.Or(o.idle, netIdle)))
		_, err := w.Write(hdr[:])
		if err == nil {
			_, err = w.Write(payload)
		}
		if err != nil {
			return res, writeFailure(err, verdict)
		}
		res.Bytes += netFrame
	}
	var end [12]byte
	binary.BigEndian.PutUint64(end[4:], uint64(res.Bytes))
	if _, err := w.Write(end[:]); err != nil {
		return res, writeFailure(err, verdict)
	}
	if err := w.Flush(); err != nil {
		return res, writeFailure(err, verdict)
	}
	res.Seconds = time.Since(begin).Seconds()
	select {
	case v := <-verdict:
		return res, verdictErr(v)
	case <-time.After(netVerdict):
		return res, errors.New("the reader sent no verdict")
	case <-ctx.Done():
		return res, ctx.Err()
	}
}

// writeFailure prefers the reader's reason, if it sent one, to the write
// error its closing caused.
func writeFailure(err error, verdict <-chan string) error {
	select {
	case v := <-verdict:
		if e := verdictErr(v); e != nil {
			return e
		}
	case <-time.After(2 * time.Second):
	}
	return fmt.Errorf("sending: %w", err)
}

func verdictErr(v string) error {
	switch {
	case v == "OK":
		return nil
	case strings.HasPrefix(v, "FAIL "):
		return fmt.Errorf("%w: the reader reports: %s", ErrMismatch, strings.TrimPrefix(v, "FAIL "))
	}
	return fmt.Errorf("the reader gave no verdict (%s)", v)
}

// netRead connects to the writer, retrying until o.PairingTimeout, checks
// the stream and sends the verdict.
func netRead(ctx context.Context, o NetworkOptions, addr string) (DirectionResult, error) {
	var res DirectionResult
	var conn net.Conn
	giveUp := time.Now().Add(o.PairingTimeout)
	for {
		d := net.Dialer{Timeout: 10 * time.Second}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			conn = c
			break
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		if time.Now().Add(o.RetryInterval).After(giveUp) {
			return res, fmt.Errorf("partner %s not reachable within %v: %w", addr, o.PairingTimeout, err)
		}
		select {
		case <-time.After(o.RetryInterval):
		case <-ctx.Done():
			return res, ctx.Err()
		}
	}
	defer conn.Close()
	defer context.AfterFunc(ctx, func() { conn.Close() })()

	begin := time.Now()
	bytes, err := checkStream(conn)
	res.Bytes, res.Seconds = bytes, time.Since(begin).Seconds()
	if err != nil {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		if errors.Is(err, ErrMismatch) {
			_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprintf(conn, "FAIL %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
			// Let the writer read the verdict before the connection goes.
			_ = conn.(*net.TCPConn).CloseWrite()
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, _ = io.Copy(io.Discard, conn)
		}
		return res, err
	}
	_ = conn.SetWriteDeadline(time.Now().Add(netIdle))
	if _, err := io.WriteString(conn, "OK\n"); err != nil {
		return res, fmt.Errorf("sending the verdict: %w", err)
	}
	return res, nil
}

// checkStream reads the writer's stream to its end marker, comparing every
// frame with the pattern. It returns the bytes checked.
func checkStream(conn net.Conn) (int64, error) {
	r := bufio.NewReaderSize(&idleReader{conn}, 64<<10)
	head := make([]byte, len(netMagic)+32)
	if _, err := io.ReadFull(r, head); err != nil {
		return 0, fmt.Errorf("reading the stream header: %w", err)
	}
	if string(head[:len(netMagic)]) != netMagic {
		return 0, fmt.Errorf("the partner is not a goipa network burn-in writer (header %q)", head[:len(netMagic)])
	}
	p := patternFromKey(head[len(netMagic):])
	got, want := make([]byte, netFrame), make([]byte, netFrame)
	var off int64
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return off, fmt.Errorf("stream cut after %d bytes: %w", off, err)
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n == 0 {
			var total [8]byte
			if _, err := io.ReadFull(r, total[:]); err != nil {
				return off, fmt.Errorf("stream cut at its end marker: %w", err)
			}
			if t := int64(binary.BigEndian.Uint64(total[:])); t != off {
				return off, fmt.Errorf("%w: the writer sent %d bytes, %d arrived", ErrMismatch, t, off)
			}
			return off, nil
		}
		if n > netFrame {
			return off, fmt.Errorf("%w: frame of %d bytes at offset %d", ErrMismatch, n, off)
		}
		if _, err := io.ReadFull(r, got[:n]); err != nil {
			return off, fmt.Errorf("stream cut after %d bytes: %w", off, err)
		}
		p.fill(want[:n], off)
		if err := mismatch(got[:n], want[:n], off); err != nil {
			return off, fmt.Errorf("stream from the writer: %w", err)
		}
		off += int64(n)
	}
}

// idleReader fails a read the partner leaves unanswered for netIdle.
type idleReader struct{ c net.Conn }

func (r *idleReader) Read(p []byte) (int, error) {
	_ = r.c.SetReadDeadline(time.Now().Add(netIdle))
	return r.c.Read(p)
}
