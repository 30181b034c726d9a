package qcow2

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

// FuzzOpen feeds arbitrary bytes to Open and, when they pass, to Convert's
// walk and decoding (run serially): neither may panic, hang or allocate
// without bound, and every failure must be a sentinel error. Seeds: a
// 512-byte-cluster crafted image and small qemu-img images in
// testdata/fuzz/FuzzOpen. Run it with
// -fuzzminimizetime=5s: minimizing a multi-KiB input otherwise stalls the
// fuzzer for a minute each time it finds new coverage.
func FuzzOpen(f *testing.F) {
	// Seeds stay small: the fuzzer minimizes every new input for up to a
	// minute, which stalls it on inputs of tens of KiB.
	f.Add(craft(9, false).b)
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := Open(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("Open: %v is not a sentinel error", err)
			}
			return
		}
		if img.Size() > 64<<20 {
			return // the output, not the reader, would make the run slow
		}
		if err := convertSerially(img, Options{MaxMemory: 256 << 10, ChunkSize: 16 << 10}); err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("Convert: %v does not wrap ErrInvalid", err)
		}
	})
}

// convertSerially runs Convert's walk, chunking and chunk filling on one
// goroutine. The fuzzer needs coverage that does not depend on goroutine
// scheduling: with Convert's pipeline every input looks new, and it spends
// its time minimizing instead of fuzzing.
func convertSerially(img *Image, opts Options) error {
	cfg, err := img.plan(opts)
	if err != nil {
		return err
	}
	var mem meter
	src := &source{r: img.r}
	w := &worker{img: img, cfg: cfg, src: src, mem: &mem, dec: decompressor{kind: img.info.Compression}}
	defer w.dec.close()
	buf := mem.alloc(cfg.chunk)
	b := &builder{img: img, cfg: cfg, dispatch: func(c *chunk) error {
		c.buf = buf
		return w.fill(c)
	}}
	walk := &walker{img: img, src: src, maxTables: cfg.tables, emit: b.add}
	if err := walk.run(context.Background(), &mem); err != nil {
		return err
	}
	return b.flush()
}

func isSentinel(err error) bool {
	for _, s := range []error{ErrNotQcow2, ErrUnsupported, ErrBackingFile, ErrExternalDataFile, ErrEncrypted, ErrMarkedCorrupt, ErrInvalid} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}
