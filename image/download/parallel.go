package download

import (
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

// parallel fetches an image as segments over several connections and hands
// them to the Stream in order. The Stream's first answer serves segment 0;
// Range requests, guarded by If-Range, fetch the others into a bounded set
// of buffers. Segments are hashed in order, so the digest is that of the
// byte stream; the Stream delivers each one as soon as it has arrived and
// the buffer returns to the pool once it is both delivered and hashed, so
// hashing overlaps the download and the caller's writes, and a hash that
// falls behind holds up the download only when the buffers run out.
//
// A segment that cannot be fetched (no range support after all, a changed
// validator, retries exhausted) ends the parallel fetch at its first byte:
// the Stream continues there with one connection, by its own rules. The
// first answer's body waits at the end of segment 0 until segment 1 has
// arrived, so a server that ignores Range is read on from where it is.
type parallel struct {
	f         *fetcher // the first answer's URL only, stopped on its own
	size      int64
	seg       int64
	validator string
	h         hash.Hash // nil: no hashing
	resumes   *atomic.Int64

	firstMu sync.Mutex
	first   io.ReadCloser // the first answer's body, at segment 0's end once that is done

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
	err  error
	done chan struct{}
	refs atomic.Int32 // holders of buf: the consumer, the hash, a BlockWriter
}

func newParallel(s *Stream, first io.ReadCloser) *parallel {
	o := s.f.o
	// Streams buffers being fetched, one being delivered, slack for a hash
	// or a BlockWriter holding on to delivered ones, and the blocks the
	// caller of Next keeps.
	nbuf := o.Streams + 4 + s.held
	p := &parallel{
		f: s.f.sub(s.r.url()), size: s.size, seg: o.SegmentSize, validator: s.validator, h: s.h,
		resumes: &s.resumes, first: first,
		free:  make(chan []byte, nbuf),
		jobs:  make(chan *segment),
		order: make(chan *segment, nbuf),
		out:   make(chan *segment, nbuf),
	}
	for range nbuf {
		// Aligned for O_DIRECT: a BlockWriter writes them to a disk as they are.
		p.free <- directio.Buffer(int(p.seg))
	}
	p.wg.Add(2 + o.Streams)
	go p.dispatch()
	go p.sequence()
	for range o.Streams {
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
// them; it stops at the first failed one, after hashing all before it.
func (p *parallel) sequence() {
	defer p.wg.Done()
	defer close(p.out)
	for sg := range p.order {
		<-sg.done
		if sg.err != nil {
			p.out <- sg
			return
		}
		if p.h == nil {
			sg.refs.Store(1)
			p.out <- sg // never blocks, like order
			continue
		}
		sg.refs.Store(2)
		p.out <- sg
		p.h.Write(sg.buf)
		p.release(sg)
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
		sg.err = p.fetch(sg)
		close(sg.done)
	}
}

// fetch fills sg.buf, segment 0 from the first answer, resuming short
// answers and retrying failures with Range requests.
func (p *parallel) fetch(sg *segment) error {
	rt := retrier{f: p.f}
	done := 0
	if sg.off == 0 {
		p.firstMu.Lock()
		first := p.first
		p.firstMu.Unlock()
		if first == nil {
			return errors.New("image download: stopped")
		}
		n, err := io.ReadFull(first, sg.buf)
		if err == nil {
			return nil
		}
		p.firstMu.Lock()
		p.first = nil
		p.firstMu.Unlock()
		first.Close()
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		done = n
		if err := rt.interrupted(err); err != nil {
			return err
		}
	}
	for done < len(sg.buf) {
		off := sg.off + int64(done)
		n, err := rangeGet(p.f, p.f.o.URLs[0], p.validator, p.size, sg.buf[done:], off)
		if n > 0 && done > 0 {
			p.resumes.Add(1)
		}
		done += n
		if err != nil && done < len(sg.buf) {
			p.f.o.Logger.Warn("image download segment interrupted", "url", redactString(p.f.o.URLs[0]), "offset", off+int64(n), "error", err)
			if err = rt.after(n > 0, err); err != nil {
				return err
			}
		}
	}
	return nil
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
	if p.next >= 2*p.seg {
		// Segment 1 arrived by Range: the first answer is no longer needed
		// to fall back on.
		p.closeFirst()
	}
}

func (p *parallel) closeFirst() {
	p.firstMu.Lock()
	first := p.first
	p.first = nil
	p.firstMu.Unlock()
	if first != nil {
		first.Close()
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
	if first != nil && off != p.seg {
		first.Close()
		first = nil
	}
	return first
}

// rangeGet fills p with the bytes at off of the size-byte object at u with
// one Range request guarded by If-Range, and returns how many arrived. An
// answer that is not these bytes of the same object fails with ErrRestart.
func rangeGet(f *fetcher, u, validator string, size int64, p []byte, off int64) (int, error) {
	resp, err := f.get(u, fmt.Sprintf("bytes=%d-%d", off, off+int64(len(p))-1), validator)
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
