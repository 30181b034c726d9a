package qcow2

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"testing"
	"time"

	"github.com/klauspost/compress/flate"
)

// crafted is a hand-built image: header in cluster 0, L1 in cluster 1, one
// L2 table in cluster 2, a data cluster in cluster 3 and a compressed
// cluster in cluster 4. Guest cluster 0 is data (0xaa), 1 compressed (0x5c
// and a counter), 2 zero-flagged, 3 unallocated.
type crafted struct {
	b     []byte
	cs    int64
	entry int64 // L2 entry size
	ext   bool
}

const craftedClusters = 4

func newCrafted(t testing.TB, ext bool) *crafted {
	t.Helper()
	if ext {
		return craft(14, true)
	}
	return craft(12, false)
}

func craft(cb uint32, ext bool) *crafted {
	c := &crafted{cs: 1 << cb, entry: 8, ext: ext}
	if ext {
		c.entry = 16
	}
	cs := c.cs
	c.b = make([]byte, 5*cs)
	copy(c.b, magic)
	c.put32(4, 3)
	c.put32(20, cb)
	c.put64(24, uint64(craftedClusters*cs))
	c.put32(36, 1)
	c.put64(40, uint64(cs))
	c.put64(48, 0) // refcounts are never read
	c.put32(96, 4)
	c.put32(100, 112)
	if ext {
		c.put64(72, incompatExtendedL2)
	}
	c.put64(cs, uint64(2*cs)|1<<63)

	copy(c.b[3*cs:4*cs], bytes.Repeat([]byte{0xaa}, int(cs)))
	c.setL2(0, uint64(3*cs)|1<<63, 0xffffffff)

	var z bytes.Buffer
	w, _ := flate.NewWriter(&z, flate.BestCompression)
	w.Write(c.want()[cs : 2*cs])
	w.Close()
	copy(c.b[4*cs:], z.Bytes())
	x := 62 - (cb - 8)
	sectors := uint64(z.Len()+511)/512 - 1
	c.setL2(1, uint64(4*cs)|sectors<<x|flagCompressed, 0)

	if ext {
		c.setL2(2, 0, 0xffffffff<<32)
	} else {
		c.setL2(2, flagZero, 0)
	}
	return c
}

func (c *crafted) put32(off int64, v uint32) { binary.BigEndian.PutUint32(c.b[off:], v) }
func (c *crafted) put64(off int64, v uint64) { binary.BigEndian.PutUint64(c.b[off:], v) }

func (c *crafted) setL2(i int64, e, bitmap uint64) {
	c.put64(2*c.cs+i*c.entry, e)
	if c.ext {
		c.put64(2*c.cs+i*c.entry+8, bitmap)
	}
}

// want is the guest disk the crafted image holds.
func (c *crafted) want() []byte {
	d := make([]byte, craftedClusters*c.cs)
	copy(d, bytes.Repeat([]byte{0xaa}, int(c.cs)))
	for i := c.cs; i < 2*c.cs; i++ {
		d[i] = 0x5c + byte(i/512)
	}
	return d
}

// memSink is a guest disk in memory that starts out zero.
type memSink struct{ b []byte }

func (m *memSink) WriteAt(p []byte, off int64) (int, error) {
	return copy(m.b[off:], p), nil
}

func TestCrafted(t *testing.T) {
	for _, ext := range []bool{false, true} {
		c := newCrafted(t, ext)
		img, err := Open(bytes.NewReader(c.b), int64(len(c.b)))
		if err != nil {
			t.Fatal(err)
		}
		sink := &memSink{make([]byte, img.Size())}
		stats, err := img.Convert(context.Background(), sink, Options{})
		if err != nil {
			t.Fatalf("ext=%v: %v", ext, err)
		}
		if !bytes.Equal(sink.b, c.want()) {
			t.Errorf("ext=%v: converted disk differs from the crafted one", ext)
		}
		if stats.DataBytes != 2*c.cs || stats.ZeroBytes != 2*c.cs {
			t.Errorf("ext=%v: stats %+v, want %d data and %d zero bytes", ext, stats, 2*c.cs, 2*c.cs)
		}
		// header + L1 + L2 + data + compressed: one read each.
		if stats.SourceReads != 4 {
			t.Errorf("ext=%v: %d reads, want 4", ext, stats.SourceReads)
		}
	}
}

