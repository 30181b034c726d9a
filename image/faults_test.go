package image

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// faultMode is how faultServer misbehaves.
type faultMode int

const (
	trickle     faultMode = iota // 64 KiB per connection, then silence
	alwaysShort                  // every body stops halfway, Content-Length says more
	neverRange                   // python3 -m http.server: 200 and the whole file for any Range
	dropN                        // the first n connections close after a quarter of their body
	status503N                   // the first n requests get 503
	status404                    // always 404
)

// faultServer serves one image with a fault, as a new user's lab server
// would: headers as a static file server sends them (Last-Modified, and
// byte ranges unless neverRange).
type faultServer struct {
	*httptest.Server
	data  []byte
	mode  faultMode
	n     int64
	count atomic.Int64
	stop  chan struct{}
}

func newFaultServer(t *testing.T, data []byte, mode faultMode, n int64) *faultServer {
	s := &faultServer{data: data, mode: mode, n: n, stop: make(chan struct{})}
	s.Server = httptest.NewServer(s)
	t.Cleanup(func() {
		close(s.stop) // trickling handlers hold their connections until then
		s.Close()
	})
	return s
}

func (s *faultServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	k := s.count.Add(1)
	switch {
	case s.mode == status404:
		http.NotFound(w, r)
		return
	case s.mode == status503N && k <= s.n:
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	h := w.Header()
	h.Set("Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT")
	first, last := int64(0), int64(len(s.data))-1
	code := http.StatusOK
	if s.mode != neverRange {
		h.Set("Accept-Ranges", "bytes")
		if f, l, ok := rangeOf(r.Header.Get("Range"), int64(len(s.data))); ok {
			first, last, code = f, l, http.StatusPartialContent
			h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", f, l, len(s.data)))
		}
	}
	body := s.data[first : last+1]
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	send := len(body)
	switch {
	case s.mode == trickle:
		send = min(send, 64<<10)
	case s.mode == alwaysShort:
		send /= 2
	case s.mode == dropN && k <= s.n:
		send /= 4
	}
	w.Write(body[:send])
	if send == len(body) {
		return
	}
	w.(http.Flusher).Flush()
	if s.mode == trickle {
		select { // silence, the connection open
		case <-r.Context().Done():
		case <-s.stop:
		}
		return
	}
	if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
		c.Close()
	}
}

// rangeOf parses "bytes=a-b" or "bytes=a-".
func rangeOf(h string, size int64) (first, last int64, ok bool) {
	var a, b int64
	if n, _ := fmt.Sscanf(h, "bytes=%d-%d", &a, &b); n == 2 && a <= b && b < size {
		return a, b, true
	}
	if n, _ := fmt.Sscanf(h, "bytes=%d-", &a); n == 1 && a < size {
		return a, size - 1, true
	}
	return 0, 0, false
}

// TestDownloadFaults runs every fault on raw, gzip-compressed raw and qcow2
// (plain and compressed clusters): a server that recovers within the retry
// budget gives a verified disk, one that cannot ends in ImageDownloadError
// within IPA's bound (attempts × (timeout + interval), twice at most: a
// download that cannot resume starts over once), with nothing bootable left
// on the disk.
func TestDownloadFaults(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("qemu-img not installed")
	}
	img := pattern(8 << 20)
	dir := t.TempDir()
	raw := filepath.Join(dir, "src.raw")
	if err := os.WriteFile(raw, img, 0o644); err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(img)
	zw.Close()
	qcow2Bytes := func(args ...string) []byte {
		b, err := os.ReadFile(qcow2Of(t, raw, args...))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	images := []struct {
		name, format string
		body         []byte
	}{
		{"raw", "raw", img},
		{"gzip", "raw", gz.Bytes()},
		{"qcow2", "qcow2", qcow2Bytes()},
		{"qcow2 compressed", "qcow2", qcow2Bytes("-c")},
	}
	const (
		timeout  = 300 * time.Millisecond
		retries  = 2
		interval = 50 * time.Millisecond
	)
	bound := 2*(retries+1)*(timeout+interval) + time.Second // + slack for a loaded CI host
	faults := []struct {
		name string
		mode faultMode
		n    int64
		ok   bool
	}{
		{"trickle", trickle, 0, false},
		{"always short", alwaysShort, 0, false},
		{"never Range", neverRange, 0, true},
		{"drop 2", dropN, 2, true},
		{"503 2", status503N, 2, true},
		{"404", status404, 0, false},
	}
	for _, im := range images {
		for _, f := range faults {
			t.Run(im.name+"/"+f.name, func(t *testing.T) {
				t.Parallel()
				s := newFaultServer(t, im.body, f.mode, f.n)
				sum := sha256.Sum256(im.body)
				d := newDeployer()
				d.Download.ConnectTimeout, d.Download.Retries, d.Download.RetryInterval = timeout, retries, interval
				dev := target(t, 16<<20)
				// A bootable-looking start: it must not survive a failure.
				if err := os.WriteFile(dev, bytes.Repeat([]byte{0x55}, 1<<20), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Truncate(dev, 16<<20); err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				_, err := d.Write(context.Background(), &Info{ID: "disk.img", URLs: []string{s.URL + "/disk.img"},
					DiskFormat: im.format, OSHashAlgo: "sha256", OSHashValue: hex.EncodeToString(sum[:])}, dev, "")
				took := time.Since(start)
				t.Logf("%v after %d requests: %v", took.Round(time.Millisecond), s.count.Load(), err)
				if f.ok {
					if err != nil {
						t.Fatalf("deploy failed: %v", err)
					}
					if !bytes.Equal(readBack(t, dev, len(img)), img) {
						t.Fatal("the disk does not hold the image")
					}
					return
				}
				if err == nil {
					t.Fatal("deploy succeeded from a server that never delivered the whole image")
				}
				if got := errType(err); got != "ImageDownloadError" {
					t.Errorf("error type %q, want ImageDownloadError: %v", got, err)
				}
				if took > bound {
					t.Errorf("failed after %v, want within %v", took, bound)
				}
				if !bytes.Equal(readBack(t, dev, 1<<20), make([]byte, 1<<20)) {
					t.Error("the disk's first MiB is not zero after a failed deploy")
				}
			})
		}
	}
}
