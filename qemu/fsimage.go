package qemu

import (
	"bytes"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Whole-disk images with real filesystems, built and read on the host
// without mounting: mkfs.ext4 -d and debugfs (e2fsprogs) for ext4, mkfs.vfat
// and mtools for vfat.

// Extent is a partition's place in a disk image, in bytes.
type Extent struct{ Start, Size int64 }

// FSImage is a whole-disk image with an MBR: partition 1 is ext4,
// partition 2 a vfat EFI system partition.
type FSImage struct {
	Data     []byte
	Ext, FAT Extent
}

// fsImageTools are what NewFSImage and the readers run.
var fsImageTools = []string{"sfdisk", "mkfs.ext4", "debugfs", "e2fsck", "mkfs.vfat", "fsck.vfat", "mmd", "mcopy"}

// NewFSImage builds an FSImage whose ext4 partition holds extFiles and
// whose vfat partition holds fatFiles (path → content; directories are
// made as needed), each partition 16 MiB. It skips the test when a tool
// is missing (make deps-test installs them).
func NewFSImage(t testing.TB, extFiles, fatFiles map[string]string) FSImage {
	t.Helper()
	for _, tool := range fsImageTools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (make deps-test)", tool)
		}
	}
	const mib = 1 << 20
	img := FSImage{Ext: Extent{1 * mib, 16 * mib}, FAT: Extent{17 * mib, 16 * mib}}
	dir := t.TempDir()

	root := filepath.Join(dir, "root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	for p, content := range extFiles {
		f := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ext := filepath.Join(dir, "ext4.img")
	hostRun(t, nil, "mkfs.ext4", "-q", "-F", "-L", "root", "-d", root, ext, strconv.FormatInt(img.Ext.Size/1024, 10)+"k")

	fat := filepath.Join(dir, "fat.img")
	hostRun(t, nil, "mkfs.vfat", "-C", "-n", "ESP", fat, strconv.FormatInt(img.FAT.Size/1024, 10))
	made := map[string]bool{}
	for _, p := range slices.Sorted(maps.Keys(fatFiles)) {
		var dirs []string
		for d := path.Dir("/" + strings.TrimLeft(p, "/")); d != "/" && !made[d]; d = path.Dir(d) {
			dirs = append([]string{d}, dirs...)
			made[d] = true
		}
		for _, d := range dirs {
			hostRun(t, nil, "mmd", "-i", fat, "::"+d)
		}
		src := filepath.Join(dir, "fatfile")
		if err := os.WriteFile(src, []byte(fatFiles[p]), 0o644); err != nil {
			t.Fatal(err)
		}
		hostRun(t, nil, "mcopy", "-i", fat, src, "::/"+strings.TrimLeft(p, "/"))
	}

	disk := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(disk, make([]byte, img.FAT.Start+img.FAT.Size+mib), 0o644); err != nil {
		t.Fatal(err)
	}
	table := "label: dos\n" +
		"start=" + strconv.FormatInt(img.Ext.Start/512, 10) + ", size=" + strconv.FormatInt(img.Ext.Size/512, 10) + ", type=83\n" +
		"start=" + strconv.FormatInt(img.FAT.Start/512, 10) + ", size=" + strconv.FormatInt(img.FAT.Size/512, 10) + ", type=ef\n"
	hostRun(t, strings.NewReader(table), "sfdisk", "-q", disk)
	data, err := os.ReadFile(disk)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		file string
		e    Extent
	}{{ext, img.Ext}, {fat, img.FAT}} {
		b, err := os.ReadFile(p.file)
		if err != nil {
			t.Fatal(err)
		}
		copy(data[p.e.Start:p.e.Start+p.e.Size], b)
	}
	img.Data = data
	return img
}

// ExtFile is a file as debugfs shows it on an ext4 filesystem.
type ExtFile struct {
	Type     string // regular, directory, symlink, ...
	Mode     os.FileMode
	UID, GID int
	Content  []byte // regular files only
}

var (
	extTypeMode = regexp.MustCompile(`Type: (\S+)\s+Mode:\s+([0-7]+)`)
	extOwner    = regexp.MustCompile(`User:\s+(\d+)\s+Group:\s+(\d+)`)
)

// ReadExt reads p from the ext4 filesystem at e in a disk file; ok is
// false when it does not exist.
func ReadExt(t testing.TB, disk string, e Extent, p string) (f ExtFile, ok bool) {
	t.Helper()
	part := extract(t, disk, e)
	st := hostRun(t, nil, "debugfs", "-R", "stat "+p, part)
	m, o := extTypeMode.FindStringSubmatch(st), extOwner.FindStringSubmatch(st)
	if m == nil || o == nil {
		return ExtFile{}, false
	}
	mode, _ := strconv.ParseUint(m[2], 8, 32)
	f.Type, f.Mode = m[1], os.FileMode(mode)
	f.UID, _ = strconv.Atoi(o[1])
	f.GID, _ = strconv.Atoi(o[2])
	if f.Type == "regular" {
		f.Content = []byte(hostRun(t, nil, "debugfs", "-R", "cat "+p, part))
	}
	return f, true
}

// ReadFAT reads p from the vfat filesystem at e in a disk file; ok is
// false when it does not exist.
func ReadFAT(t testing.TB, disk string, e Extent, p string) ([]byte, bool) {
	t.Helper()
	cmd := exec.Command("mcopy", "-n", "-i", extract(t, disk, e), "::/"+strings.TrimLeft(p, "/"), "-")
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if strings.Contains(stderr.String(), "not found") {
			return nil, false
		}
		t.Fatalf("mcopy %s: %v: %s", p, err, stderr.String())
	}
	return out, true
}

// CheckFS runs the filesystem's checker read-only on the partition at e
// and returns its complaint, or "" when the filesystem is clean.
func CheckFS(t testing.TB, disk string, e Extent, fstype string) string {
	t.Helper()
	name, args := "e2fsck", []string{"-n", "-f"}
	if fstype == "vfat" {
		name, args = "fsck.vfat", []string{"-n"}
	}
	out, err := exec.Command(name, append(args, extract(t, disk, e))...).CombinedOutput()
	if err != nil {
		return string(out)
	}
	return ""
}

// extract copies the partition at e out of a disk file, for tools that
// read a filesystem from the start of a file.
func extract(t testing.TB, disk string, e Extent) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "part.img")
	if err := os.WriteFile(p, ReadAt(t, disk, e.Start, int(e.Size)), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// hostRun runs a host tool and returns its standard output.
func hostRun(t testing.TB, stdin *strings.Reader, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	if stdin != nil {
		cmd.Stdin = stdin
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s%s", name, args, err, out, stderr.String())
	}
	return string(out)
}
