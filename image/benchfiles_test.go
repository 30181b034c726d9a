package image

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/goipa/goipa/image/disk"
	"github.com/goipa/goipa/tstest/looptest"
)

// benchImage is one row of TestBench.
type benchImage struct {
	name, key string
	file      string // what the server sends
	raw       string // its raw form, whose data extents the write floor writes
	format    string // disk_format: raw or qcow2
	sparse    bool   // mostly holes: the peer's dd skips zero blocks too
	xz        bool
	ipa       bool // IPA 13 takes the format (it has no xz)
	sum       string
	size      int64 // bytes on the wire
}

// peer names the row's peer tool.
func (img *benchImage) peer() string {
	switch {
	case img.format == "qcow2":
		return "qemu-img convert (curl driver)"
	case img.xz:
		return "curl | xz -dc | dd"
	}
	return "curl | dd oflag=direct"
}

// benchImages makes the rows' images in dir. Each raw form holds a GPT:
// IPA checks for a partition table after writing a whole-disk image.
func benchImages(t *testing.T, dir string) []*benchImage {
	t.Helper()
	random := filepath.Join(dir, "random.raw")
	benchRandomFile(t, random, 1<<30)
	sparse := filepath.Join(dir, "sparse.raw")
	benchSparseFile(t, sparse, 4<<30, 512<<20)
	xzRaw := filepath.Join(dir, "xz.raw")
	benchSparseFile(t, xzRaw, 1<<30, 512<<20)
	for _, f := range []string{random, sparse, xzRaw} {
		benchRun(t, "sgdisk", "-n", "1:2048:0", f)
	}
	qcow := filepath.Join(dir, "img.qcow2")
	benchRun(t, "qemu-img", "convert", "-f", "raw", "-O", "qcow2", sparse, qcow)
	qcowC := filepath.Join(dir, "imgc.qcow2")
	benchRun(t, "qemu-img", "convert", "-f", "raw", "-O", "qcow2", "-c", sparse, qcowC)
	// xz -T2: the multi-block file users make.
	benchRun(t, "xz", "-T2", "-6", "-k", "-f", xzRaw)
	imgs := []*benchImage{
		{name: "raw 1 GiB random", key: "random", file: random, raw: random, format: "raw", ipa: true},
		{name: "raw 4 GiB virtual / 512 MiB data", key: "sparse", file: sparse, raw: sparse, format: "raw", sparse: true, ipa: true},
		{name: "qcow2 4 GiB / 512 MiB data", key: "qcow2", file: qcow, raw: sparse, format: "qcow2", sparse: true, ipa: true},
		{name: "qcow2 -c (compressed clusters), same data", key: "qcow2c", file: qcowC, raw: sparse, format: "qcow2", sparse: true, ipa: true},
		{name: "xz -T2 -6 raw 1 GiB / 512 MiB data", key: "xz", file: xzRaw + ".xz", raw: xzRaw, format: "raw", sparse: true, xz: true},
	}
	for _, img := range imgs {
		img.sum = fileSHA256(t, img.file)
		st, err := os.Stat(img.file)
		if err != nil {
			t.Fatal(err)
		}
		img.size = st.Size()
	}
	return imgs
}

func benchRun(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v %s", name, err, out)
	}
}

// fileSHA256 is the hex SHA-256 of the file at path, the checksum Ironic
// would pass.
func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func benchLoop(t *testing.T, backing string, size int64) string {
	t.Helper()
	f, err := os.Create(backing)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(size)
	f.Close()
	dev := looptest.Attach(t, backing, "--direct-io=on")
	// The disk package refuses anything with holders or mounts; a fresh
	// loop device has neither.
	d, err := disk.Open(dev, disk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d.Close() // its open is exclusive
	return dev
}

func benchRandomFile(t *testing.T, path string, size int64) {
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

// benchSparseFile writes data bytes in 1 MiB pieces spread over a sparse
// file of the given size. Each 4 KiB block is half random, half zeros: the
// data compresses about 2:1, like an OS image, so `-c` images hold real
// compressed clusters (random data would be stored uncompressed).
func benchSparseFile(t *testing.T, path string, size, data int64) {
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
