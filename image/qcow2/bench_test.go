package qcow2

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// benchImage builds in dir, once per benchmark run, the 1 GiB raw disk
// holding 512 MiB of data (alternating compressible text and random 2 MiB
// blocks, like a root file system) and its qcow2 conversion with args.
func benchImage(b *testing.B, dir, name string, args ...string) string {
	raw := filepath.Join(dir, "disk.raw")
	if _, err := os.Stat(raw); err != nil {
		var segs []segment
		for off := int64(0); off < 1<<30; off += 4 << 20 {
			kind := byte('t')
			if off%(12<<20) == 0 {
				kind = 'r'
			}
			segs = append(segs, segment{off, 2 << 20, kind})
		}
		writeRaw(b, raw, 1<<30, segs)
	}
	img := filepath.Join(dir, name+".qcow2")
	qemu(b, "qemu-img", append(append([]string{"convert", "-f", "raw", "-O", "qcow2"}, args...), raw, img)...)
	return img
}

// BenchmarkConvert reports MB/s of guest data (not virtual size) converted
// from a local file to a discarding sink, so it measures the reader alone.
// Building the images with qemu-img takes about a minute.
func BenchmarkConvert(b *testing.B) {
	dir := b.TempDir()
	for _, bb := range []struct {
		name string
		args []string
	}{
		{"plain", nil},
		{"zlib", []string{"-c"}},
		{"zstd", []string{"-c", "-o", "compression_type=zstd"}},
	} {
		b.Run(bb.name, func(b *testing.B) {
			img := openFile(b, benchImage(b, dir, bb.name, bb.args...))
			b.SetBytes(512 << 20)
			for b.Loop() {
				st, err := img.Convert(context.Background(), discard{}, Options{})
				if err != nil {
					b.Fatal(err)
				}
				if st.DataBytes != 512<<20 {
					b.Fatalf("converted %d bytes of data", st.DataBytes)
				}
			}
		})
	}
}
