// Package looptest gives tests real block devices: loop devices over files
// in the test's temp dir. It refuses to hand out anything but a /dev/loopN
// backed by that file, so no test can write to another device.
package looptest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/goipa/goipa/internal/runner"
)

var loopName = regexp.MustCompile(`^/dev/loop[0-9]+$`)

// Need skips the test unless it runs as root with losetup installed
// (Debian: util-linux).
func Need(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("loop devices need root")
	}
	if _, err := exec.LookPath("losetup"); err != nil {
		t.Skip("losetup not installed")
	}
}

// New attaches a loop device to a fresh sparse size-byte file; see Attach.
func New(t testing.TB, size int64, args ...string) (dev, backing string) {
	t.Helper()
	Need(t)
	backing = filepath.Join(t.TempDir(), "disk.img")
	f, err := os.Create(backing)
	if err == nil {
		err = errors.Join(f.Truncate(size), f.Close())
	}
	if err != nil {
		t.Fatal(err)
	}
	return Attach(t, backing, args...), backing
}

// Attach attaches backing, a file the test created, as a loop device with
// partition scanning (losetup --find --show --partscan, plus args such as
// --sector-size 4096) and detaches it on cleanup. It skips the test when
// not root or the kernel has no loop devices, and fails it unless the
// device is a /dev/loopN whose backing file is backing.
func Attach(t testing.TB, backing string, args ...string) string {
	t.Helper()
	Need(t)
	args = append([]string{"--find", "--show", "--partscan"}, args...)
	out, err := runner.Exec{}.Run(context.Background(), runner.Command("losetup", append(args, backing)...))
	if err != nil {
		// Only a kernel without loop support excuses the test; a failing
		// losetup on a machine that has it is the test's or the code's.
		if _, serr := os.Stat("/dev/loop-control"); serr != nil {
			t.Skipf("no loop devices here: %v", err)
		}
		t.Fatalf("cannot attach a loop device: %v", err)
	}
	dev := strings.TrimSpace(string(out))
	if loopName.MatchString(dev) {
		t.Cleanup(func() {
			if _, err := (runner.Exec{}).Run(context.Background(), runner.Command("losetup", "--detach", dev)); err != nil {
				t.Errorf("detach %s: %v", dev, err)
			}
		})
	}
	got, err := os.ReadFile(filepath.Join("/sys/block", filepath.Base(dev), "loop", "backing_file"))
	if !loopName.MatchString(dev) || err != nil || strings.TrimSpace(string(got)) != backing {
		t.Fatalf("refusing to use %q: not a loop device backed by %s (%q, %v)", dev, backing, got, err)
	}
	return dev
}
