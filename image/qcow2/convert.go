package qcow2

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime"
	"sync/atomic"

	"golang.org/x/sync/errgroup"
)

// Options tunes Convert. The zero value is a good default.
type Options struct {
	// Workers is the number of goroutines reading and decompressing chunks
	// concurrently; with an HTTP source it is also the number of range
	// requests in flight. Default max(4, GOMAXPROCS).
	Workers int
	// MaxMemory is the budget in bytes for metadata tables, chunk buffers
	// and decompression scratch space; it bounds the read-ahead. It cannot
	// go below two chunks, one L2 table and one scratch buffer per worker.
	// Default 64 MiB.
	MaxMemory int64
	// ChunkSize is the largest single write, and the largest read of
	// contiguous data. It is rounded up to the write granularity and to
	// two clusters. Default 4 MiB.
	ChunkSize int64
	// Tables caps how many L2 tables are loaded at once; 0 derives it from
	// MaxMemory. A source read as one sequential stream wants 1: each L2
	// table is then read just before the data it maps, as qemu-img
	// convert lays images out, so reads follow the file's order.
	Tables int
	// Align is the alignment of every write offset and length (except a
	// final write that ends at the virtual size): zero or unallocated
	// parts of an aligned block that also holds data are written as
	// zeros. It must be a power of two; 4096 suits O_DIRECT on 512e and
	// 4Kn disks. Default 4096.
	Align int64
}

// Stats reports what Convert did.
type Stats struct {
	SourceBytes int64 // bytes read from the source, metadata included
	SourceReads int64 // ReadAt calls made on the source
	DataBytes   int64 // bytes written to the sink
	ZeroBytes   int64 // guest bytes skipped: unallocated, zero, or all-zero data
	PeakBuffer  int64 // most bytes of table, chunk and scratch buffers held at once
}

const (
	defaultMaxMemory = 64 << 20
	defaultChunkSize = 4 << 20
	defaultAlign     = 4096
)

// Convert writes the guest disk to dst, which must read as zeros wherever
// nothing is written (a fresh sparse file, a discarded or zeroed device):
// only blocks holding non-zero data are written, in increasing offset order,
// one WriteAt at a time, each at most the (rounded) ChunkSize and aligned to
// Align.
// Metadata errors are found as the walk reaches them, so on error dst may
// already hold part of the disk.
func (img *Image) Convert(ctx context.Context, dst io.WriterAt, opts Options) (Stats, error) {
	cfg, err := img.plan(opts)
	if err != nil {
		return Stats{}, err
	}
	src := &source{r: img.r}
	var mem meter
	var written int64

	g, gctx := errgroup.WithContext(ctx)
	jobs := make(chan *chunk)
	order := make(chan *chunk, cfg.buffers)
	free := make(chan []byte, cfg.buffers) // a nil entry is a buffer not yet allocated
	for range cfg.buffers {
		free <- nil
	}

	b := &builder{img: img, cfg: cfg, dispatch: func(c *chunk) error {
		select {
		case c.buf = <-free:
		case <-gctx.Done():
			return gctx.Err()
		}
		if c.buf == nil {
			c.buf = mem.alloc(cfg.chunk)
		}
		c.done = make(chan struct{})
		order <- c // never blocks: at most cfg.buffers chunks are out
		select {
		case jobs <- c:
			return nil
		case <-gctx.Done():
			c.err = gctx.Err()
			close(c.done) // the writer may be waiting for it
			return c.err
		}
	}}
	g.Go(func() error {
		defer close(order)
		defer close(jobs)
		w := &walker{img: img, src: src, maxTables: cfg.tables, emit: b.add}
		if err := w.run(gctx, &mem); err != nil {
			return err
		}
		return b.flush()
	})
	for range cfg.workers {
		g.Go(func() error {
			w := &worker{img: img, cfg: cfg, src: src, mem: &mem, dec: decompressor{kind: img.info.Compression}}
			defer w.dec.close()
			for c := range jobs {
				c.err = w.fill(c)
				close(c.done)
				if c.err != nil {
					return c.err
				}
			}
			return nil
		})
	}
	bw, _ := dst.(BlockWriterAt)
	g.Go(func() error {
		for c := range order {
			select {
			case <-c.done:
			case <-gctx.Done():
				return gctx.Err()
			}
			if c.err != nil {
				return c.err
			}
			if bw != nil {
				if err := writeBlocks(bw, c, free); err != nil {
					return err
				}
				written += c.data()
				continue
			}
			for _, r := range c.runs {
				n, err := dst.WriteAt(c.buf[r.from:r.to], c.off+r.from)
				written += int64(n)
				if err == nil && int64(n) < r.to-r.from {
					err = io.ErrShortWrite
				}
				if err != nil {
					return fmt.Errorf("qcow2: writing %d bytes at %d: %w", r.to-r.from, c.off+r.from, err)
				}
			}
			free <- c.buf
		}
		return nil
	})
	err = g.Wait()
	if err == nil {
		err = ctx.Err()
	}
	return Stats{
		SourceBytes: src.bytes.Load(),
		SourceReads: src.reads.Load(),
		DataBytes:   written,
		ZeroBytes:   img.info.VirtualSize - written,
		PeakBuffer:  mem.peak.Load(),
	}, err
}

