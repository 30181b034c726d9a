package blockdev

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/goipa/goipa/tstest/looptest"
)

// TestOpenFile: a regular file only when allowed, and only in whole
// 512-byte sectors.
func TestOpenFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "img")
	if err := os.WriteFile(p, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(p, false); !errors.Is(err, ErrNotBlockDevice) {
		t.Fatalf("Open(file) = %v, want ErrNotBlockDevice", err)
	}
	f, err := Open(p, true)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Block || f.Size != 4096 || f.LSS != 512 {
		t.Errorf("file: block %v size %d lss %d", f.Block, f.Size, f.LSS)
	}
	odd := filepath.Join(t.TempDir(), "odd")
	if err := os.WriteFile(odd, make([]byte, 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(odd, true); err == nil {
		t.Error("a file of 1000 bytes was opened")
	}
}

// TestOpenLoop: a loop device with 4096-byte sectors reports the geometry
// the kernel gives, and a second exclusive open is refused as held.
func TestOpenLoop(t *testing.T) {
	dev, _ := looptest.New(t, 8<<20, "--sector-size", "4096")
	f, err := Open(dev, false)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !f.Block || f.Size != 8<<20 || f.LSS != 4096 || f.PSS != 4096 {
		t.Errorf("%s: block %v size %d lss %d pss %d", dev, f.Block, f.Size, f.LSS, f.PSS)
	}
	if _, err := Open(dev, false); !errors.Is(err, ErrHeld) {
		t.Errorf("second exclusive open = %v, want ErrHeld", err)
	}
	if err := f.Flush(); err != nil {
		t.Error(err)
	}
}
