package disk

import (
	"bytes"
	"os"
	"testing"
)

// TestWipeEdges: the two ends of a large disk are zeroed and nothing in
// between is touched or allocated; an image's partition table would
// otherwise survive, and zeroing the whole disk would take hours on a real
// one.
func TestWipeEdges(t *testing.T) {
	const size = 64 << 30
	path := newFile(t, size, 0)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	marks := map[int64][]byte{
		0:                      bytes.Repeat([]byte("M"), EdgeSize),
		size / 2:               []byte("middle of the disk"),
		EdgeSize:               []byte("just after the first MiB"),
		size - EdgeSize - 4096: []byte("just before the last MiB"),
		size - EdgeSize:        bytes.Repeat([]byte("B"), EdgeSize),
	}
	for off, b := range marks {
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	before := allocated(t, path)

	d, err := Open(path, Options{AllowFile: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.WipeEdges(); err != nil {
		t.Fatal(err)
	}
	d.Close()
	for off, b := range marks {
		got := readBack(t, path, off, len(b))
		wantZero := off == 0 || off == size-EdgeSize
		if wantZero && !bytes.Equal(got, make([]byte, len(b))) {
			t.Errorf("%d bytes at %d not zeroed", len(b), off)
		}
		if !wantZero && !bytes.Equal(got, b) {
			t.Errorf("bytes at %d changed: %q", off, got)
		}
	}
	if after := allocated(t, path); after > before+1<<20 {
		t.Errorf("wiping the edges allocated %d more bytes: it wrote between them", after-before)
	}
}