// BlockWriterAt is a sink that may keep writing from a buffer after
// WriteBlockAt returns, until it calls done (a disk writer queueing the
// buffer itself for the device). Convert then writes its chunk buffers,
// which are 4 KiB-aligned, without a copy, and reuses each once every
// write from it is done.
type BlockWriterAt interface {
	WriteBlockAt(p []byte, off int64, done func()) error
}

// writeBlocks writes c's runs to bw and returns c's buffer to free once
// they are all written.
func writeBlocks(bw BlockWriterAt, c *chunk, free chan<- []byte) error {
	var pending atomic.Int32
	pending.Store(int32(len(c.runs)) + 1)
	release := func() {
		if pending.Add(-1) == 0 {
			free <- c.buf // never blocks: the buffer came from free
		}
	}
	defer release()
	for _, r := range c.runs {
		if err := bw.WriteBlockAt(c.buf[r.from:r.to], c.off+r.from, release); err != nil {
			return fmt.Errorf("qcow2: writing %d bytes at %d: %w", r.to-r.from, c.off+r.from, err)
		}
	}
	return nil
}

// data is the bytes of c's non-zero runs.
func (c *chunk) data() int64 {
	var n int64
	for _, r := range c.runs {
		n += r.to - r.from
	}
	return n
}

// config is Options resolved against the image geometry.
type config struct {
	workers int
	align   int64 // Options.Align: the zero-skipping and write alignment
	gran    int64 // chunk granularity: a multiple of the (sub)cluster size and of align
	chunk   int64 // chunk buffer size, a multiple of gran
	scratch int64 // per-worker buffer for compressed input
	tables  int   // L2 tables held at once
	buffers int   // chunk buffers
}

func (img *Image) plan(o Options) (config, error) {
	cs := img.info.ClusterSize
	unit := cs
	if img.info.ExtendedL2 {
		unit = cs / subclusters
	}
	align := o.Align
	if align == 0 {
		align = defaultAlign
	}
	if align < 0 || align&(align-1) != 0 || align > 1<<30 {
		return config{}, fmt.Errorf("qcow2: Options.Align %d is not a power of two", o.Align)
	}
	if o.ChunkSize < 0 || o.MaxMemory < 0 || o.Workers < 0 {
		return config{}, fmt.Errorf("qcow2: negative Options %+v", o)
	}
	c := config{workers: o.Workers, align: align, gran: max(unit, align)}
	if c.workers == 0 {
		c.workers = max(4, runtime.GOMAXPROCS(0))
	}
	chunk := o.ChunkSize
	if chunk == 0 {
		chunk = defaultChunkSize
	}
	chunk = min(chunk, 1<<30)
	c.chunk = (max(chunk, c.gran, 2*cs) + c.gran - 1) / c.gran * c.gran
	// A compressed cluster takes at most two clusters of input.
	c.scratch = max(2*cs, c.chunk/2)
	budget := o.MaxMemory
	if budget == 0 {
		budget = defaultMaxMemory
	}
	c.tables = int(max(1, budget/8/cs))
	if o.Tables > 0 {
		c.tables = min(c.tables, o.Tables)
	}
	// Scratch space is budgeted even though only images with compressed
	// clusters allocate it: finding out would mean walking every L2 table.
	rest := budget - int64(c.tables)*cs - min(img.l1Entries, l1Window)*8 - int64(c.workers)*c.scratch
	c.buffers = int(max(2, rest/c.chunk))
	return c, nil
}

// chunk is one aligned, guest-contiguous range of at most cfg.chunk bytes,
// filled by a worker and written by the writer.
type chunk struct {
	off    int64   // guest offset of buf[0]
	n      int64   // bytes of buf in use
	pieces []piece // data sources in guest order; the gaps read as zeros
	buf    []byte
	runs   []run // non-zero parts of buf, set by the worker
	err    error
	done   chan struct{}
}

type run struct{ from, to int64 }

// builder groups the walker's pieces into chunks. A chunk never crosses a
// multiple of cfg.chunk, and ends where a whole granule holds no data.
type builder struct {
	img      *Image
	cfg      config
	dispatch func(*chunk) error
	cur      *chunk
	limit    int64 // guest end of the current chunk's window
	dataEnd  int64 // guest end of the last piece added
}

