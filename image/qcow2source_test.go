package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/goipa/goipa/image/download"
)

// TestStreamSource reads an image through streamSource as qcow2 workers do
// (out of order within the window, behind it, far ahead, past the end),
// over parallel segments and over one connection, from a server with
// byte ranges and from one that answers every Range request with the whole
// object (python3 -m http.server): every read returns the image's bytes and
// the stream's digest is the whole image's.
func TestStreamSource(t *testing.T) {
	for _, noRange := range []bool{false, true} {
		t.Run(fmt.Sprintf("no range %v", noRange), func(t *testing.T) { testStreamSource(t, noRange) })
	}
}

func testStreamSource(t *testing.T, noRange bool) {
	const seg, window = 64 << 10, 256 << 10
	data := make([]byte, 3<<20+12345)
	rand.NewChaCha8([32]byte{3}).Read(data)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if noRange {
			r.Header.Del("Range")
		}
		http.ServeContent(w, r, "img", time.Unix(1700000000, 0), bytes.NewReader(data))
	}))
	defer srv.Close()
	reads := []struct {
		off, n  int64
		refetch bool
		wantEOF bool
	}{
		{off: 0, n: 512},
		{off: 300 << 10, n: 100 << 10},              // ahead, across a segment boundary
		{off: 200 << 10, n: 64 << 10},               // behind, in the window
		{off: 2 << 20, n: 3000},                     // far ahead: skipped bytes are hashed only
		{off: 1 << 20, n: 4096, refetch: true},      // behind the window
		{off: 1<<20 + 8192, n: 4096, refetch: true}, // behind it, further on
		{off: 512 << 10, n: 4096, refetch: true},    // behind it, before the last
		{off: 2<<20 + seg - window, n: 200 << 10},   // the window's oldest bytes: the stream is at the end of 2 MiB's segment
		{off: int64(len(data)) - 100, n: 4096, wantEOF: true},
	}
	for _, streams := range []int{3, 1} {
		opts := download.Options{URLs: []string{srv.URL + "/img"}, Streams: streams, SegmentSize: seg, Logger: quietLog()}
		s, err := download.Open(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		s.Hash(sha256.New())
		src := newStreamSource(context.Background(), s, window, opts)
		var refetched int64
		for _, r := range reads {
			p := make([]byte, r.n)
			n, err := src.ReadAt(p, r.off)
			want := data[r.off:min(r.off+r.n, int64(len(data)))]
			if (err == io.EOF) != r.wantEOF || (err != nil && err != io.EOF) {
				t.Fatalf("streams %d: ReadAt(%d, %d) error %v, want EOF %v", streams, r.n, r.off, err, r.wantEOF)
			}
			if !bytes.Equal(p[:n], want) {
				t.Fatalf("streams %d: ReadAt(%d, %d) returned other bytes than the image's", streams, r.n, r.off)
			}
			if r.refetch {
				refetched += r.n
			}
			var held int64
			for _, b := range src.blocks {
				held += int64(len(b.Data))
			}
			if held > window+seg {
				t.Fatalf("streams %d: %d bytes held for a %d-byte window", streams, held, window)
			}
		}
		if src.refetched != refetched {
			t.Errorf("streams %d: %d bytes fetched again, want %d", streams, src.refetched, refetched)
		}
		if err := src.finish(); err != nil {
			t.Fatal(err)
		}
		sum, err := s.Sum()
		if err != nil {
			t.Fatal(err)
		}
		if want := sha256.Sum256(data); !bytes.Equal(sum, want[:]) {
			t.Errorf("streams %d: digest %x, want %x", streams, sum, want)
		}
		s.Close()
	}
}
