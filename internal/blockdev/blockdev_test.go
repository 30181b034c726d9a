package blockdev

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fakeSysfs builds <root>/devices/virtual/block/sdz (8:0) with partitions
// sdz1 (8:1) and sdz2 (8:2), and the /sys/dev/block and /sys/class/block
// symlinks to them.
func fakeSysfs(t *testing.T) (root, disk string) {
	t.Helper()
	root = t.TempDir()
	disk = filepath.Join(root, "devices", "virtual", "block", "sdz")
	write(t, filepath.Join(disk, "dev"), "8:0\n")
	write(t, filepath.Join(disk, "ro"), "0\n")
	mkdir(t, filepath.Join(disk, "holders"))
	mkdir(t, filepath.Join(root, "dev", "block"))
	mkdir(t, filepath.Join(root, "class", "block"))
	symlink(t, disk, filepath.Join(root, "dev", "block", "8:0"))
	symlink(t, disk, filepath.Join(root, "class", "block", "sdz"))
	for i, dev := range []string{"8:1", "8:2"} {
		name := "sdz" + string(rune('1'+i))
		part := filepath.Join(disk, name)
		write(t, filepath.Join(part, "dev"), dev+"\n")
		write(t, filepath.Join(part, "partition"), string(rune('1'+i))+"\n")
		write(t, filepath.Join(part, "start"), []string{"2048\n", "206848\n"}[i])
		write(t, filepath.Join(part, "size"), []string{"204800\n", "1024\n"}[i])
		mkdir(t, filepath.Join(part, "holders"))
		symlink(t, part, filepath.Join(root, "class", "block", name))
	}
	return root, disk
}

func TestLookup(t *testing.T) {
	t.Parallel()
	root, disk := fakeSysfs(t)
	whole := &Device{Dir: disk, Disk: disk, Nodes: []Node{
		{Name: "sdz", Dev: "8:0", Dir: disk},
		{Name: "sdz1", Dev: "8:1", Dir: filepath.Join(disk, "sdz1")},
		{Name: "sdz2", Dev: "8:2", Dir: filepath.Join(disk, "sdz2")},
	}}
	part := &Device{Dir: filepath.Join(disk, "sdz2"), Disk: disk, Nodes: []Node{
		{Name: "sdz2", Dev: "8:2", Dir: filepath.Join(disk, "sdz2")},
	}}
	tests := []struct {
		name   string
		lookup func() (*Device, error)
		want   *Device
	}{
		{"disk by number", func() (*Device, error) { return ByNumber(root, 8, 0) }, whole},
		{"disk by name", func() (*Device, error) { return ByName(root, "sdz") }, whole},
		{"partition by name", func() (*Device, error) { return ByName(root, "sdz2") }, part},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.lookup()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestLookupMissing(t *testing.T) {
	t.Parallel()
	root, _ := fakeSysfs(t)
	for what, lookup := range map[string]func() (*Device, error){
		"8:16": func() (*Device, error) { return ByNumber(root, 8, 16) },
		"sdy":  func() (*Device, error) { return ByName(root, "sdy") },
	} {
		_, err := lookup()
		if !errors.Is(err, ErrNoEntry) || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), what) {
			t.Errorf("lookup of %s, absent from sysfs = %v, want ErrNoEntry naming it", what, err)
		}
	}
}

func TestHolders(t *testing.T) {
	t.Parallel()
	root, disk := fakeSysfs(t)
	mkdir(t, filepath.Join(disk, "sdz1", "holders", "md127"))
	mkdir(t, filepath.Join(disk, "holders", "dm-1"))
	mkdir(t, filepath.Join(disk, "holders", "dm-0"))
	if err := os.Remove(filepath.Join(disk, "sdz2", "holders")); err != nil {
		t.Fatal(err)
	}
	d, err := ByNumber(root, 8, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"sdz": {"dm-0", "dm-1"}, "sdz1": {"md127"}, "sdz2": nil}
	for _, n := range d.Nodes {
		got, err := n.Holders()
		if err != nil || !reflect.DeepEqual(got, want[n.Name]) {
			t.Errorf("%s: Holders() = %q, %v; want %q", n.Name, got, err, want[n.Name])
		}
	}

	write(t, filepath.Join(disk, "sdz2", "holders"), "") // not a directory
	if got, err := d.Nodes[2].Holders(); err == nil {
		t.Errorf("Holders() of an unreadable holders directory = %q, want an error", got)
	}
}

