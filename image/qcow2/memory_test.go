package qcow2

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
)

// patternSink checks that every written byte is the pattern qemu-io wrote
// there, and counts them.
type patternSink struct {
	t       *testing.T
	pattern func(off int64) byte
	written int64
}

func (s *patternSink) WriteAt(p []byte, off int64) (int, error) {
	for i, b := range p {
		if want := s.pattern(off + int64(i)); b != want {
			s.t.Fatalf("byte at %d is %#x, want %#x", off+int64(i), b, want)
		}
	}
	s.written += int64(len(p))
	return len(p), nil
}

// TestMemoryBounded converts a 64 GiB disk with data scattered over it and
// checks that the buffers stay within MaxMemory and the Go heap agrees.
func TestMemoryBounded(t *testing.T) {
	const (
		vsize  = 64 << 30
		writes = 48
		span   = vsize / writes &^ 4095 // 4 KiB aligned, not cluster aligned
		size   = 1<<20 + 64<<10
	)
	img := filepath.Join(t.TempDir(), "big.qcow2")
	qemu(t, "qemu-img", "create", "-q", "-f", "qcow2", img, "64G")
	args := []string{"-f", "qcow2"}
	for i := range int64(writes) {
		// Unaligned starts so writes straddle clusters and L2 tables.
		args = append(args, "-c", fmt.Sprintf("write -P %d %d %d", i+1, i*span+i*4096, size))
	}
	qemu(t, "qemu-io", append(args, img)...)

	q := openFile(t, img)
	sink := &patternSink{t: t, pattern: func(off int64) byte {
		i := off / span
		if start := i*span + i*4096; off >= start && off < start+size {
			return byte(i + 1)
		}
		return 0
	}}
	const budget = 8 << 20
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	stats, err := q.Convert(context.Background(), sink, Options{MaxMemory: budget, ChunkSize: 1 << 20, Workers: 2})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(writes * size); sink.written != want || stats.DataBytes != want {
		t.Errorf("wrote %d bytes (stats %d), want %d", sink.written, stats.DataBytes, want)
	}
	if stats.PeakBuffer > budget {
		t.Errorf("peak buffer %d bytes, budget %d", stats.PeakBuffer, budget)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 2*budget {
		t.Errorf("Convert allocated %d bytes of heap for a %d budget", alloc, budget)
	}
	// One L1 read, one read per L2 table (a write touches at most two),
	// one per data run (split at most at chunk and L2 boundaries).
	if stats.SourceReads > 1+2*writes+3*writes {
		t.Errorf("%d reads from the source", stats.SourceReads)
	}
	t.Logf("%+v", stats)
}
