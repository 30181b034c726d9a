package qcow2

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goipa/goipa/internal/runner"
)

// qemu runs a qemu tool (qemu-img, qemu-io) and skips the test when the tool
// is not installed: qemu is the oracle and the fixture generator.
func qemu(t testing.TB, tool string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		t.Skipf("%s not installed (apt-get install qemu-utils): it generates the fixtures and is the oracle", tool)
	}
	out, err := runner.Exec{}.Run(context.Background(), runner.Command(tool, args...))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// segment is a range of a generated raw disk.
type segment struct {
	off, n int64
	kind   byte // 'r' random, 't' compressible text, 'z' explicit zeros
}

// writeRaw creates a sparse raw disk of size bytes holding segs.
func writeRaw(t testing.TB, path string, size int64, segs []segment) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(size), 7))
	words := strings.Fields("qcow2 cluster guest host sector ironic agent deploy image zero data table")
	for _, s := range segs {
		b := make([]byte, s.n)
		switch s.kind {
		case 'r':
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
		case 't':
			var buf bytes.Buffer
			for int64(buf.Len()) < s.n {
				buf.WriteString(words[rng.IntN(len(words))])
				buf.WriteByte(" \n"[rng.IntN(2)])
			}
			copy(b, buf.Bytes())
		}
		if _, err := f.WriteAt(b, s.off); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// checkingSink is the target file, asserting the write contract on the way:
// increasing offsets, aligned, bounded, never past the virtual size.
type checkingSink struct {
	t                   testing.TB
	f                   *os.File
	size, align, maxLen int64
	end                 int64
}

func (s *checkingSink) WriteAt(p []byte, off int64) (int, error) {
	n := int64(len(p))
	switch {
	case off < s.end:
		s.t.Errorf("write at %d before the end %d of the previous one", off, s.end)
	case off%s.align != 0 || (n%s.align != 0 && off+n != s.size):
		s.t.Errorf("write [%d, +%d) not aligned to %d", off, n, s.align)
	case n > s.maxLen || n == 0:
		s.t.Errorf("write of %d bytes, want 1..%d", n, s.maxLen)
	case off+n > s.size:
		s.t.Errorf("write [%d, +%d) past the virtual size %d", off, n, s.size)
	case bytes.Count(p, []byte{0}) == len(p):
		s.t.Errorf("write [%d, +%d) is all zeros", off, n)
	}
	s.end = off + n
	return s.f.WriteAt(p, off)
}

// convertFile converts img (a qcow2 file) with this package into a fresh
// sparse raw file and returns its path and the stats.
func convertFile(t testing.TB, img string, opts Options) (string, Stats) {
	t.Helper()
	src, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		t.Fatal(err)
	}
	q, err := Open(src, st.Size())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	out := img + ".ours.raw"
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(q.Size()); err != nil {
		t.Fatal(err)
	}
	align := cmp(opts.Align, defaultAlign)
	maxLen := max(cmp(opts.ChunkSize, defaultChunkSize), 2*q.Info().ClusterSize)
	sink := &checkingSink{t: t, f: f, size: q.Size(), align: align, maxLen: maxLen}
	stats, err := q.Convert(context.Background(), sink, opts)
	if err != nil {
		t.Fatalf("Convert: %v", err)
	}
	if stats.DataBytes+stats.ZeroBytes != q.Size() {
		t.Errorf("stats %+v: data+zero != virtual size %d", stats, q.Size())
	}
	return out, stats
}

func cmp(v, def int64) int64 {
	if v == 0 {
		return def
	}
	return v
}

// sameFiles compares two files byte for byte.
func sameFiles(t testing.TB, got, want string) {
	t.Helper()
	a, err := os.ReadFile(got)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != len(b) {
		t.Fatalf("%s is %d bytes, qemu-img's %s is %d", got, len(a), want, len(b))
	}
	if i := firstDiff(a, b); i >= 0 {
		t.Fatalf("%s differs from qemu-img's output at offset %d: got %#x, want %#x", got, i, a[i], b[i])
	}
}

func firstDiff(a, b []byte) int {
	for i := 0; i < len(a); i += 4096 {
		end := min(i+4096, len(a))
		if !bytes.Equal(a[i:end], b[i:end]) {
			for j := i; ; j++ {
				if a[j] != b[j] {
					return j
				}
			}
		}
	}
	return -1
}

// rawSize is deliberately not a multiple of any cluster size above 512.
const rawSize = 9<<20 + 1536

var rawLayout = []segment{
	{0, 4096, 'r'},                    // boot sector and partition table
	{12 << 10, 300<<10 + 512, 't'},    // unaligned end
	{1 << 20, 1 << 20, 'z'},           // zeros written as data
	{2<<20 + 512, 1024, 'r'},          // tiny, sub-cluster
	{3 << 20, 2<<20 + 100<<10, 't'},   // compressible, spans 2 MiB clusters
	{5<<20 + 200<<10, 700 << 10, 'r'}, // incompressible: stored plain even with -c
	{rawSize - 3072, 3072, 't'},       // the partial last cluster
}