func TestReadOnly(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		ro   string // "": no ro file
		want bool
	}{{"0\n", false}, {"1\n", true}, {"1", true}, {"", false}} {
		dir := t.TempDir()
		if tt.ro != "" {
			write(t, filepath.Join(dir, "ro"), tt.ro)
		}
		if got := ReadOnly(dir); got != tt.want {
			t.Errorf("ReadOnly with ro %q = %v, want %v", tt.ro, got, tt.want)
		}
	}
}

const mountinfoBase = `22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
`

func TestMounted(t *testing.T) {
	t.Parallel()
	root, _ := fakeSysfs(t)
	d, err := ByNumber(root, 8, 0)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mounts string
		node   string // "": not mounted
		point  string
	}{
		{name: "unused"},
		{name: "partition mounted", mounts: "40 27 8:2 / /mnt/data rw - xfs /dev/sdz2 rw\n", node: "sdz2", point: "/mnt/data"},
		{name: "whole disk mounted", mounts: "40 27 8:0 / /media rw - iso9660 /dev/sdz ro\n", node: "sdz", point: "/media"},
		{name: "btrfs anonymous device matched by source", mounts: "40 27 0:45 / /srv rw - btrfs /dev/sdz1 rw\n", node: "sdz1", point: "/srv"},
		{name: "escaped mount point", mounts: `40 27 8:1 / /mnt/with\040space rw - vfat /dev/sdz1 rw` + "\n", node: "sdz1", point: "/mnt/with space"},
		{name: "other disk mounted", mounts: "40 27 8:16 / /mnt rw - ext4 /dev/sdy1 rw\n"},
		{name: "first mount wins", mounts: "40 27 8:2 / /a rw - xfs /dev/sdz2 rw\n41 27 8:1 / /b rw - xfs /dev/sdz1 rw\n", node: "sdz2", point: "/a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mi := filepath.Join(t.TempDir(), "mountinfo")
			write(t, mi, mountinfoBase+tt.mounts)
			mounts, err := ReadMounts(mi)
			if err != nil {
				t.Fatal(err)
			}
			n, m, ok := d.Mounted(mounts)
			if ok != (tt.node != "") || n.Name != tt.node || m.Point != tt.point {
				t.Errorf("Mounted() = %q on %q, %v; want %q on %q", n.Name, m.Point, ok, tt.node, tt.point)
			}
		})
	}
}

func TestReadMounts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mi := filepath.Join(dir, "mountinfo")
	write(t, mi, "garbage\n40 27 8:1 / /no-separator rw xfs /dev/sdz1 rw\n41 27 8:1 / /short rw - xfs\n"+mountinfoBase)
	got, err := ReadMounts(mi)
	want := []Mount{{Dev: "0:21", Point: "/proc", Source: "proc"}, {Dev: "254:0", Point: "/", Source: "/dev/vda"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ReadMounts() = %+v, %v; want %+v", got, err, want)
	}

	write(t, mi, mountinfoBase+strings.Repeat("x", 2<<20)+"\n")
	if got, err := ReadMounts(mi); err == nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ReadMounts() with a 2 MiB line = %+v, %v; want the mounts before it and an error", got, err)
	}

	if _, err := ReadMounts(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadMounts() of a missing file = %v, want ErrNotExist", err)
	}
}

func TestUnescape(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"/mnt/plain":         "/mnt/plain",
		`/mnt/with\040space`: "/mnt/with space",
		`/a\011tab\012nl`:    "/a\ttab\nnl",
		`/back\134slash`:     `/back\slash`,
		`/not\9octal`:        `/not\9octal`,
		`/short\04`:          `/short\04`,
		`/too\777big`:        `/too\777big`,
	} {
		if got := Unescape(in); got != want {
			t.Errorf("Unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

func write(t *testing.T, p, s string) {
	t.Helper()
	mkdir(t, filepath.Dir(p))
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}
