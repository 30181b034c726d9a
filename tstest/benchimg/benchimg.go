// Package benchimg makes the benchmarks' images: the same bytes for every
// bench, so rows measured in different packages compare.
package benchimg

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"testing"
)

// Random writes size bytes of random data (incompressible) to path.
func Random(t testing.TB, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := rand.NewChaCha8([32]byte{1})
	buf := make([]byte, 4<<20)
	for n := int64(0); n < size; n += int64(len(buf)) {
		r.Read(buf)
		if _, err := f.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
}

// Sparse writes data bytes in 1 MiB pieces spread over a sparse file of
// the given size. Each 4 KiB block is half random, half zeros: the data
// compresses about 2:1, like an OS image, so `-c` images hold real
// compressed clusters (random data would be stored uncompressed).
func Sparse(t testing.TB, path string, size, data int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Truncate(size)
	r := rand.NewChaCha8([32]byte{2})
	buf := make([]byte, 1<<20)
	step := size / (data / int64(len(buf)))
	for off := int64(0); off+int64(len(buf)) <= size; off += step {
		r.Read(buf)
		for b := 0; b < len(buf); b += 4096 {
			clear(buf[b+2048 : b+4096])
		}
		if _, err := f.WriteAt(buf, off); err != nil {
			t.Fatal(err)
		}
	}
}

// GPT gives the raw image at path a GPT with one partition: IPA checks
// for a partition table after writing a whole-disk image.
func GPT(t testing.TB, path string) {
	t.Helper()
	Run(t, "sgdisk", "-n", "1:2048:0", path)
}

// QCOW2 converts the raw image at raw to a qcow2 image at out, with
// compressed clusters when compress is set.
func QCOW2(t testing.TB, raw, out string, compress bool) {
	t.Helper()
	args := []string{"convert", "-f", "raw", "-O", "qcow2"}
	if compress {
		args = append(args, "-c")
	}
	Run(t, "qemu-img", append(args, raw, out)...)
}

// Run runs a tool and fails the test with its output when it fails.
func Run(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v %s", name, args, err, out)
	}
}