func TestHostileHeader(t *testing.T) {
	tests := []struct {
		name   string
		ext    bool
		mutate func(c *crafted)
		want   error
	}{
		{"bad magic", false, func(c *crafted) { c.b[3] = 0xfc }, ErrNotQcow2},
		{"truncated to 3 bytes", false, func(c *crafted) { c.b = c.b[:3] }, ErrNotQcow2},
		{"truncated header", false, func(c *crafted) { c.b = c.b[:50] }, ErrInvalid},
		{"truncated v3 header", false, func(c *crafted) { c.b = c.b[:90] }, ErrInvalid},
		{"version 1", false, func(c *crafted) { c.put32(4, 1) }, ErrUnsupported},
		{"version 4", false, func(c *crafted) { c.put32(4, 4) }, ErrUnsupported},
		{"backing file", false, func(c *crafted) { c.put64(8, 512); c.put32(16, 4) }, ErrBackingFile},
		{"aes", false, func(c *crafted) { c.put32(32, 1) }, ErrEncrypted},
		{"luks", false, func(c *crafted) { c.put32(32, 2) }, ErrEncrypted},
		{"corrupt bit", false, func(c *crafted) { c.put64(72, incompatCorrupt) }, ErrMarkedCorrupt},
		{"external data bit", false, func(c *crafted) { c.put64(72, incompatDataFile) }, ErrExternalDataFile},
		{"unknown incompatible bit 5", false, func(c *crafted) { c.put64(72, 1<<5) }, ErrUnsupported},
		{"unknown incompatible bit 63", false, func(c *crafted) { c.put64(72, 1<<63|incompatDirty) }, ErrUnsupported},
		{"compression bit without type", false, func(c *crafted) { c.put64(72, incompatCompression) }, ErrInvalid},
		{"compression type without bit", false, func(c *crafted) { c.b[104] = 1 }, ErrInvalid},
		{"compression type 2", false, func(c *crafted) { c.put64(72, incompatCompression); c.b[104] = 2 }, ErrUnsupported},
		{"compression type past header_length", false, func(c *crafted) { c.put32(100, 104); c.put64(72, incompatCompression); c.b[104] = 1 }, ErrInvalid},
		{"cluster_bits 8", false, func(c *crafted) { c.put32(20, 8) }, ErrInvalid},
		{"cluster_bits 0", false, func(c *crafted) { c.put32(20, 0) }, ErrInvalid},
		{"cluster_bits 22", false, func(c *crafted) { c.put32(20, 22) }, ErrUnsupported},
		{"cluster_bits 2^32-1", false, func(c *crafted) { c.put32(20, math.MaxUint32) }, ErrUnsupported},
		{"extended L2 with 8 KiB clusters", false, func(c *crafted) { c.put64(72, incompatExtendedL2); c.put32(20, 13) }, ErrInvalid},
		{"header_length 100", false, func(c *crafted) { c.put32(100, 100) }, ErrInvalid},
		{"header_length 107", false, func(c *crafted) { c.put32(100, 107) }, ErrInvalid},
		{"header_length past cluster", false, func(c *crafted) { c.put32(100, 8192) }, ErrInvalid},
		{"header_length past EOF", false, func(c *crafted) { c.put32(100, 1<<31) }, ErrInvalid},
		{"refcount_order 7", false, func(c *crafted) { c.put32(96, 7) }, ErrInvalid},
		{"virtual size 2^63", false, func(c *crafted) { c.put64(24, 1<<63) }, ErrInvalid},
		{"virtual size 2^64-1", false, func(c *crafted) { c.put64(24, math.MaxUint64) }, ErrInvalid},
		{"virtual size beyond L1", false, func(c *crafted) { c.put64(24, 1<<40) }, ErrInvalid},
		{"L1 past qemu's limit", false, func(c *crafted) { c.put32(36, maxL1Bytes/8+1) }, ErrUnsupported},
		{"L1 size 2^32-1", false, func(c *crafted) { c.put32(36, math.MaxUint32) }, ErrUnsupported},
		{"L1 past EOF", false, func(c *crafted) {
			c.put64(24, 1<<42) // 2 Mi entries of 2 MiB each
			c.put32(36, 1<<21)
		}, ErrInvalid},
		{"L1 offset misaligned", false, func(c *crafted) { c.put64(40, 4096+512) }, ErrInvalid},
		{"L1 offset 0", false, func(c *crafted) { c.put64(40, 0) }, ErrInvalid},
		{"L1 offset past EOF", false, func(c *crafted) { c.put64(40, 1<<40) }, ErrInvalid},
		{"L1 offset overflows", false, func(c *crafted) { c.put64(40, math.MaxUint64&^4095) }, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCrafted(t, tt.ext)
			tt.mutate(c)
			start := time.Now()
			_, err := Open(bytes.NewReader(c.b), int64(len(c.b)))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open = %v, want %v", err, tt.want)
			}
			t.Log(err)
			if d := time.Since(start); d > time.Second {
				t.Errorf("Open took %v", d)
			}
		})
	}
}

