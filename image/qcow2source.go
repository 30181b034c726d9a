package image

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/goipa/goipa/image/download"
)

// streamSource serves a qcow2 reader's ReadAt calls from ONE sequential
// download (which hashes it in file order), so a qcow2 image is fetched
// once and verified in the same pass as the write, like a raw one. It holds
// on to the download's own buffers for the last window bytes (no copy on
// the way in): out-of-order reads within them (parallel workers, metadata
// just behind data) cost nothing. A read further back is fetched again with
// a Range request; a read ahead skips forward, hashing what it skips.
// Memory is the window and a block, whatever the image size.
type streamSource struct {
	ctx    context.Context
	s      *download.Stream
	opts   download.Options
	window int64

	mu     sync.Mutex
	blocks []heldBlock // in stream order, ending at pos
	pos    int64       // stream bytes consumed (and hashed) so far
	err    error       // sticky stream error
	back   io.ReaderAt
	// refetched counts bytes read again, by Range requests or rewind.
	refetched int64
}

type heldBlock struct {
	off int64
	download.Block
}

// newStreamSource reads s, opened with opts, and keeps the last window
// bytes of it.
func newStreamSource(ctx context.Context, s *download.Stream, window int64, opts download.Options) *streamSource {
	// The window spans at most window/segment+1 of s's blocks (a segment at
	// most), and one more is taken before the oldest goes.
	seg := cmp.Or(opts.SegmentSize, download.DefaultSegmentSize)
	s.HoldBlocks(int((window+seg-1)/seg) + 2)
	return &streamSource{ctx: ctx, s: s, opts: opts, window: window}
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
	if len(r.blocks) == 0 || off < r.blocks[0].off {
		n, err := r.refetch(want, off)
		if err == nil && len(want) < len(p) {
			err = io.EOF
		}
		return n, err
	}
	n := 0
	for _, b := range r.blocks {
		if at := off + int64(n); at < b.off+int64(len(b.Data)) {
			n += copy(want[n:], b.Data[at-b.off:])
			if n == len(want) {
				break
			}
		}
	}
	if len(want) < len(p) {
		return len(want), io.EOF
	}
	return len(want), nil
}

// advance reads the stream up to offset to (and what is left of the block
// holding it), releasing the blocks that leave the window.
func (r *streamSource) advance(to int64) error {
	if r.err != nil {
		return r.err
	}
	for r.pos < to {
		b, err := r.s.Next()
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			r.err = fmt.Errorf("reading the image at byte %d: %w", r.pos, err)
			return r.err
		}
		r.blocks = append(r.blocks, heldBlock{r.pos, b})
		r.pos += int64(len(b.Data))
		drop := 0
		for drop < len(r.blocks) && r.blocks[drop].off+int64(len(r.blocks[drop].Data)) <= r.pos-r.window {
			r.blocks[drop].Release()
			drop++
		}
		r.blocks = append(r.blocks[:0], r.blocks[drop:]...)
	}
	return nil
}

func (r *streamSource) refetch(p []byte, off int64) (int, error) {
	if r.back == nil {
		b, err := download.NewReaderAt(r.ctx, r.opts)
		switch {
		case errors.Is(err, download.ErrNoRange):
			// IPA downloads the whole file and needs no Range: neither
			// may goipa. Read the object again from the start instead.
			r.back = &rewindReader{ctx: r.ctx, opts: r.opts, size: r.s.Size(), validator: r.s.Validator()}
		case err != nil:
			return 0, err
		default:
			r.back = b
		}
	}
	r.refetched += int64(len(p))
	return r.back.ReadAt(p, off)
}

// rewindReader serves reads behind the window when the server cannot serve
// byte ranges: a second sequential download of the same object, read
// forward to each offset asked for and started over from byte 0 only when
// asked for bytes behind it. The main stream hashes the image; this one is
// trusted only while the server names it the same object (size and ETag or
// Last-Modified). Memory is one read's buffer.
type rewindReader struct {
	ctx       context.Context
	opts      download.Options
	size      int64
	validator string
	s         *download.Stream
	pos       int64
}

func (r *rewindReader) ReadAt(p []byte, off int64) (int, error) {
	if r.s == nil || off < r.pos {
		if err := r.restart(); err != nil {
			return 0, err
		}
	}
	if _, err := io.CopyN(io.Discard, r.s, off-r.pos); err != nil {
		r.close()
		return 0, fmt.Errorf("re-reading the image up to byte %d: %w", off, err)
	}
	r.pos = off
	n, err := io.ReadFull(r.s, p)
	r.pos += int64(n)
	if err != nil {
		r.close()
		return n, fmt.Errorf("re-reading the image at byte %d: %w", off, err)
	}
	return n, nil
}

func (r *rewindReader) restart() error {
	r.close()
	if r.validator == "" {
		return fmt.Errorf("%w: the server serves no byte ranges and names no ETag or Last-Modified, so the image cannot be read again safely",
			download.ErrRestart)
	}
	o := r.opts
	o.Streams = 1
	s, err := download.Open(r.ctx, o)
	if err != nil {
		return err
	}
	if s.Size() != r.size || s.Validator() != r.validator {
		s.Close()
		return fmt.Errorf("%w: the image changed while it was read (size %d, %q; now %d, %q)",
			download.ErrRestart, r.size, r.validator, s.Size(), s.Validator())
	}
	r.s, r.pos = s, 0
	return nil
}

func (r *rewindReader) close() {
	if r.s != nil {
		r.s.Close()
		r.s = nil
	}
}

// Close ends the second download.
func (r *rewindReader) Close() error {
	r.close()
	return nil
}

// finish hashes the rest of the stream (refcount tables, snapshots, padding)
// and closes the Range reader.
func (r *streamSource) finish() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.release()
	if c, ok := r.back.(io.Closer); ok {
		c.Close()
	}
	if r.err != nil {
		return r.err
	}
	n, err := io.Copy(io.Discard, r.s)
	r.pos += n
	return err
}

// failed is the error that stopped the download, if any.
func (r *streamSource) failed() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// release gives the held blocks back to the download.
func (r *streamSource) release() {
	for i := range r.blocks {
		r.blocks[i].Release()
	}
	r.blocks = nil
}
