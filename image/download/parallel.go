package download

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/goipa/goipa/internal/directio"
)

// parallel fetches an image as segments, ahead of the Stream's reader, and
// hands them to it in order. With several lanes (connections), the Stream's
// first answer serves segment 0 and Range requests, guarded by If-Range,
// fetch the others into a bounded set of buffers. With one lane, the first
// answer serves them all: one connection, read ahead of the consumer. Segments are hashed in order, so the digest is that of the
// byte stream; the Stream delivers each one as soon as it has arrived and
// the buffer returns to the pool once it is both delivered and hashed, so
// hashing overlaps the download and the caller's writes, and a hash that
// falls behind holds up the download only when the buffers run out.
//
// A segment that cannot be fetched (no range support after all, a changed
// validator, retries exhausted; with one lane, any failure) ends the
// parallel fetch at its first missing byte: the Stream continues there with
// one connection, by its own rules. The first answer's body waits at the end
// of the segment it served until the next one has arrived, so a server that
// ignores Range is read on from where it is.
type parallel struct {
	f         *fetcher // the first answer's URL only, stopped on its own
	size      int64
	seg       int64
	validator string
	h         hash.Hash // nil: no hashing
	resumes   *atomic.Int64

	lanes int

	firstMu sync.Mutex
	first   io.ReadCloser // the first answer's body while no lane reads it, waiting at firstAt
	firstAt int64
	reading io.ReadCloser // the first answer's body while a lane reads it

	free  chan []byte
	jobs  chan *segment
	order chan *segment // dispatched segments, in order
	out   chan *segment // fetched segments, in order
	wg    sync.WaitGroup

	cur  *segment // being consumed
	pos  int      // bytes of cur consumed
	next int64    // offset of the first byte not yet consumed
}

type segment struct {
	off  int64
	buf  []byte
	n    int // bytes of buf fetched when err is set
	err  error
	done chan struct{}
	refs atomic.Int32 // holders of buf: the consumer, the hash, a BlockWriter
}

func newParallel(s *Stream, first io.ReadCloser, lanes int) *parallel {
	o := s.f.o
	// A buffer per lane being fetched, one being delivered, slack for a
	// hash or a BlockWriter holding on to delivered ones, and the blocks the
	// caller of Next keeps.
	nbuf := lanes + 4 + s.held
	p := &parallel{
		f: s.f.sub(s.r.url()), size: s.size, seg: o.SegmentSize, validator: s.validator, h: s.h,
		resumes: &s.resumes, first: first, lanes: lanes,
		free:  make(chan []byte, nbuf),
		jobs:  make(chan *segment),
		order: make(chan *segment, nbuf),
		out:   make(chan *segment, nbuf+1), // and a failed segment's error
	}
	for range nbuf {
		// Aligned for O_DIRECT: a BlockWriter writes them to a disk as they are.
		p.free <- directio.Buffer(int(p.seg))
	}
	p.wg.Add(2 + lanes)
	go p.dispatch()
	go p.sequence()
	for range lanes {
		go p.lane()
	}
	return p
}

// dispatch hands segments to the lanes as buffers come free.
func (p *parallel) dispatch() {
	defer p.wg.Done()
	defer close(p.order)
	defer close(p.jobs)
	ctx := p.f.ctx
	for off := int64(0); off < p.size; off += p.seg {
		var buf []byte
		select {
		case buf = <-p.free:
		case <-ctx.Done():
			return
		}
		sg := &segment{off: off, buf: buf[:min(p.seg, p.size-off)], done: make(chan struct{})}
		p.order <- sg // never blocks: every segment out holds one of cap(order) buffers
		select {
		case p.jobs <- sg:
		case <-ctx.Done():
			sg.err = context.Cause(ctx)
			close(sg.done)
			return
		}
	}
}

// sequence waits for the segments in order, passes them on and hashes
// them; it stops at the first failed one, after hashing all before it and
// the bytes of it that did arrive.
func (p *parallel) sequence() {
	defer p.wg.Done()
	defer close(p.out)
	for sg := range p.order {
		<-sg.done
		var failed *segment
		if sg.err != nil {
			if sg.n == 0 {
				p.out <- sg
				return
			}
			failed = &segment{off: sg.off + int64(sg.n), err: sg.err}
			sg.buf, sg.err = sg.buf[:sg.n], nil
		}
		if p.h == nil {
			sg.refs.Store(1)
			p.out <- sg // never blocks, like order
			if failed != nil {
				p.out <- failed
				return
			}
			continue
		}
		sg.refs.Store(2)
		p.out <- sg
		p.h.Write(sg.buf)
		p.release(sg)
		if failed != nil {
			p.out <- failed
			return
		}
	}
}

// release drops one hold on sg's buffer and returns it to the pool after
// the last.
func (p *parallel) release(sg *segment) {
	if sg.refs.Add(-1) == 0 {
		p.free <- sg.buf[:cap(sg.buf)] // never blocks: the buffer came from free
	}
}

func (p *parallel) lane() {
	defer p.wg.Done()
	for sg := range p.jobs {
		sg.n, sg.err = p.fetch(sg)
		close(sg.done)
	}
}

