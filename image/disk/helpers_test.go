package disk

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/goipa/goipa/internal/runner"
	"github.com/goipa/goipa/tstest/looptest"
)

// needTool skips the test when an external program is missing (Debian
// packages: gdisk for sgdisk, fdisk for sfdisk, util-linux for blkid and
// losetup, dosfstools for fsck.vfat, genisoimage).
func needTool(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s not installed", name)
	}
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := runner.Exec{}.Run(context.Background(), runner.Command(name, args...))
	if err != nil {
		t.Fatalf("%s: %v", runner.Command(name, args...), err)
	}
	return string(out)
}

// newFile creates a size-byte file in the test's temp dir filled with fill
// (sparse when fill is 0).
func newFile(t testing.TB, size int64, fill byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.img")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if fill != 0 {
		if _, err := f.WriteAt(bytes.Repeat([]byte{fill}, int(size)), 0); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// newLoop attaches a loop device with sectorSize-byte sectors to a fresh
// size-byte file filled with fill (sparse for 0); see looptest.Attach.
func newLoop(t testing.TB, size int64, sectorSize int, fill byte) (dev, backing string) {
	t.Helper()
	looptest.Need(t) // before filling a file only to skip
	var args []string
	if sectorSize != 512 {
		args = append(args, "--sector-size", strconv.Itoa(sectorSize))
	}
	backing = newFile(t, size, fill)
	return looptest.Attach(t, backing, args...), backing
}

// testImage returns a size-byte image mixing random data and zero runs of
// awkward lengths, ending with random bytes.
func testImage(size int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	img := make([]byte, size)
	for off := 0; off < size; {
		n := min(size-off, 1+r.IntN(3<<20))
		if r.IntN(2) == 0 {
			for i := range n {
				img[off+i] = byte(r.Uint32())
			}
		}
		off += n
	}
	for i := max(0, size-777); i < size; i++ {
		img[i] = byte(r.Uint32() | 1)
	}
	return img
}

// feed writes img through w in random-sized pieces, like a download.
func feed(t *testing.T, w *Writer, img []byte, seed uint64) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	for off := 0; off < len(img); {
		n := min(len(img)-off, 1+r.IntN(300<<10))
		if _, err := w.Write(img[off : off+n]); err != nil {
			t.Fatalf("Write at %d: %v", off, err)
		}
		off += n
	}
}

func readBack(t *testing.T, path string, off int64, n int) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	return b
}

// firstDiff returns the first offset where a and b differ, or -1.
func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

func allocated(t *testing.T, path string) int64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

// runnerOutput runs a program and returns stdout plus, on failure, stderr.
func runnerOutput(name string, args ...string) (string, error) {
	out, err := runner.Exec{}.Run(context.Background(), runner.Command(name, args...))
	var ee *runner.ExitError
	if errors.As(err, &ee) {
		return string(out) + ee.Stderr, err
	}
	return string(out), err
}

func runnerInput(stdin, name string, args ...string) (string, error) {
	out, err := runner.Exec{}.Run(context.Background(), runner.Cmd{Name: name, Args: args, Stdin: []byte(stdin)})
	return string(out), err
}
