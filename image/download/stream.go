package download

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// Stream reads an image from start to end, reconnecting and resuming on
// the way, over several connections when the server allows (see
// Options.Streams). It is not safe for concurrent Reads; Progress,
// BytesRead and Size may be called from any goroutine.
type Stream struct {
	f         *fetcher
	r         retrier
	size      int64         // Content-Length of the first answer, -1 if unknown
	rtt       time.Duration // round-trip time of the first answer's connection, 0 if unknown
	validator string        // ETag or Last-Modified of the first answer
	ranges    bool          // the server did not announce Accept-Ranges: none
	announced bool          // the server announced Accept-Ranges: bytes
	opened    bool          // size is set
	started   time.Time

	h       hash.Hash // fed every byte delivered, see Hash
	hp      *hashPipe // hashes what one connection delivers
	par     *parallel // the parallel fetch, while it runs
	parDone bool      // the parallel fetch was decided on
	wbuf    []byte    // WriteTo's buffer for one connection
	held    int       // blocks from Next the caller keeps at once, see HoldBlocks
	bufs    chan []byte
	nbufs   int // Next's buffers for one connection allocated so far

	body    io.ReadCloser
	gotData bool // body delivered bytes
	err     error
	off     atomic.Int64
	resumes atomic.Int64
}

// Open connects to the first URL that answers and returns the stream of
// the image's bytes. The Stream keeps using ctx; Close releases it.
func Open(ctx context.Context, opts Options) (*Stream, error) {
	f, err := newFetcher(ctx, opts)
	if err != nil {
		return nil, err
	}
	s := &Stream{f: f, r: retrier{f: f}, size: -1, started: f.o.Clock.Now()}
	if err := s.connect(); err != nil {
		f.close()
		return nil, err
	}
	return s, nil
}

// connect opens a body at the current offset, over URLs and retries.
func (s *Stream) connect() error {
	for {
		err := s.try()
		if err == nil {
			return nil
		}
		if err := s.r.fail(err); err != nil {
			return err
		}
	}
}

// try sends one request for the bytes from the current offset on.
func (s *Stream) try() error {
	u := s.r.url()
	off := s.off.Load()
	if off == 0 {
		resp, err := s.f.get(u, "", "", func(c net.Conn) { s.rtt = pathRTT(c) })
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			drain(resp.Body)
			return fmt.Errorf("image download: GET %s: unrequested %s", redactString(u), resp.Status)
		}
		if !s.opened {
			s.size = resp.ContentLength
			s.opened = true
		} else if resp.ContentLength != s.size {
			drain(resp.Body)
			return fmt.Errorf("%w: %s changed size from %d to %d", ErrRestart, redactString(u), s.size, resp.ContentLength)
		}
		s.validator = validator(resp.Header)
		s.ranges = resp.Header.Get("Accept-Ranges") != "none"
		s.announced = strings.EqualFold(strings.TrimSpace(resp.Header.Get("Accept-Ranges")), "bytes")
		s.setBody(resp.Body)
		return nil
	}
	if !s.ranges {
		return fmt.Errorf("%w: %s does not serve ranges (Accept-Ranges: none)", ErrRestart, redactString(u))
	}
	resp, err := s.f.get(u, fmt.Sprintf("bytes=%d-", off), s.validator, nil)
	var se *statusError
	if errors.As(err, &se) && se.code == http.StatusRequestedRangeNotSatisfiable {
		return fmt.Errorf("%w: %w", ErrRestart, err)
	}
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusPartialContent {
		drain(resp.Body)
		return fmt.Errorf("%w: %s answered a Range request with the whole object (no range support, or the object changed)",
			ErrRestart, redactString(u))
	}
	first, last, total, err := contentRange(resp.Header.Get("Content-Range"))
	switch {
	case err != nil:
		err = fmt.Errorf("%w: %w", ErrRestart, err)
	case first != off || (s.size >= 0 && (total != s.size || last >= s.size)):
		err = fmt.Errorf("%w: %s sent bytes %d-%d/%d for a resume at %d of %d",
			ErrRestart, redactString(u), first, last, total, off, s.size)
	case !sameObject(s.validator, resp.Header):
		err = fmt.Errorf("%w: %s changed ETag from %s to %s", ErrRestart, redactString(u), s.validator, resp.Header.Get("ETag"))
	}
	if err != nil {
		drain(resp.Body)
		return err
	}
	s.resumes.Add(1)
	s.f.o.Logger.Info("image download resumed", "url", redactString(u), "offset", off, "size", s.size)
	s.setBody(resp.Body)
	return nil
}