func TestConvertMatchesQemuImg(t *testing.T) {
	dir := t.TempDir()
	raw := filepath.Join(dir, "disk.raw")
	writeRaw(t, raw, rawSize, rawLayout)

	tests := []struct {
		name     string
		opts     string // qemu-img -o
		compress bool
		want     Info
	}{
		{"v2-64k", "compat=0.10", false, Info{Version: 2, ClusterSize: 64 << 10}},
		{"v2-512", "compat=0.10,cluster_size=512", false, Info{Version: 2, ClusterSize: 512}},
		{"v2-64k-zlib", "compat=0.10", true, Info{Version: 2, ClusterSize: 64 << 10}},
		{"v3-512", "cluster_size=512", false, Info{Version: 3, ClusterSize: 512}},
		{"v3-4k", "cluster_size=4096", false, Info{Version: 3, ClusterSize: 4096}},
		{"v3-64k", "", false, Info{Version: 3, ClusterSize: 64 << 10}},
		{"v3-2m", "cluster_size=2M", false, Info{Version: 3, ClusterSize: 2 << 20}},
		{"v3-512-zlib", "cluster_size=512", true, Info{Version: 3, ClusterSize: 512}},
		{"v3-4k-zlib", "cluster_size=4096", true, Info{Version: 3, ClusterSize: 4096}},
		{"v3-64k-zlib", "compression_type=zlib", true, Info{Version: 3, ClusterSize: 64 << 10}},
		{"v3-64k-zstd", "compression_type=zstd", true, Info{Version: 3, ClusterSize: 64 << 10, Compression: CompressionZstd}},
		{"v3-4k-zstd", "cluster_size=4096,compression_type=zstd", true, Info{Version: 3, ClusterSize: 4096, Compression: CompressionZstd}},
		{"v3-2m-zstd", "cluster_size=2M,compression_type=zstd", true, Info{Version: 3, ClusterSize: 2 << 20, Compression: CompressionZstd}},
		{"v3-2m-zlib", "cluster_size=2M", true, Info{Version: 3, ClusterSize: 2 << 20}},
		{"extl2-16k", "extended_l2=on,cluster_size=16k", false, Info{Version: 3, ClusterSize: 16 << 10, ExtendedL2: true}},
		{"extl2-64k", "extended_l2=on", false, Info{Version: 3, ClusterSize: 64 << 10, ExtendedL2: true}},
		{"extl2-2m", "extended_l2=on,cluster_size=2M", false, Info{Version: 3, ClusterSize: 2 << 20, ExtendedL2: true}},
		{"extl2-64k-zstd", "extended_l2=on,compression_type=zstd", true, Info{Version: 3, ClusterSize: 64 << 10, ExtendedL2: true, Compression: CompressionZstd}},
		{"extl2-32k-zlib", "extended_l2=on,cluster_size=32k", true, Info{Version: 3, ClusterSize: 32 << 10, ExtendedL2: true}},
		{"v3-64k-prealloc-metadata", "preallocation=metadata", false, Info{Version: 3, ClusterSize: 64 << 10}},
		{"v3-512-prealloc-metadata", "preallocation=metadata,cluster_size=512", false, Info{Version: 3, ClusterSize: 512}},
		{"extl2-prealloc-metadata", "preallocation=metadata,extended_l2=on", false, Info{Version: 3, ClusterSize: 64 << 10, ExtendedL2: true}},
		{"v3-prealloc-full", "preallocation=full", false, Info{Version: 3, ClusterSize: 64 << 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			img := filepath.Join(dir, tt.name+".qcow2")
			args := []string{"convert", "-f", "raw", "-O", "qcow2"}
			if tt.compress {
				args = append(args, "-c")
			}
			if tt.opts != "" {
				args = append(args, "-o", tt.opts)
			}
			qemu(t, "qemu-img", append(args, raw, img)...)
			want := img + ".qemu.raw"
			qemu(t, "qemu-img", "convert", "-f", "qcow2", "-O", "raw", img, want)

			got, stats := convertFile(t, img, Options{})
			sameFiles(t, got, want)

			q := openFile(t, img)
			tt.want.VirtualSize = rawSize
			if q.Info() != tt.want {
				t.Errorf("Info() = %+v, want %+v", q.Info(), tt.want)
			}
			// The layout holds 5.5 MiB of non-zero data; nothing
			// zero may be written beyond granule padding.
			if stats.DataBytes > 6<<20 {
				t.Errorf("wrote %d bytes, more than the non-zero data", stats.DataBytes)
			}
		})
	}
}

