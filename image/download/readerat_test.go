package download

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"
)

func newTestReaderAt(t *testing.T, srv *imageServer) *ReaderAt {
	t.Helper()
	opts, _ := testOptions(t, srv.url())
	r, err := NewReaderAt(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestReaderAtReads(t *testing.T) {
	data := testData(20<<20 + 333)
	srv := newImageServer(t, data)
	r := newTestReaderAt(t, srv)
	if r.Size() != int64(len(data)) {
		t.Fatalf("Size() = %d, want %d", r.Size(), len(data))
	}
	for _, tc := range []struct {
		off int64
		n   int
	}{
		{0, 112}, {0, readAheadMin + 10}, {5 << 20, 3}, {readAheadMin - 1, 2}, {3 << 20, 2 << 20},
		{int64(len(data)) - 5000, 5000}, {12345, 1 << 20}, {7 << 20, 1<<20 - 1},
	} {
		p := make([]byte, tc.n)
		n, err := r.ReadAt(p, tc.off)
		if err != nil || n != tc.n || !bytes.Equal(p, data[tc.off:tc.off+int64(tc.n)]) {
			t.Errorf("ReadAt(%d bytes at %d) = %d, %v, equal %v", tc.n, tc.off, n, err, bytes.Equal(p[:n], data[tc.off:tc.off+int64(n)]))
		}
	}
	// Past the end: the bytes there, then io.EOF.
	p := make([]byte, 1000)
	if n, err := r.ReadAt(p, int64(len(data))-10); n != 10 || err != io.EOF || !bytes.Equal(p[:10], data[len(data)-10:]) {
		t.Errorf("ReadAt across the end = %d, %v; want 10, io.EOF", n, err)
	}
	if n, err := r.ReadAt(p, int64(len(data))); n != 0 || err != io.EOF {
		t.Errorf("ReadAt at the end = %d, %v; want 0, io.EOF", n, err)
	}
	if _, err := r.ReadAt(p, -1); err == nil {
		t.Error("ReadAt at -1 succeeded")
	}
	for i, req := range srv.requests() {
		if req.Header.Get("Range") == "" {
			t.Errorf("request %d without Range: %v", i, req.Header)
		}
		if i > 0 && req.Header.Get("If-Range") != `"v1"` {
			t.Errorf("request %d after the probe without If-Range: %v", i, req.Header)
		}
	}
}

// TestReaderAtFewRequests: the qcow2 reader asks for many small reads in a
// row (headers, tables); the cache turns them into a handful of requests.
func TestReaderAtFewRequests(t *testing.T) {
	data := testData(8 << 20)
	srv := newImageServer(t, data)
	r := newTestReaderAt(t, srv)
	p := make([]byte, 4096)
	for off := int64(0); off < int64(len(data)); off += int64(len(p)) {
		if _, err := r.ReadAt(p, off); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(p, data[off:off+int64(len(p))]) {
			t.Fatalf("wrong bytes at %d", off)
		}
	}
	// 256K probe, then 512K, 1M, 2M, 4M (=7.75M), then the last 256K.
	if n := r.Requests(); n > 6 {
		t.Errorf("2048 sequential 4 KiB reads took %d requests, want at most 6", n)
	}
	r.mu.Lock()
	cached := r.cached
	r.mu.Unlock()
	if cached > cacheMax {
		t.Errorf("cache holds %d bytes, more than %d", cached, cacheMax)
	}

	// Random small reads stay correct and bounded.
	before := r.Requests()
	for i := int64(0); i < 64; i++ {
		off := (i * 7919 * 4099) % int64(len(data)-100)
		if _, err := r.ReadAt(p[:100], off); err != nil || !bytes.Equal(p[:100], data[off:off+100]) {
			t.Fatalf("random read at %d: %v", off, err)
		}
	}
	if n := r.Requests() - before; n > 64 {
		t.Errorf("64 random reads took %d requests", n)
	}
}

func TestReaderAtConcurrent(t *testing.T) {
	data := testData(6 << 20)
	srv := newImageServer(t, data)
	r := newTestReaderAt(t, srv)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			size := []int{512, 65536, 1 << 20, 3 << 20}[w%4]
			p := make([]byte, size)
			for i := range 6 {
				off := int64((w*977+i*65537)*512) % int64(len(data)-size)
				if _, err := r.ReadAt(p, off); err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(p, data[off:off+int64(size)]) {
					errs <- errors.New("wrong bytes")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestReaderAtRecovers(t *testing.T) {
	data := testData(4 << 20)
	for _, tc := range []struct {
		name   string
		faults []fault
	}{
		{name: "drop", faults: []fault{serve, drop}},
		{name: "truncate", faults: []fault{serve, truncate}},
		{name: "5xx", faults: []fault{serve, status503, status500}},
		{name: "5xx on probe", faults: []fault{status500, serve}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newImageServer(t, data, tc.faults...)
			r := newTestReaderAt(t, srv)
			p := make([]byte, 2<<20)
			if n, err := r.ReadAt(p, 1<<20); err != nil || n != len(p) || !bytes.Equal(p, data[1<<20:3<<20]) {
				t.Fatalf("ReadAt = %d, %v", n, err)
			}
		})
	}
}

func TestReaderAtRefuses(t *testing.T) {
	data := testData(1 << 20)
	srv := newImageServer(t, data)
	srv.noRange = true
	opts, _ := testOptions(t, srv.url())
	if _, err := NewReaderAt(context.Background(), opts); !errors.Is(err, ErrNoRange) {
		t.Errorf("server without ranges: err = %v, want ErrNoRange", err)
	}
	if n := len(srv.requests()); n != 1 {
		t.Errorf("%d requests, want 1 (no retries)", n)
	}

	// A second URL that serves ranges is used instead.
	good := newImageServer(t, data)
	opts, _ = testOptions(t, srv.url(), good.url())
	r, err := NewReaderAt(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()

	srv = newImageServer(t, data, status404)
	opts, _ = testOptions(t, srv.url())
	if _, err := NewReaderAt(context.Background(), opts); !errors.Is(err, ErrHTTPClient) {
		t.Errorf("404: err = %v, want ErrHTTPClient", err)
	}
}

func TestReaderAtObjectChanged(t *testing.T) {
	for _, ignore := range []bool{false, true} {
		srv := newImageServer(t, testData(3<<20))
		srv.ignoreIfRange = ignore
		r := newTestReaderAt(t, srv)
		srv.setETag(`"v2"`)
		if _, err := r.ReadAt(make([]byte, 100), 2<<20); !errors.Is(err, ErrRestart) {
			t.Errorf("ignoreIfRange=%v: err = %v, want ErrRestart", ignore, err)
		}
	}
}
