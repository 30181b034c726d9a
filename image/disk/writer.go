package disk

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/goipa/goipa/internal/directio"
)

const (
	// DefaultBlockSize is the size of each device write.
	DefaultBlockSize = 4 << 20
	minBlockSize     = 1 << 20
	// inflightBytes bounds the bytes of block writes in flight at once:
	// three blocks of the default size, more of smaller ones, so sparse
	// images written in small blocks keep as many requests queued as
	// qemu-img -W does.
	inflightBytes = 12 << 20
	maxInflight   = 8
	// zeroGrain is the granularity of zero detection inside a block: runs of
	// non-zero grains are written with one call, zero grains are skipped.
	zeroGrain = 64 << 10
	// skipAlign aligns the blocks that start or end at a skipped gap: a
	// multiple of every sector size, as O_DIRECT needs.
	skipAlign = 4096
)

// WriterOptions configures Disk.Writer.
type WriterOptions struct {
	// BlockSize is the size of each device write, a multiple of 1 MiB of at
	// least 1 MiB; 0 means DefaultBlockSize.
	BlockSize int
	// ImageSize is the image size when known in advance (Content-Length,
	// qcow2 virtual size); an image larger than the device is refused before
	// anything is written. 0 means unknown.
	ImageSize int64
}

// Stats describes a finished write.
type Stats struct {
	Image    int64 // image bytes accepted (the highest offset reached)
	Written  int64 // bytes written to the device
	Skipped  int64 // zero bytes not written because the device reads zeros
	Duration time.Duration
}

// Writer streams an image onto the device from offset 0. Data is collected
// into aligned blocks which a background goroutine writes while the caller
// fills the next one. After a successful PrepareZero, all-zero 64 KiB runs
// are skipped instead of written. Finish must be called exactly once, also
// after an error: it writes the tail, stops the goroutine and flushes.
type Writer struct {
	d     *Disk
	ctx   context.Context
	bs    int
	start time.Time

	cur  []byte // block being filled, nil until needed
	n    int    // bytes in cur
	base int64  // device offset of cur[0]

	free  chan []byte
	queue chan block
	done  chan struct{}

	mu       sync.Mutex
	err      error
	written  int64
	skipped  int64
	finished bool
}

type block struct {
	buf  []byte
	off  int64
	n    int
	tail bool   // the last block; n may be unaligned
	done func() // the caller's buffer (WriteBlock) is no longer used
}

// Writer returns a streaming writer for the device.
func (d *Disk) Writer(ctx context.Context, opts WriterOptions) (*Writer, error) {
	bs := opts.BlockSize
	if bs == 0 {
		bs = DefaultBlockSize
	}
	if bs < minBlockSize || bs%minBlockSize != 0 {
		return nil, fmt.Errorf("block size %d: must be a multiple of 1 MiB", bs)
	}
	if err := d.CheckFits(opts.ImageSize); err != nil {
		return nil, err
	}
	inflight := min(max(inflightBytes/bs, 1), maxInflight)
	w := &Writer{
		d: d, ctx: ctx, bs: bs, start: time.Now(),
		free:  make(chan []byte, inflight+1),
		queue: make(chan block, inflight),
		done:  make(chan struct{}),
	}
	// The caller fills one buffer while up to inflight others are written:
	// several O_DIRECT writes in flight keep the device's queue busy, as
	// qemu-img -W does. A nil entry is a buffer not allocated yet: a
	// caller that hands its own buffers over (WriteBlock) never needs
	// them, and heap the agent does not use leaves the garbage collector
	// room under its memory limit.
	for range inflight + 1 {
		w.free <- nil
	}
	var wg sync.WaitGroup
	for range inflight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.run()
		}()
	}
	go func() {
		wg.Wait()
		close(w.done)
	}()
	return w, nil
}