func (s *Stream) setBody(b io.ReadCloser) {
	s.body = b
	s.gotData = false
}

// Hash makes the Stream feed h every byte it delivers, in order, off the
// caller's goroutine, so hashing overlaps the download and the caller's
// work. Call it before the first Read; Sum returns the digest.
func (s *Stream) Hash(h hash.Hash) { s.h = h }

// Sum returns the digest of the image's bytes once Read has returned
// io.EOF, and fails before: a digest of part of the image verifies nothing.
func (s *Stream) Sum() ([]byte, error) {
	if s.h == nil {
		return nil, errors.New("image download: Sum without Hash")
	}
	if s.err != io.EOF {
		return nil, fmt.Errorf("image download: digest of a stream not read to the end (%d bytes read): %v", s.off.Load(), s.err)
	}
	if s.hp != nil {
		s.hp.Close()
	}
	return s.h.Sum(nil), nil
}

// Read returns the image's bytes in order. It returns io.EOF only after
// Size bytes (or, with an unknown size, at the clean end of the body); a
// stream that cannot be completed ends in an error wrapping
// io.ErrUnexpectedEOF, ErrRestart when the caller should start over.
func (s *Stream) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if b := s.segment(); b != nil {
		n := copy(p, b)
		s.delivered(n)
		return n, nil
	}
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.readOne(p)
	if n > 0 && s.h != nil {
		if s.hp == nil {
			s.hp = newHashPipe(s.h)
		}
		s.hp.Write(p[:n])
	}
	return n, err
}

// Block is a piece of the image that its caller holds until Release.
type Block struct {
	Data    []byte
	release func()
}

// Release hands the block's buffer back to the Stream, which may then
// reuse it: Data must not be used after.
func (b *Block) Release() {
	if b.release != nil {
		b.release()
		b.release = nil
	}
}

// Peek returns the image's first n bytes (fewer if it is shorter) before
// the first Read or Next, without consuming them and without starting the
// parallel fetch: a caller can look at the format first and choose Serial.
func (s *Stream) Peek(n int) ([]byte, error) {
	if s.parDone || s.body == nil || s.off.Load() != 0 {
		return nil, errors.New("image download: Peek after the first read")
	}
	b := make([]byte, n)
	m, err := io.ReadFull(s.body, b)
	b = b[:m]
	s.body = &peekedBody{Reader: io.MultiReader(bytes.NewReader(b), s.body), rc: s.body}
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		err = nil // a short image; Read says how it ends
	}
	return b, err
}

// peekedBody hands out the peeked bytes before the rest of the body.
type peekedBody struct {
	io.Reader
	rc io.ReadCloser
}

func (p *peekedBody) Close() error { return p.rc.Close() }

// Serial keeps the Stream on one connection, for a caller that consumes
// the image slower than one connection brings it (a decompressor): the
// parallel fetch would only hold its buffers. Call it before the first
// Read or Next.
func (s *Stream) Serial() { s.parDone = true }

// HoldBlocks tells the Stream that its caller keeps up to n blocks from
// Next at once (counting the one Next is about to return), so that it
// buffers that many more and the download goes on meanwhile. Call it before
// the first Read or Next. A caller holding more stalls the download until
// it releases some.
func (s *Stream) HoldBlocks(n int) { s.held = n }

