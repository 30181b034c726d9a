package qcow2

import (
	"io"
	"sync/atomic"

	"github.com/goipa/goipa/internal/directio"
)

// source counts what Convert asks of the underlying io.ReaderAt: with an
// HTTP Range reader every call is a round trip, so Stats reports both.
type source struct {
	r     io.ReaderAt
	bytes atomic.Int64
	reads atomic.Int64
}

func (s *source) readFull(p []byte, off int64) error {
	s.reads.Add(1)
	s.bytes.Add(int64(len(p)))
	return readFull(s.r, p, off)
}

// meter tracks the bytes of buffers Convert holds; buffers are allocated
// lazily and reused, so the high-water mark is what a run needed.
type meter struct {
	cur, peak atomic.Int64
}

func (m *meter) alloc(n int64) []byte {
	v := m.cur.Add(n)
	for {
		p := m.peak.Load()
		if v <= p || m.peak.CompareAndSwap(p, v) {
			break
		}
	}
	// Aligned for O_DIRECT, so a sink may pass them to the kernel unchanged.
	return directio.Buffer(int(n))
}