// Write appends p to the image.
func (w *Writer) Write(p []byte) (int, error) {
	if err := w.check(int64(len(p))); err != nil {
		return 0, err
	}
	total := 0
	for len(p) > 0 {
		if w.cur == nil {
			w.cur = w.buffer()
		}
		k := copy(w.cur[w.n:], p)
		w.n += k
		p = p[k:]
		total += k
		if w.n == w.bs {
			if err := w.submit(false); err != nil {
				return total, err
			}
		}
	}
	return total, nil
}

// WriteBlock appends p to the image without copying it when it can: p
// whole 4 KiB sectors in a 4 KiB-aligned buffer, at a 4 KiB-aligned
// position between blocks. It then queues p itself for writing and calls
// done, from another goroutine, once the write is over; p must not change
// until then. Otherwise p is copied as by Write and done is called before
// WriteBlock returns.
func (w *Writer) WriteBlock(p []byte, done func()) error {
	if w.n != 0 || w.base%skipAlign != 0 || len(p)%skipAlign != 0 || !aligned(p) {
		_, err := w.Write(p)
		done()
		return err
	}
	if err := w.check(int64(len(p))); err != nil {
		done()
		return err
	}
	if err := w.ctx.Err(); err != nil {
		done()
		return err
	}
	w.queue <- block{buf: p, off: w.base, n: len(p), done: done}
	w.base += int64(len(p))
	return nil
}

// WriteBlockAt is WriteAt for a buffer the writer may keep, as with
// WriteBlock: done is called once p is no longer used.
func (w *Writer) WriteBlockAt(p []byte, off int64, done func()) error {
	pos := w.base + int64(w.n)
	if off < pos {
		done()
		return fmt.Errorf("%w: offset %d, position %d", ErrOutOfOrder, off, pos)
	}
	if err := w.check(off - pos + int64(len(p))); err != nil {
		done()
		return err
	}
	if err := w.zeroTo(off); err != nil {
		done()
		return err
	}
	return w.WriteBlock(p, done)
}

// WriteAt writes p at image offset off, which must not be before the end of
// earlier writes; the gap in between is zeros (skipped when the device reads
// zeros already). Unlike io.WriterAt, offsets must not decrease: this is for
// sparse sources such as qcow2 that emit non-zero runs in order.
func (w *Writer) WriteAt(p []byte, off int64) (int, error) {
	pos := w.base + int64(w.n)
	if off < pos {
		return 0, fmt.Errorf("%w: offset %d, position %d", ErrOutOfOrder, off, pos)
	}
	if err := w.check(off - pos + int64(len(p))); err != nil {
		return 0, err
	}
	if err := w.zeroTo(off); err != nil {
		return 0, err
	}
	return w.Write(p)
}

// check fails when the writer is finished or broken, or n more bytes would
// not fit on the device.
func (w *Writer) check(n int64) error {
	if w.finished {
		return errors.New("write after Finish")
	}
	if err := w.failed(); err != nil {
		return err
	}
	if end := w.base + int64(w.n) + n; end > w.d.dev.Size {
		return fmt.Errorf("%w: write up to offset %d, %s has %d bytes", ErrTooSmall, end, w.d.dev.Path, w.d.dev.Size)
	}
	return nil
}

// zeroTo advances the position to off with zeros. When the device is known
// to read zeros, a gap of at least zeroGrain ends the block being filled
// (padded to skipAlign) and is skipped without I/O, so a sparse image costs
// neither zero-filling nor scanning its holes.
func (w *Writer) zeroTo(off int64) error {
	for gap := off - (w.base + int64(w.n)); gap > 0; gap = off - (w.base + int64(w.n)) {
		if w.d.zeroed && gap >= zeroGrain {
			if pad := (skipAlign - w.n%skipAlign) % skipAlign; w.n > 0 {
				clear(w.cur[w.n : w.n+pad])
				w.n += pad
				if err := w.submit(false); err != nil {
					return err
				}
				continue
			}
			whole := gap / skipAlign * skipAlign
			w.base += whole
			w.mu.Lock()
			w.skipped += whole
			w.mu.Unlock()
			continue
		}
		if w.cur == nil {
			w.cur = w.buffer()
		}
		k := int(min(gap, int64(w.bs-w.n)))
		clear(w.cur[w.n : w.n+k])
		w.n += k
		if w.n == w.bs {
			if err := w.submit(false); err != nil {
				return err
			}
		}
	}
	return nil
}

