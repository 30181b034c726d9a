// Package logs keeps the agent's own recent log lines in memory and packs
// them, with the kernel log and system listings, into the base64 tar.gz that
// log.collect_system_logs returns and the conductor stores on failure.
package logs

import (
	"io"
	"sync"
)

// Ring is an io.Writer that keeps the last Size bytes written, cut at line
// boundaries, so a long-running ramdisk never grows its log without bound.
type Ring struct {
	mu   sync.Mutex
	size int
	buf  []byte
	out  io.Writer
}

// NewRing keeps the last size bytes and copies every write to out (the
// console) when out is not nil.
func NewRing(size int, out io.Writer) *Ring {
	return &Ring{size: size, out: out}
}

// Write implements io.Writer.
func (r *Ring) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.buf = append(r.buf, p...)
	if over := len(r.buf) - r.size; over > 0 {
		cut := over
		for cut < len(r.buf) && r.buf[cut-1] != '\n' {
			cut++
		}
		r.buf = append(r.buf[:0], r.buf[cut:]...)
	}
	r.mu.Unlock()
	if r.out != nil {
		// The console may be slow or gone; the ring is what counts.
		_, _ = r.out.Write(p)
	}
	return len(p), nil
}

// Bytes returns a copy of the kept log.
func (r *Ring) Bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]byte(nil), r.buf...)
}
