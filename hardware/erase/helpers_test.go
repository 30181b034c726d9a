package erase

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/goipa/goipa/internal/runner"
	"github.com/goipa/goipa/tstest/looptest"
)

// fakeSys is a fake /sys, /dev and mountinfo. Its "devices" are sparse
// regular files, so Check can run on them without root.
type fakeSys struct {
	t                   *testing.T
	sys, dev, mountinfo string
}

func newFakeSys(t *testing.T) *fakeSys {
	root := t.TempDir()
	f := &fakeSys{t: t, sys: filepath.Join(root, "sys"), dev: filepath.Join(root, "dev"), mountinfo: filepath.Join(root, "mountinfo")}
	must(t, os.MkdirAll(filepath.Join(f.sys, "class", "block"), 0o755))
	must(t, os.MkdirAll(f.dev, 0o755))
	must(t, os.WriteFile(f.mountinfo, []byte("22 1 0:21 / /proc rw - proc proc rw\n"), 0o644))
	return f
}

// quiet keeps the tests' expected warnings out of the output.
var quiet = slog.New(slog.DiscardHandler)

// testOptions are IPA's defaults, logging nowhere.
func testOptions(t testing.TB) Options {
	o, err := ParseOptions(nil)
	must(t, err)
	o.Logger = quiet
	return o
}

func (f *fakeSys) opts() Options {
	o := testOptions(f.t)
	o.SysfsRoot, o.DevRoot, o.MountInfo = f.sys, f.dev, f.mountinfo
	return o
}

// disk adds a whole disk with an 8 MiB sparse device file and returns its path.
func (f *fakeSys) disk(name, devno, vendor, model string) string {
	dir := filepath.Join(f.sys, "devices", "pci0000:00", "0000:00:1f.2", "host0", "block", name)
	must(f.t, os.MkdirAll(filepath.Join(dir, "holders"), 0o755))
	must(f.t, os.MkdirAll(filepath.Join(dir, "device"), 0o755))
	f.write(dir, "dev", devno)
	f.write(dir, "ro", "0")
	f.write(dir, "device/vendor", vendor)
	f.write(dir, "device/model", model)
	must(f.t, os.Symlink(dir, filepath.Join(f.sys, "class", "block", name)))
	path := filepath.Join(f.dev, name)
	fd, err := os.Create(path)
	must(f.t, err)
	must(f.t, fd.Truncate(8<<20))
	must(f.t, fd.Close())
	return path
}

func (f *fakeSys) part(disk, name, devno string) {
	dir := filepath.Join(f.sysDir(disk), name)
	must(f.t, os.MkdirAll(filepath.Join(dir, "holders"), 0o755))
	f.write(dir, "dev", devno)
	f.write(dir, "partition", strings.TrimLeft(name, "abcdefghijklmnopqrstuvwxyz"))
	must(f.t, os.Symlink(dir, filepath.Join(f.sys, "class", "block", name)))
}

func (f *fakeSys) sysDir(name string) string {
	dir, err := filepath.EvalSymlinks(filepath.Join(f.sys, "class", "block", name))
	must(f.t, err)
	return dir
}

func (f *fakeSys) holder(name, holder string) {
	must(f.t, os.Symlink("../../"+holder, filepath.Join(f.sysDir(name), "holders", holder)))
}

func (f *fakeSys) write(dir, file, value string) {
	must(f.t, os.WriteFile(filepath.Join(dir, file), []byte(value+"\n"), 0o644))
}

func (f *fakeSys) mount(devno, point, fstype, source string) {
	fd, err := os.OpenFile(f.mountinfo, os.O_APPEND|os.O_WRONLY, 0)
	must(f.t, err)
	defer fd.Close()
	_, err = fd.WriteString("40 1 " + devno + " / " + point + " rw,relatime shared:1 - " + fstype + " " + source + " rw\n")
	must(f.t, err)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// needTool skips the test when a program is missing (Debian packages: gdisk
// for sgdisk, fdisk for sfdisk, util-linux for losetup/wipefs/blkid/mount,
// e2fsprogs for mkfs.ext4, dosfstools for mkfs.vfat, genisoimage).
func needTool(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s not installed", name)
	}
}

// run runs a program and fails the test if it fails.
func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := output(name, args...)
	if err != nil {
		t.Fatalf("%s: %v\n%s", runner.Command(name, args...), err, out)
	}
	return out
}

// output runs a program and returns stdout, plus stderr on failure.
func output(name string, args ...string) (string, error) {
	out, err := runner.Exec{}.Run(context.Background(), runner.Command(name, args...))
	var ee *runner.ExitError
	if errors.As(err, &ee) {
		return string(out) + ee.Stderr, err
	}
	return string(out), err
}

func runInput(t testing.TB, stdin, name string, args ...string) {
	t.Helper()
	if _, err := (runner.Exec{}).Run(context.Background(), runner.Cmd{Name: name, Args: args, Stdin: []byte(stdin)}); err != nil {
		t.Fatalf("%s: %v", runner.Command(name, args...), err)
	}
}

// newLoop attaches a loop device with sectorSize-byte sectors (and extra
// losetup arguments) to a fresh sparse size-byte file; see looptest.Attach.
func newLoop(t testing.TB, size int64, sectorSize int, extra ...string) (dev, backing string) {
	t.Helper()
	return looptest.New(t, size, append([]string{"--sector-size", strconv.Itoa(sectorSize)}, extra...)...)
}

func readAt(t testing.TB, path string, off int64, n int) []byte {
	t.Helper()
	f, err := os.Open(path)
	must(t, err)
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	return b
}

func writeAt(t testing.TB, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	must(t, err)
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	must(t, f.Sync())
}

func zeroBytes(b []byte) bool { return len(bytes.Trim(b, "\x00")) == 0 }