// buffer returns a free block buffer, allocated on first use.
func (w *Writer) buffer() []byte {
	if b := <-w.free; b != nil {
		return b
	}
	return directio.Buffer(w.bs)
}

func (w *Writer) submit(tail bool) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	w.queue <- block{buf: w.cur, off: w.base, n: w.n, tail: tail}
	w.base += int64(w.n)
	w.cur, w.n = nil, 0
	return nil
}

// Finish writes the buffered tail, waits for all writes, then fsyncs and
// flushes the device's buffer cache.
func (w *Writer) Finish() (Stats, error) {
	if w.finished {
		return w.Stats(), errors.New("Finish called twice")
	}
	image := w.base + int64(w.n)
	var err error
	if w.n > 0 && w.failed() == nil {
		err = w.submit(true)
	}
	w.finished = true
	close(w.queue)
	<-w.done
	if err == nil {
		err = w.failed()
	}
	if err == nil {
		err = w.d.dev.Flush()
	}
	st := w.Stats()
	st.Image = image
	st.Duration = time.Since(w.start)
	if err != nil {
		return st, err
	}
	w.d.log.Info("image written", "bytes", st.Image, "written", st.Written,
		"skipped", st.Skipped, "duration", st.Duration.Round(time.Millisecond),
		"MBps", float64(st.Image)/1e6/st.Duration.Seconds())
	return st, nil
}

// Stats returns the counters so far (final after Finish).
func (w *Writer) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return Stats{Image: w.base + int64(w.n), Written: w.written, Skipped: w.skipped, Duration: time.Since(w.start)}
}

func (w *Writer) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *Writer) run() {
	for b := range w.queue {
		if w.failed() == nil {
			err := w.ctx.Err()
			if err == nil {
				err = w.writeBlock(b)
			}
			if err != nil {
				w.mu.Lock()
				w.err = err
				w.mu.Unlock()
			}
		}
		if b.done != nil {
			b.done()
		} else {
			w.free <- b.buf
		}
	}
}

func (w *Writer) writeBlock(b block) error {
	d := w.d
	n := b.n
	if b.tail && n%d.dev.LSS != 0 {
		// O_DIRECT writes whole sectors: merge the image's last bytes with
		// what the device holds after them.
		sector := n / d.dev.LSS * d.dev.LSS
		old, err := d.readAt(b.off+int64(sector), d.dev.LSS)
		if err != nil {
			return err
		}
		copy(b.buf[n:sector+d.dev.LSS], old[n-sector:])
		n = sector + d.dev.LSS
	}
	if !d.zeroed {
		return w.put(b.buf[:n], b.off)
	}
	for i := 0; i < n; {
		end := min(i+zeroGrain, n)
		if isZero(b.buf[i:end]) {
			w.mu.Lock()
			w.skipped += int64(end - i)
			w.mu.Unlock()
			i = end
			continue
		}
		for end < n {
			next := min(end+zeroGrain, n)
			if isZero(b.buf[end:next]) {
				break
			}
			end = next
		}
		if err := w.put(b.buf[i:end], b.off+int64(i)); err != nil {
			return err
		}
		i = end
	}
	return nil
}

func (w *Writer) put(p []byte, off int64) error {
	if _, err := w.d.dev.File.WriteAt(p, off); err != nil {
		return fmt.Errorf("write %s at %d: %w", w.d.dev.Path, off, err)
	}
	w.mu.Lock()
	w.written += int64(len(p))
	w.mu.Unlock()
	return nil
}