// Next returns the image's next bytes in a Block, io.EOF (and no block)
// after the last, like Read. A parallel fetch's segment is passed on
// without a copy; from one connection, Next reads into a buffer of the
// Stream's, of SegmentSize bytes, and hashes it there.
func (s *Stream) Next() (Block, error) {
	if s.err != nil {
		return Block{}, s.err
	}
	if b := s.segment(); b != nil {
		return s.holdSegment(b), nil
	}
	if s.err != nil {
		return Block{}, s.err
	}
	buf := s.blockBuffer()
	n := 0
	var err error
	for n < len(buf) && err == nil {
		var k int
		k, err = s.readOne(buf[n:])
		n += k
	}
	if err != nil && (err != io.EOF || n == 0) {
		s.bufs <- buf
		return Block{}, err
	}
	var refs atomic.Int32
	refs.Store(1)
	release := func() {
		if refs.Add(-1) == 0 {
			s.bufs <- buf // never blocks: the buffer came from bufs
		}
	}
	if s.h != nil {
		if s.hp == nil {
			s.hp = newHashPipe(s.h)
		}
		refs.Add(1)
		s.hp.WriteHeld(buf[:n], release)
	}
	return Block{Data: buf[:n], release: release}, nil
}

// holdSegment delivers b, the rest of the parallel fetch's current
// segment, as a Block that holds the segment's buffer until released.
func (s *Stream) holdSegment(b []byte) Block {
	par := s.par
	sg := par.hold()
	s.delivered(len(b))
	return Block{Data: b, release: func() { par.release(sg) }}
}

// blockBuffer returns a free buffer for Next from one connection: the
// caller's blocks and the hash's backlog each have their own share.
func (s *Stream) blockBuffer() []byte {
	if s.bufs == nil {
		s.bufs = make(chan []byte, max(s.held, 1)+hashPipeChunks)
	}
	if s.nbufs < cap(s.bufs) && len(s.bufs) == 0 {
		s.nbufs++
		return make([]byte, s.f.o.SegmentSize)
	}
	return <-s.bufs
}

// BlockWriter is a writer that may keep using a buffer after WriteBlock
// returns, until it calls done: a disk writer that queues the buffer itself
// for the device.
type BlockWriter interface {
	WriteBlock(p []byte, done func()) error
}