func TestHostileMetadata(t *testing.T) {
	tests := []struct {
		name   string
		ext    bool
		mutate func(c *crafted)
	}{
		{"L2 table misaligned", false, func(c *crafted) { c.put64(c.cs, uint64(2*c.cs+512)) }},
		{"L2 table past EOF", false, func(c *crafted) { c.put64(c.cs, uint64(5*c.cs)) }},
		{"L2 table beyond 2^55", false, func(c *crafted) { c.put64(c.cs, 1<<55) }},
		{"L2 table partly past EOF", false, func(c *crafted) { c.b = c.b[:2*c.cs+100] }},
		{"data cluster misaligned", false, func(c *crafted) { c.setL2(0, uint64(3*c.cs+512), 0) }},
		{"data cluster past EOF", false, func(c *crafted) { c.setL2(3, uint64(64*c.cs), 0) }},
		{"subcluster data at offset 0", true, func(c *crafted) { c.setL2(3, 0, 1) }},
		{"subcluster allocated and zero", true, func(c *crafted) { c.setL2(0, uint64(3*c.cs), 1|1<<32) }},
		{"compressed in header", false, func(c *crafted) { c.setL2(3, flagCompressed|100, 0) }},
		{"compressed past EOF", false, func(c *crafted) { c.setL2(3, flagCompressed|uint64(5*c.cs), 0) }},
		{"compressed garbage", false, func(c *crafted) { c.setL2(3, flagCompressed|uint64(3*c.cs), 0) }},
		{"compressed truncated", false, func(c *crafted) { c.b = c.b[:4*c.cs+20] }},
		{"compressed truncated ext", true, func(c *crafted) { c.b = c.b[:4*c.cs+20] }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCrafted(t, tt.ext)
			tt.mutate(c)
			img, err := Open(bytes.NewReader(c.b), int64(len(c.b)))
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			start := time.Now()
			_, err = img.Convert(context.Background(), &memSink{make([]byte, img.Size())}, Options{})
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Convert = %v, want %v", err, ErrInvalid)
			}
			t.Log(err)
			if d := time.Since(start); d > time.Second {
				t.Errorf("Convert took %v", d)
			}
		})
	}
}

