package burnin

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/goipa/goipa/hardware/erase"
	"github.com/goipa/goipa/internal/directio"
	"github.com/goipa/goipa/tstest/looptest"
)

var quiet = slog.New(slog.DiscardHandler)

// loopDisk is a loop device over a sparse file: the only kind of disk these
// tests write to.
func loopDisk(t *testing.T, size int64, args ...string) erase.Device {
	t.Helper()
	looptest.Need(t)
	dev, backing := looptest.New(t, size)
	if len(args) > 0 {
		dev = looptest.Attach(t, backing, args...)
	}
	if !regexp.MustCompile(`^/dev/loop[0-9]+$`).MatchString(dev) {
		t.Fatalf("refusing %s: not a loop device", dev)
	}
	return erase.Device{Path: dev}
}

func TestDiskPasses(t *testing.T) {
	d := loopDisk(t, 24<<20)
	o := DiskOptions{Loops: 2, window: 8 << 20}
	res, err := Disk(context.Background(), []erase.Device{d}, erase.Options{}, o, quiet)
	if err != nil {
		t.Fatal(err)
	}
	want := DiskResult{Device: d.Path, Status: StatusPassed, Passes: 2, Written: 48 << 20, Verified: 48 << 20}
	if len(res) != 1 || res[0] != want {
		t.Errorf("results = %+v, want %+v", res, want)
	}
}

// TestDiskWritesWholeDevice: what the burn-in leaves on the disk is its
// pattern, not zeros: it really wrote the whole device.
func TestDiskWritesWholeDevice(t *testing.T) {
	d := loopDisk(t, 8<<20)
	if _, err := Disk(context.Background(), []erase.Device{d}, erase.Options{}, DiskOptions{Loops: 1}, quiet); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(d.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, off := range []int64{0, 4 << 20, 8<<20 - 512} {
		b := make([]byte, 512)
		if _, err := f.ReadAt(b, off); err != nil {
			t.Fatal(err)
		}
		if strings.Count(string(b), "\x00") > 32 {
			t.Errorf("offset %d is mostly zeros after the burn-in", off)
		}
	}
}

// TestDiskDetectsCorruption: a sector changed behind the burn-in's back
// between write and read-back fails the device, naming the offset.
func TestDiskDetectsCorruption(t *testing.T) {
	d := loopDisk(t, 16<<20)
	good := loopDisk(t, 8<<20)
	o := DiskOptions{Loops: 1, window: 8 << 20}
	o.beforeCheck = func(dev string, off, n int64) {
		if dev != d.Path || off != 8<<20 {
			return
		}
		// Another opener, O_DIRECT like the burn-in, so no cache hides it.
		f, err := os.OpenFile(dev, os.O_WRONLY|unix.O_DIRECT, 0)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		b := directio.Buffer(4096)
		for i := range b {
			b[i] = 0xee
		}
		if _, err := f.WriteAt(b, off+3*4096); err != nil {
			t.Error(err)
		}
	}
	res, err := Disk(context.Background(), []erase.Device{d, good}, erase.Options{}, o, quiet)
	if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), d.Path) || !strings.Contains(err.Error(), "offset 8400896") {
		t.Fatalf("err = %v, want a mismatch on %s at offset 8400896", err, d.Path)
	}
	if len(res) != 2 || res[0].Status != StatusFailed || !strings.Contains(res[0].Reason, "offset 8400896") || res[1].Status != StatusPassed {
		t.Errorf("results = %+v: want the corrupted disk failed, the other passed", res)
	}
}

// TestDiskRuntime: a time-based burn-in ends near its runtime, however
// many loops a full pass would take.
func TestDiskRuntime(t *testing.T) {
	d := loopDisk(t, 64<<20)
	begin := time.Now()
	res, err := Disk(context.Background(), []erase.Device{d}, erase.Options{},
		DiskOptions{Loops: 1, Runtime: 300 * time.Millisecond, window: 1 << 20}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(begin); took > 5*time.Second {
		t.Errorf("a 300ms burn-in took %v", took)
	}
	if res[0].Verified == 0 || res[0].Verified != res[0].Written {
		t.Errorf("result = %+v: want everything written read back", res[0])
	}
}

// TestDiskRefusesMounted: a disk with a mounted filesystem fails the step
// before any disk is written.
func TestDiskRefusesMounted(t *testing.T) {
	d := loopDisk(t, 16<<20)
	other := loopDisk(t, 8<<20)
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", d.Path).CombinedOutput(); err != nil {
		t.Skipf("mkfs.ext4: %v: %s", err, out)
	}
	mnt := t.TempDir()
	if err := unix.Mount(d.Path, mnt, "ext4", unix.MS_RDONLY, ""); err != nil {
		t.Skipf("cannot mount here: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(mnt, 0) })
	_, err := Disk(context.Background(), []erase.Device{other, d}, erase.Options{}, DiskOptions{Loops: 1}, quiet)
	if !errors.Is(err, erase.ErrMounted) {
		t.Fatalf("err = %v, want ErrMounted", err)
	}
	b := make([]byte, 4096)
	f, _ := os.Open(other.Path)
	defer f.Close()
	if _, err := f.ReadAt(b, 0); err != nil || strings.Trim(string(b), "\x00") != "" {
		t.Errorf("the other disk was written before the refusal (%v)", err)
	}
}

// TestDiskSkipsReadOnly: a read-only disk is skipped, and with nothing
// left to burn in the step fails.
func TestDiskSkipsReadOnly(t *testing.T) {
	d := loopDisk(t, 8<<20, "--read-only")
	res, err := Disk(context.Background(), []erase.Device{d}, erase.Options{}, DiskOptions{Loops: 1}, quiet)
	if !errors.Is(err, ErrNoDevices) || len(res) != 1 || res[0].Status != StatusSkipped {
		t.Fatalf("results = %+v, err = %v; want skipped and ErrNoDevices", res, err)
	}
}