// WriteTo writes the image's bytes to w. Bytes of a parallel fetch are
// passed from its buffers (4 KiB-aligned) without a copy; a BlockWriter
// gets to keep them until it is done with them.
func (s *Stream) WriteTo(w io.Writer) (int64, error) {
	bw, _ := w.(BlockWriter)
	var total int64
	for {
		if b := s.segment(); b != nil && bw != nil {
			blk := s.holdSegment(b)
			err := bw.WriteBlock(blk.Data, blk.Release)
			total += int64(len(b))
			if err != nil {
				return total, err
			}
			continue
		} else if b != nil {
			n, err := w.Write(b)
			s.delivered(n)
			total += int64(n)
			if err != nil {
				return total, err
			}
			continue
		}
		if s.wbuf == nil {
			s.wbuf = make([]byte, 1<<20)
		}
		n, err := s.Read(s.wbuf)
		if n > 0 {
			m, werr := w.Write(s.wbuf[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// segment returns the next bytes of the parallel fetch, starting it on
// first use, or nil when the Stream reads from one connection without it
// (or has ended: s.err is then set).
func (s *Stream) segment() []byte {
	if !s.parDone {
		s.parDone = true
		if s.size >= 0 && s.body != nil && s.off.Load() == 0 {
			lanes := s.lanes()
			s.par = newParallel(s, s.body, lanes)
			s.body = nil
		}
	}
	if s.par == nil || s.err != nil {
		return nil
	}
	b, err := s.par.peek()
	if err == nil {
		return b
	}
	p := s.par
	s.par = nil
	off := s.off.Load()
	first := p.stop(err != io.EOF, off)
	if err == io.EOF {
		s.err = io.EOF
		return nil
	}
	if p.lanes == 1 {
		s.f.o.Logger.Warn("image download interrupted", "url", redactString(s.r.url()), "offset", off, "size", s.size, "error", err)
	} else {
		s.f.o.Logger.Warn("parallel image download stopped, continuing with one connection",
			"url", redactString(s.r.url()), "offset", off, "error", err)
	}
	if first != nil {
		s.setBody(first)
	}
	return nil
}

// lanes is how many connections the fetch uses: Options.Streams, or with
// none set, one on a short path and DefaultStreams on a long one, where a
// single TCP connection's window holds it back. Several connections need
// an image of at least two segments whose server announces byte ranges and
// a validator.
func (s *Stream) lanes() int {
	o := s.f.o
	n := o.Streams
	if n == 0 {
		n = 1
		if s.rtt >= LongPathRTT {
			n = DefaultStreams
		}
	}
	if n > 1 && !(s.size >= 2*o.SegmentSize && s.announced && s.validator != "") {
		n = 1
	}
	o.Logger.Info("image download", "url", redactString(s.r.url()), "size", s.size, "connections", n, "rtt", s.rtt)
	return n
}

func (s *Stream) delivered(n int) {
	s.par.consume(n)
	s.off.Add(int64(n))
}

// readOne reads from one connection at a time.
func (s *Stream) readOne(p []byte) (int, error) {
	for {
		if s.body == nil {
			if err := s.connect(); err != nil {
				s.err = s.final(err)
				return 0, s.err
			}
		}
		n, err := s.body.Read(p)
		off := s.off.Add(int64(n))
		s.gotData = s.gotData || n > 0
		if err == nil {
			return n, nil
		}
		s.body.Close()
		s.body = nil
		if err == io.EOF && (s.size < 0 || off == s.size) {
			s.err = io.EOF
			return n, io.EOF
		}
		if err == io.EOF {
			err = fmt.Errorf("body ended at byte %d of %d: %w", off, s.size, io.ErrUnexpectedEOF)
		}
		s.f.o.Logger.Warn("image download interrupted", "url", redactString(s.r.url()), "offset", off, "size", s.size, "error", err)
		if ferr := s.r.after(s.gotData, err); ferr != nil {
			s.err = s.final(ferr)
			return n, s.err
		}
		if n > 0 {
			return n, nil
		}
	}
}

// final makes the error that ends the stream say how far it got.
func (s *Stream) final(err error) error {
	off := s.off.Load()
	if off == 0 || errors.Is(err, io.ErrUnexpectedEOF) {
		return err
	}
	return fmt.Errorf("%w at byte %d of %d: %w", io.ErrUnexpectedEOF, off, s.size, err)
}

// Size is the image's Content-Length, -1 if the server did not send one.
func (s *Stream) Size() int64 { return s.size }

// Validator is the ETag (or else Last-Modified) the first answer carried:
// another download of the same URL with the same validator is the same
// object. "" when the server sent neither.
func (s *Stream) Validator() string { return s.validator }

// BytesRead is the number of bytes Read has returned.
func (s *Stream) BytesRead() int64 { return s.off.Load() }

// Requests is the number of HTTP requests sent so far.
func (s *Stream) Requests() int64 { return s.f.requests.Load() }

// Close ends the stream and releases its connections.
func (s *Stream) Close() error {
	if s.par != nil {
		s.par.stop(false, 0)
		s.par = nil
	}
	if s.hp != nil {
		s.hp.Close()
	}
	if s.body != nil {
		s.body.Close()
		s.body = nil
	}
	if s.err == nil {
		s.err = errors.New("image download: stream closed")
	}
	s.f.close()
	return nil
}

// Progress is a snapshot of a Stream for logs.
type Progress struct {
	Bytes   int64
	Size    int64 // -1 if unknown
	Elapsed time.Duration
	Rate    float64       // bytes per second since Open
	ETA     time.Duration // -1 if unknown
	Resumes int64         // successful Range resumes
}

// Progress returns the current progress.
func (s *Stream) Progress() Progress {
	p := Progress{
		Bytes:   s.off.Load(),
		Size:    s.size,
		Elapsed: s.f.o.Clock.Now().Sub(s.started),
		ETA:     -1,
		Resumes: s.resumes.Load(),
	}
	if p.Elapsed > 0 {
		p.Rate = float64(p.Bytes) / p.Elapsed.Seconds()
	}
	if p.Size >= 0 && p.Rate > 0 {
		p.ETA = time.Duration(float64(p.Size-p.Bytes) / p.Rate * float64(time.Second))
	}
	return p
}