// TestConvertOptions checks that every knob combination yields the same disk.
func TestConvertOptions(t *testing.T) {
	dir := t.TempDir()
	raw := filepath.Join(dir, "disk.raw")
	writeRaw(t, raw, rawSize, rawLayout)
	img := filepath.Join(dir, "zlib-4k.qcow2")
	qemu(t, "qemu-img", "convert", "-f", "raw", "-O", "qcow2", "-c", "-o", "cluster_size=4096", raw, img)
	want := img + ".qemu.raw"
	qemu(t, "qemu-img", "convert", "-f", "qcow2", "-O", "raw", img, want)
	for _, opts := range []Options{
		{Workers: 1, MaxMemory: 1, ChunkSize: 1, Align: 512},
		{Workers: 3, ChunkSize: 64 << 10, Align: 1},
		{Workers: 8, ChunkSize: 1 << 20, MaxMemory: 256 << 20, Align: 1 << 20},
	} {
		got, _ := convertFile(t, img, opts)
		sameFiles(t, got, want)
	}
	q := openFile(t, img)
	for _, bad := range []Options{{Align: 3}, {Align: -4096}, {ChunkSize: -1}, {Workers: -1}} {
		if _, err := q.Convert(context.Background(), discard{}, bad); err == nil {
			t.Errorf("Convert with %+v succeeded", bad)
		}
	}
}

// TestConvertZeroClusters writes zeros with qemu-io so that the image holds
// zero-flagged clusters (allocated and not) and zero subclusters.
func TestConvertZeroClusters(t *testing.T) {
	dir := t.TempDir()
	raw := filepath.Join(dir, "disk.raw")
	writeRaw(t, raw, rawSize, rawLayout)
	tests := []struct {
		name, opts string
		io         []string
	}{
		{"v3", "", []string{"write -z 0 64k", "write -z -u 3M 1M", "write -z 5M 4k"}},
		{"v2", "compat=0.10", []string{"write -z 0 64k", "write -z 3M 1M"}},
		{"extl2", "extended_l2=on", []string{"write -z 4k 8k", "write -z -u 3M 64k", "write -P 0x5a 100k 2k", "write -z 3200k 10k", "write -z 5M 128k"}},
		{"extl2-zstd", "extended_l2=on,compression_type=zstd", []string{"write -z 3M 64k", "write -P 0x33 3M 6k", "write -z 0 2k"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := filepath.Join(dir, tt.name+".qcow2")
			args := []string{"convert", "-f", "raw", "-O", "qcow2"}
			if strings.Contains(tt.opts, "zstd") {
				args = append(args, "-c")
			}
			if tt.opts != "" {
				args = append(args, "-o", tt.opts)
			}
			qemu(t, "qemu-img", append(args, raw, img)...)
			ioArgs := []string{"-f", "qcow2"}
			for _, c := range tt.io {
				ioArgs = append(ioArgs, "-c", c)
			}
			qemu(t, "qemu-io", append(ioArgs, img)...)
			want := img + ".qemu.raw"
			qemu(t, "qemu-img", "convert", "-f", "qcow2", "-O", "raw", img, want)
			got, _ := convertFile(t, img, Options{})
			sameFiles(t, got, want)
		})
	}
}

// TestConvertLargeSparse converts a 1 GiB virtual disk with a little data
// at its start, middle and very end, and lets qemu-img compare the result.
func TestConvertLargeSparse(t *testing.T) {
	dir := t.TempDir()
	for _, opts := range []string{"cluster_size=64k", "cluster_size=2M,extended_l2=on", "cluster_size=4096"} {
		img := filepath.Join(dir, "big.qcow2")
		qemu(t, "qemu-img", "create", "-q", "-f", "qcow2", "-o", opts, img, "1G")
		qemu(t, "qemu-io", "-f", "qcow2", "-c", "write -P 0x11 0 1M", "-c", "write -P 0x22 333M 12k",
			"-c", "write -P 0x33 1023M 1M", "-c", "write -z 1023M 4k", img)
		got, stats := convertFile(t, img, Options{})
		if out := qemu(t, "qemu-img", "compare", "-q", "-f", "raw", "-F", "qcow2", got, img); out != "" {
			t.Error(out)
		}
		if want := int64(2<<20 + 8<<10); stats.DataBytes != want {
			t.Errorf("%s: wrote %d bytes, want %d", opts, stats.DataBytes, want)
		}
	}
}

func openFile(t testing.TB, path string) *Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	q, err := Open(f, st.Size())
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	return q
}

type discard struct{}

func (discard) WriteAt(p []byte, _ int64) (int, error) { return len(p), nil }

func TestRefusedByQemuImg(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "base.qcow2")
	qemu(t, "qemu-img", "create", "-q", "-f", "qcow2", base, "1M")
	tests := []struct {
		name string
		args []string
		want error
	}{
		{"backing file", []string{"-b", base, "-F", "qcow2"}, ErrBackingFile},
		{"external data file", []string{"-o", "data_file=" + filepath.Join(dir, "data.raw")}, ErrExternalDataFile},
		{"external raw data file", []string{"-o", "data_file=" + filepath.Join(dir, "data2.raw") + ",data_file_raw=on"}, ErrExternalDataFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".qcow2")
			args := append([]string{"create", "-q", "-f", "qcow2"}, tt.args...)
			qemu(t, "qemu-img", append(args, img, "1M")...)
			f, err := os.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			st, _ := f.Stat()
			if _, err := Open(f, st.Size()); !errors.Is(err, tt.want) {
				t.Errorf("Open = %v, want %v", err, tt.want)
			}
		})
	}
}