// fetch fills sg.buf, from the first answer when it waits at the segment,
// resuming short answers and retrying failures with Range requests. With
// one lane, a failure ends the fetch instead: the Stream resumes by its own
// rules, which try every URL.
func (p *parallel) fetch(sg *segment) (int, error) {
	rt := retrier{f: p.f}
	done := 0
	for done < len(sg.buf) {
		off := sg.off + int64(done)
		if body := p.takeFirst(off); body != nil {
			n, err := io.ReadFull(body, sg.buf[done:])
			done += n
			if err == nil {
				p.putFirst(body, off+int64(n))
				return done, nil
			}
			body.Close()
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			if p.lanes == 1 {
				// Spent like any attempt that ends early.
				return done, cmp.Or(rt.interrupted(err), err)
			}
			if err := rt.interrupted(err); err != nil {
				return done, err
			}
			continue
		}
		if p.lanes == 1 {
			return done, errors.New("image download: stopped")
		}
		n, err := rangeGet(p.f, p.f.o.URLs[0], p.validator, p.size, sg.buf[done:], off)
		if n > 0 && done > 0 {
			p.resumes.Add(1)
		}
		done += n
		if err != nil && done < len(sg.buf) {
			p.f.o.Logger.Warn("image download segment interrupted", "url", redactString(p.f.o.URLs[0]), "offset", off+int64(n), "error", err)
			if err = rt.after(n > 0, err); err != nil {
				return done, err
			}
		}
	}
	return done, nil
}

// takeFirst hands the first answer's body to one lane if it waits at off.
func (p *parallel) takeFirst(off int64) io.ReadCloser {
	p.firstMu.Lock()
	defer p.firstMu.Unlock()
	// Several lanes read it for segment 0 only: the others come by Range.
	if p.first == nil || p.firstAt != off || (p.lanes > 1 && off != 0) {
		return nil
	}
	b := p.first
	p.first, p.reading = nil, b
	return b
}

// putFirst gives the first answer's body back, now waiting at off; it is
// closed if the fetch stopped meanwhile.
func (p *parallel) putFirst(b io.ReadCloser, off int64) {
	p.firstMu.Lock()
	defer p.firstMu.Unlock()
	p.reading = nil
	if p.f.ctx.Err() != nil {
		b.Close()
		return
	}
	p.first, p.firstAt = b, off
}

// peek returns the unconsumed bytes of the current segment, waiting for it;
// io.EOF after the last one, or the error that stopped the fetch.
func (p *parallel) peek() ([]byte, error) {
	if p.cur == nil {
		sg, ok := <-p.out
		switch {
		case !ok && p.next == p.size:
			return nil, io.EOF
		case !ok:
			return nil, fmt.Errorf("image download: parallel fetch stopped at byte %d: %w", p.next, context.Cause(p.f.ctx))
		case sg.err != nil:
			return nil, sg.err
		}
		p.cur, p.pos = sg, 0
	}
	return p.cur.buf[p.pos:], nil
}

// hold takes a hold on the current segment's buffer for a BlockWriter or a
// Block; release gives it back.
func (p *parallel) hold() *segment {
	p.cur.refs.Add(1)
	return p.cur
}

// consume marks n bytes of peek's answer as delivered.
func (p *parallel) consume(n int) {
	p.pos += n
	p.next += int64(n)
	if p.pos < len(p.cur.buf) {
		return
	}
	p.release(p.cur)
	p.cur = nil
	p.firstMu.Lock()
	var behind io.ReadCloser
	if p.first != nil && p.firstAt < p.next {
		// The segment after the first answer's arrived by Range: that
		// answer is no longer needed to fall back on.
		behind, p.first = p.first, nil
	}
	p.firstMu.Unlock()
	if behind != nil {
		behind.Close()
	}
}

// closeFirst closes the first answer's body, also under a lane reading it.
func (p *parallel) closeFirst() {
	p.firstMu.Lock()
	first, reading := p.first, p.reading
	p.first = nil
	p.firstMu.Unlock()
	for _, b := range []io.ReadCloser{first, reading} {
		if b != nil {
			b.Close()
		}
	}
}

// stop ends the fetch and waits for its goroutines. With keepFirst, the
// first answer's body is returned when it waits at off, the Stream's
// position, instead of being closed.
func (p *parallel) stop(keepFirst bool, off int64) io.ReadCloser {
	if !keepFirst {
		p.closeFirst() // unblocks a lane reading it
	}
	p.f.stop()
	p.wg.Wait()
	p.firstMu.Lock()
	first := p.first
	p.first = nil
	p.firstMu.Unlock()
	if first != nil && off != p.firstAt {
		first.Close()
		first = nil
	}
	return first
}

// rangeGet fills p with the bytes at off of the size-byte object at u with
// one Range request guarded by If-Range, and returns how many arrived. An
// answer that is not these bytes of the same object fails with ErrRestart.
func rangeGet(f *fetcher, u, validator string, size int64, p []byte, off int64) (int, error) {
	resp, err := f.get(u, fmt.Sprintf("bytes=%d-%d", off, off+int64(len(p))-1), validator, nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent {
		return 0, fmt.Errorf("%w: %s answered a Range request with the whole object (the object changed, or ranges are not served)",
			ErrRestart, redactString(u))
	}
	first, last, total, err := contentRange(resp.Header.Get("Content-Range"))
	switch {
	case err != nil:
		err = fmt.Errorf("%w: %w", ErrRestart, err)
	case first != off || total != size || last >= off+int64(len(p)):
		err = fmt.Errorf("%w: %s sent bytes %d-%d/%d for %d-%d/%d", ErrRestart, redactString(u),
			first, last, total, off, off+int64(len(p))-1, size)
	case !sameObject(validator, resp.Header):
		err = fmt.Errorf("%w: %s changed from %s to ETag %s, Last-Modified %s", ErrRestart, redactString(u), validator,
			resp.Header.Get("ETag"), resp.Header.Get("Last-Modified"))
	}
	if err != nil {
		return 0, err
	}
	n, err := io.ReadFull(resp.Body, p[:last-first+1])
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}
