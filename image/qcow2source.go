package image

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/goipa/goipa/image/download"
)

// streamSource serves a qcow2 reader's ReadAt calls from ONE sequential
// download (which hashes it in file order), so a qcow2 image is fetched
// once and verified in the same pass as the write, like a raw one. The last
// window bytes stay in a ring: out-of-order reads within it (parallel
// workers, metadata just behind data) cost nothing. A read further back is
// fetched again with a Range request; a read ahead skips forward, hashing
// what it skips. Memory is the window, whatever the image size.
type streamSource struct {
	ctx  context.Context
	s    *download.Stream
	opts download.Options

	mu   sync.Mutex
	ring []byte
	pos  int64 // stream bytes consumed (and hashed) so far
	err  error // sticky stream error
	back *download.ReaderAt
	// refetched counts bytes read again by Range requests.
	refetched int64
}

func newStreamSource(ctx context.Context, s *download.Stream, window int, opts download.Options) *streamSource {
	return &streamSource{ctx: ctx, s: s, opts: opts, ring: make([]byte, window)}
}

// ReadAt implements io.ReaderAt.
func (r *streamSource) ReadAt(p []byte, off int64) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	size := r.s.Size()
	if off >= size {
		return 0, io.EOF
	}
	want := p
	if rest := size - off; int64(len(want)) > rest {
		want = want[:rest]
	}
	end := off + int64(len(want))
	if end > r.pos {
		if err := r.advance(end); err != nil {
			return 0, err
		}
	}
	w := int64(len(r.ring))
	if off < r.pos-w {
		n, err := r.refetch(want, off)
		if err == nil && len(want) < len(p) {
			err = io.EOF
		}
		return n, err
	}
	for n := 0; n < len(want); {
		at := (off + int64(n)) % w
		n += copy(want[n:], r.ring[at:])
	}
	if len(want) < len(p) {
		return len(want), io.EOF
	}
	return len(want), nil
}

// advance reads the stream up to offset to, through the hash and the ring.
func (r *streamSource) advance(to int64) error {
	if r.err != nil {
		return r.err
	}
	w := int64(len(r.ring))
	for r.pos < to {
		at := r.pos % w
		n := min(w-at, to-r.pos)
		// Bytes that leave the window unread still get hashed by the
		// stream: read them in window-sized pieces.
		m, err := io.ReadFull(r.s, r.ring[at:at+n])
		r.pos += int64(m)
		if err != nil {
			r.err = fmt.Errorf("reading the image at byte %d: %w", r.pos, err)
			return r.err
		}
	}
	return nil
}

func (r *streamSource) refetch(p []byte, off int64) (int, error) {
	if r.back == nil {
		b, err := download.NewReaderAt(r.ctx, r.opts)
		if err != nil {
			return 0, err
		}
		r.back = b
	}
	r.refetched += int64(len(p))
	return r.back.ReadAt(p, off)
}

// finish hashes the rest of the stream (refcount tables, snapshots, padding)
// and closes the Range reader.
func (r *streamSource) finish() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.back != nil {
		r.back.Close()
	}
	if r.err != nil {
		return r.err
	}
	n, err := io.Copy(io.Discard, r.s)
	r.pos += n
	return err
}