// TestDirtyIsRead documents the choice to read images with the dirty bit.
func TestDirtyIsRead(t *testing.T) {
	c := newCrafted(t, false)
	c.put64(72, incompatDirty)
	img, err := Open(bytes.NewReader(c.b), int64(len(c.b)))
	if err != nil {
		t.Fatal(err)
	}
	if !img.Info().Dirty {
		t.Error("Info().Dirty = false")
	}
	sink := &memSink{make([]byte, img.Size())}
	if _, err := img.Convert(context.Background(), sink, Options{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sink.b, c.want()) {
		t.Error("converted disk differs")
	}
}

// sparseFile is a source of size bytes holding b at offset 0 and zeros
// after it, standing in for a huge, mostly empty image file.
type sparseFile struct {
	b    []byte
	size int64
}

func (s sparseFile) ReadAt(p []byte, off int64) (int, error) {
	if off >= s.size {
		return 0, errors.New("read past the end")
	}
	n := copy(p, s.b[min(off, int64(len(s.b))):])
	clear(p[n:])
	return len(p), nil
}

// TestHugeVirtualSize walks qemu's largest L1 table (4 Mi entries, 2 EiB of
// guest with 2 MiB clusters) in bounded memory and time.
func TestHugeVirtualSize(t *testing.T) {
	c := newCrafted(t, false)
	c.put32(20, 21)
	const l1 = maxL1Bytes / 8
	vsize := int64(l1) << (21 + 18)
	c.put64(24, uint64(vsize))
	c.put32(36, l1)
	c.put64(40, 2<<20)
	src := sparseFile{b: c.b[:4096], size: 2<<20 + maxL1Bytes}
	img, err := Open(src, src.size)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	stats, err := img.Convert(context.Background(), discard{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if stats.DataBytes != 0 || stats.ZeroBytes != vsize {
		t.Errorf("stats %+v, want all %d bytes zero", stats, vsize)
	}
	if want := int64(maxL1Bytes / (l1Window * 8)); stats.SourceReads != want {
		t.Errorf("%d reads, want %d", stats.SourceReads, want)
	}
	if stats.PeakBuffer > 1<<20 {
		t.Errorf("peak buffer %d bytes", stats.PeakBuffer)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

// TestConvertCancel stops at once when the context is cancelled.
func TestConvertCancel(t *testing.T) {
	c := newCrafted(t, false)
	img, err := Open(bytes.NewReader(c.b), int64(len(c.b)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := img.Convert(ctx, discard{}, Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Convert = %v, want context.Canceled", err)
	}
}

// failingSink reports a disk error on the first write.
type failingSink struct{}

var errDisk = errors.New("disk on fire")

func (failingSink) WriteAt([]byte, int64) (int, error) { return 0, errDisk }

type shortSink struct{}

func (shortSink) WriteAt(p []byte, _ int64) (int, error) { return len(p) / 2, nil }

func TestConvertSinkErrors(t *testing.T) {
	c := newCrafted(t, false)
	img, err := Open(bytes.NewReader(c.b), int64(len(c.b)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := img.Convert(context.Background(), failingSink{}, Options{}); !errors.Is(err, errDisk) {
		t.Errorf("Convert = %v, want %v", err, errDisk)
	}
	if _, err := img.Convert(context.Background(), shortSink{}, Options{}); err == nil {
		t.Error("short write not reported")
	}
}

// failingSource fails every read after the header, as a dropped HTTP
// connection would.
type failingSource struct{ b []byte }

var errNetwork = errors.New("connection reset")

func (s failingSource) ReadAt(p []byte, off int64) (int, error) {
	if off == 0 {
		return copy(p, s.b), nil
	}
	return 0, errNetwork
}

// shortSource returns a short read without an error after the header.
type shortSource struct{ b []byte }

func (s shortSource) ReadAt(p []byte, off int64) (int, error) {
	if off == 0 {
		return copy(p, s.b), nil
	}
	return len(p) / 2, io.EOF
}

func TestConvertSourceErrors(t *testing.T) {
	c := newCrafted(t, false)
	for _, tt := range []struct {
		src  io.ReaderAt
		want error
	}{
		{failingSource{c.b}, errNetwork},
		{shortSource{c.b}, io.ErrUnexpectedEOF},
	} {
		img, err := Open(tt.src, int64(len(c.b)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := img.Convert(context.Background(), discard{}, Options{}); !errors.Is(err, tt.want) {
			t.Errorf("Convert = %v, want %v", err, tt.want)
		}
	}
	if _, err := Open(failingSource{nil}, 1<<20); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Open of an empty read = %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestCompressionString(t *testing.T) {
	for c, want := range map[Compression]string{CompressionZlib: "zlib", CompressionZstd: "zstd", 7: "compression(7)"} {
		if got := c.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", c, got, want)
		}
	}
}
