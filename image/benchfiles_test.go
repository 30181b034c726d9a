package image

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/goipa/goipa/image/disk"
	"github.com/goipa/goipa/qemu"
	"github.com/goipa/goipa/tstest/benchimg"
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
		return "qemu-img convert -t none (curl driver)"
	case img.xz:
		return "curl | xz -dc | dd"
	}
	return "curl | dd oflag=direct"
}

// benchImages makes the rows' images in dir, each raw form with a GPT.
func benchImages(t *testing.T, dir string) []*benchImage {
	t.Helper()
	random := filepath.Join(dir, "random.raw")
	benchimg.Random(t, random, 1<<30)
	sparse := filepath.Join(dir, "sparse.raw")
	benchimg.Sparse(t, sparse, 4<<30, 512<<20)
	xzRaw := filepath.Join(dir, "xz.raw")
	benchimg.Sparse(t, xzRaw, 1<<30, 512<<20)
	for _, f := range []string{random, sparse, xzRaw} {
		benchimg.GPT(t, f)
	}
	qcow := filepath.Join(dir, "img.qcow2")
	benchimg.QCOW2(t, sparse, qcow, false)
	qcowC := filepath.Join(dir, "imgc.qcow2")
	benchimg.QCOW2(t, sparse, qcowC, true)
	// xz -T2: the multi-block file users make.
	benchimg.Run(t, "xz", "-T2", "-6", "-k", "-f", xzRaw)
	imgs := []*benchImage{
		{name: "raw 1 GiB random", key: "random", file: random, raw: random, format: "raw", ipa: true},
		{name: "raw 4 GiB virtual / 512 MiB data", key: "sparse", file: sparse, raw: sparse, format: "raw", sparse: true, ipa: true},
		{name: "qcow2 4 GiB / 512 MiB data", key: "qcow2", file: qcow, raw: sparse, format: "qcow2", sparse: true, ipa: true},
		{name: "qcow2 -c (compressed clusters), same data", key: "qcow2c", file: qcowC, raw: sparse, format: "qcow2", sparse: true, ipa: true},
		{name: "xz -T2 -6 raw 1 GiB / 512 MiB data", key: "xz", file: xzRaw + ".xz", raw: xzRaw, format: "raw", sparse: true, xz: true},
	}
	for _, img := range imgs {
		img.sum = qemu.FileSHA256(t, img.file)
		st, err := os.Stat(img.file)
		if err != nil {
			t.Fatal(err)
		}
		img.size = st.Size()
	}
	return imgs
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
