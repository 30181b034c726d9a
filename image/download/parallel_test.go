package download

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
)

const testSegment = 64 << 10

// parallelOptions fetch in 64 KiB segments over three connections.
func parallelOptions(t *testing.T, url string) Options {
	opts, _ := testOptions(t, url)
	opts.Streams = 3
	opts.SegmentSize = testSegment
	return opts
}

// segmentRanges are the Range headers of segments from..to-1 of an n-byte
// image.
func segmentRanges(n, from, to int) []string {
	var r []string
	for k := from; k < to; k++ {
		r = append(r, fmt.Sprintf("bytes=%d-%d", k*testSegment, min((k+1)*testSegment, n)-1))
	}
	slices.Sort(r)
	return r
}

// readHashed reads s to the end through WriteTo and returns the bytes and
// the Stream's digest of them.
func readHashed(t *testing.T, s *Stream) ([]byte, []byte, error) {
	t.Helper()
	s.Hash(sha256.New())
	var out bytes.Buffer
	// The first Read in odd sizes, like a format sniffer, then WriteTo.
	head := make([]byte, 1000)
	n, err := s.Read(head)
	out.Write(head[:n])
	if err != nil {
		return out.Bytes(), nil, err
	}
	if _, err := s.WriteTo(&out); err != nil {
		return out.Bytes(), nil, err
	}
	sum, err := s.Sum()
	return out.Bytes(), sum, err
}

func TestParallelStream(t *testing.T) {
	for _, tc := range []struct {
		name    string
		size    int // default 10 segments and a bit
		setup   func(*imageServer)
		faults  []fault
		ranges  []string // sorted; nil: not checked
		resumes int64
	}{
		{name: "clean", ranges: segmentRanges(10*testSegment+999, 1, 11)},
		// The first answer serves segment 0, is cut in it (the server
		// sends a third of the image), and is resumed by Range.
		{name: "first answer dropped", size: 2*testSegment + 999, faults: []fault{drop}, resumes: 1,
			ranges: append(segmentRanges(2*testSegment+999, 1, 3), fmt.Sprintf("bytes=%d-%d", (2*testSegment+999)/3, testSegment-1))},
		// Whichever segment the second request fetches is cut and resumed.
		{name: "segment dropped", faults: []fault{serve, drop}, resumes: 1},
		{name: "segment truncated, then 5xx", faults: []fault{serve, truncate, status503}, resumes: 1},
		// Range answered with 200: the first answer, waiting at the end of
		// segment 0, is read on.
		{name: "server ignores Range", setup: func(s *imageServer) { s.ignoreRange = true }},
		// The object changed after the first answer: the Range requests
		// fail If-Range, and the first answer, one consistent response, is
		// read on.
		{name: "ETag changed between streams", setup: func(s *imageServer) { s.etag = `"v2"` }},
		{name: "ETag changed, If-Range ignored", setup: func(s *imageServer) {
			s.etag = `"v2"`
			s.ignoreIfRange = true
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			size := cmp.Or(tc.size, 10*testSegment+999)
			data := testData(size)
			srv := newImageServer(t, data, tc.faults...)
			s, err := Open(context.Background(), parallelOptions(t, srv.url()))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if tc.setup != nil {
				srv.mu.Lock()
				tc.setup(srv)
				srv.mu.Unlock()
			}
			got, sum, err := readHashed(t, s)
			if err != nil {
				t.Fatalf("read %d bytes, then %v", len(got), err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("read %d bytes that differ from the %d-byte image", len(got), len(data))
			}
			if want := sha256.Sum256(data); !bytes.Equal(sum, want[:]) {
				t.Errorf("Sum() = %x, want %x", sum, want)
			}
			slices.Sort(tc.ranges)
			if tc.ranges != nil && !slices.Equal(srv.ranges(), tc.ranges) {
				t.Errorf("Range requests %q, want %q", srv.ranges(), tc.ranges)
			}
			if p := s.Progress(); p.Resumes != tc.resumes || p.Bytes != int64(size) {
				t.Errorf("Progress() = %+v, want %d resumes and %d bytes", p, tc.resumes, size)
			}
			for _, r := range srv.requests()[1:] {
				if r.Header.Get("If-Range") != `"v1"` {
					t.Errorf("Range %q sent If-Range %q, want the first answer's ETag", r.Header.Get("Range"), r.Header.Get("If-Range"))
				}
			}
		})
	}
}

// TestParallelStreamOneConnection: without byte ranges, a size, a
// validator, or with a small image, the Stream uses the first answer alone.
func TestParallelStreamOneConnection(t *testing.T) {
	for _, tc := range []struct {
		name  string
		size  int
		setup func(*imageServer)
	}{
		{"no Accept-Ranges", 4 * testSegment, func(s *imageServer) { s.noRange = true }},
		{"Accept-Ranges none", 4 * testSegment, func(s *imageServer) { s.noAcceptRange = true }},
		{"no Content-Length", 4 * testSegment, func(s *imageServer) { s.chunked = true }},
		{"no validator", 4 * testSegment, func(s *imageServer) {
			s.etag = ""
			s.noLastModified = true
		}},
		{"one segment", 2*testSegment - 1, func(*imageServer) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := testData(tc.size)
			srv := newImageServer(t, data)
			tc.setup(srv)
			s, err := Open(context.Background(), parallelOptions(t, srv.url()))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			got, sum, err := readHashed(t, s)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read %d bytes, %v", len(got), err)
			}
			if want := sha256.Sum256(data); !bytes.Equal(sum, want[:]) {
				t.Errorf("Sum() = %x, want %x", sum, want)
			}
			if n := len(srv.requests()); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
		})
	}
}

// TestParallelStreamObjectChanged: once segments came by Range, a changed
// object ends the stream in ErrRestart after the bytes of the old one, never
// in io.EOF, and Sum refuses.
func TestParallelStreamObjectChanged(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(*imageServer)
	}{
		{"ETag", func(s *imageServer) { s.etag = `"v2"` }},
		{"ETag, If-Range ignored", func(s *imageServer) {
			s.etag = `"v2"`
			s.ignoreIfRange = true
		}},
		{"Range no longer served", func(s *imageServer) { s.ignoreRange = true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := testData(40 * testSegment)
			srv := newImageServer(t, data)
			s, err := Open(context.Background(), parallelOptions(t, srv.url()))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			s.Hash(sha256.New())
			// Past segment 1, the first answer is given up.
			head := make([]byte, 3*testSegment)
			if _, err := io.ReadFull(s, head); err != nil {
				t.Fatal(err)
			}
			srv.mu.Lock()
			tc.setup(srv)
			srv.mu.Unlock()
			rest, err := io.ReadAll(s)
			got := append(head, rest...)
			if !errors.Is(err, ErrRestart) || !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("after %d bytes: err = %v, want ErrRestart and io.ErrUnexpectedEOF", len(got), err)
			}
			if !bytes.Equal(got, data[:len(got)]) || len(got) == len(data) {
				t.Errorf("delivered %d bytes, want a proper prefix of the %d-byte image", len(got), len(data))
			}
			if _, err := s.Sum(); err == nil {
				t.Error("Sum() of an unfinished stream succeeded")
			}
		})
	}
}
