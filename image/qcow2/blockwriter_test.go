package qcow2

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// lazySink takes Convert's buffers as a disk writer with writes in flight
// does: it copies a block only when it releases it, a little later and on
// another goroutine, so a buffer Convert reused before done would show as
// wrong bytes.
type lazySink struct {
	b      []byte
	wg     sync.WaitGroup
	direct atomic.Int64 // writes that came through WriteAt
}

func (s *lazySink) WriteAt(p []byte, off int64) (int, error) {
	s.direct.Add(1)
	return copy(s.b[off:], p), nil
}

func (s *lazySink) WriteBlockAt(p []byte, off int64, done func()) error {
	s.wg.Add(1)
	time.AfterFunc(time.Millisecond, func() {
		copy(s.b[off:], p)
		done()
		s.wg.Done()
	})
	return nil
}

func TestConvertBlockWriterAt(t *testing.T) {
	dir := t.TempDir()
	raw := filepath.Join(dir, "disk.raw")
	writeRaw(t, raw, rawSize, rawLayout)
	for _, args := range [][]string{nil, {"-c"}} {
		img := filepath.Join(dir, "disk.qcow2")
		qemu(t, "qemu-img", append(append([]string{"convert", "-f", "raw", "-O", "qcow2"}, args...), raw, img)...)
		q := openFile(t, img)
		sink := &lazySink{b: make([]byte, q.Size())}
		// Two chunk buffers, so each is reused as soon as it may be.
		if _, err := q.Convert(context.Background(), sink, Options{MaxMemory: 1, ChunkSize: 256 << 10}); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		sink.wg.Wait()
		want, err := os.ReadFile(raw)
		if err != nil {
			t.Fatal(err)
		}
		if i := firstDiff(sink.b, want); i >= 0 || sink.direct.Load() != 0 {
			t.Errorf("%v: converted disk differs at %d; %d writes bypassed WriteBlockAt", args, i, sink.direct.Load())
		}
		if bytes.Equal(sink.b, make([]byte, len(sink.b))) {
			t.Errorf("%v: nothing written", args)
		}
	}
}