func (b *builder) add(p piece) error {
	g := b.cfg.gran
	for p.n > 0 {
		if b.cur != nil && (p.guest >= b.limit || p.guest > roundUp(b.dataEnd, g)) {
			if err := b.flush(); err != nil {
				return err
			}
		}
		if b.cur == nil {
			b.cur = &chunk{off: p.guest / g * g}
			b.limit = min(p.guest/b.cfg.chunk*b.cfg.chunk+b.cfg.chunk, b.img.info.VirtualSize)
		}
		q := p
		q.n = min(p.n, b.limit-p.guest) // only plain data spans a chunk boundary
		ps := b.cur.pieces
		if last := len(ps) - 1; last >= 0 && q.csize == 0 && ps[last].csize == 0 &&
			ps[last].guest+ps[last].n == q.guest && ps[last].host+ps[last].n == q.host {
			ps[last].n += q.n
		} else {
			b.cur.pieces = append(ps, q)
		}
		b.dataEnd = q.guest + q.n
		p.guest += q.n
		p.host += q.n
		p.n -= q.n
	}
	return nil
}

func (b *builder) flush() error {
	c := b.cur
	if c == nil {
		return nil
	}
	b.cur = nil
	c.n = min(roundUp(b.dataEnd, b.cfg.gran), b.limit) - c.off
	return b.dispatch(c)
}

func roundUp(x, to int64) int64 { return (x + to - 1) / to * to }

// worker fills chunks: it reads plain data straight into the chunk buffer,
// reads runs of nearby compressed clusters with one request into its
// scratch buffer and inflates them in place, zeroes the gaps, and finds the
// all-zero blocks the writer can skip.
type worker struct {
	img     *Image
	cfg     config
	src     *source
	mem     *meter
	dec     decompressor
	scratch []byte
	tail    []byte // a whole cluster, for a compressed cluster cut by the end of the disk
}

// compressedGap is the most unused bytes read between two compressed
// clusters to save a request: cheaper than a round trip at LAN speeds.
const compressedGap = 64 << 10

func (w *worker) fill(c *chunk) error {
	buf := c.buf[:c.n]
	pos := int64(0) // buf[:pos] is filled
	for i := 0; i < len(c.pieces); {
		p := c.pieces[i]
		if p.csize == 0 {
			rel := p.guest - c.off
			clear(buf[pos:rel])
			if err := w.readData(buf[rel:rel+p.n], p.host); err != nil {
				return err
			}
			pos = rel + p.n
			i++
			continue
		}
		if w.scratch == nil {
			w.scratch = w.mem.alloc(w.cfg.scratch)
		}
		start, end := p.host, p.host+p.csize
		j := i + 1
		for ; j < len(c.pieces); j++ {
			q := c.pieces[j]
			if q.csize == 0 || q.host < start || q.host > end+compressedGap || max(end, q.host+q.csize)-start > int64(len(w.scratch)) {
				break
			}
			end = max(end, q.host+q.csize)
		}
		in := w.scratch[:end-start]
		if err := w.src.readFull(in, start); err != nil {
			return err
		}
		for _, q := range c.pieces[i:j] {
			rel := q.guest - c.off
			clear(buf[pos:rel])
			if err := w.inflate(buf[rel:rel+q.n], in[q.host-start:q.host-start+q.csize]); err != nil {
				return fmt.Errorf("%w (guest offset %d)", err, q.guest)
			}
			pos = rel + q.n
		}
		i = j
	}
	clear(buf[pos:])
	c.runs = nonZeroRuns(buf, w.cfg.align)
	return nil
}

// readData reads plain data, zero-filling what lies past the end of the
// file (checkData made sure the start does not).
func (w *worker) readData(p []byte, host int64) error {
	n := min(int64(len(p)), w.img.fileSize-host)
	clear(p[n:])
	return w.src.readFull(p[:n], host)
}

func (w *worker) inflate(dst, src []byte) error {
	cs := w.img.info.ClusterSize
	if int64(len(dst)) == cs {
		return w.dec.cluster(dst, src)
	}
	if w.tail == nil {
		w.tail = w.mem.alloc(cs)
	}
	if err := w.dec.cluster(w.tail, src); err != nil {
		return err
	}
	copy(dst, w.tail)
	return nil
}

var zeroGranule [64 << 10]byte

func isZero(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), len(zeroGranule))
		if !bytes.Equal(b[:n], zeroGranule[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}

// nonZeroRuns returns the maximal runs of align-sized blocks of buf holding
// a non-zero byte; the last block may be short.
func nonZeroRuns(buf []byte, align int64) []run {
	var runs []run
	for at := int64(0); at < int64(len(buf)); at += align {
		end := min(at+align, int64(len(buf)))
		if isZero(buf[at:end]) {
			continue
		}
		if k := len(runs) - 1; k >= 0 && runs[k].to == at {
			runs[k].to = end
		} else {
			runs = append(runs, run{at, end})
		}
	}
	return runs
}
