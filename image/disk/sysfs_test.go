package disk

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeSysfs builds <root>/devices/virtual/block/sdz (8:0) with partitions
// sdz1 (8:1) and sdz2 (8:2) and the /sys/dev/block symlink.
func fakeSysfs(t *testing.T) (root, disk string) {
	t.Helper()
	root = t.TempDir()
	disk = filepath.Join(root, "devices", "virtual", "block", "sdz")
	write := func(p, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(disk, "dev"), "8:0\n")
	write(filepath.Join(disk, "ro"), "0\n")
	for i, dev := range []string{"8:1", "8:2"} {
		part := filepath.Join(disk, "sdz"+string(rune('1'+i)))
		write(filepath.Join(part, "dev"), dev+"\n")
		write(filepath.Join(part, "partition"), string(rune('1'+i))+"\n")
		if err := os.MkdirAll(filepath.Join(part, "holders"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(disk, "holders"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "dev", "block"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(disk, filepath.Join(root, "dev", "block", "8:0")); err != nil {
		t.Fatal(err)
	}
	return root, disk
}

const mountinfoBase = `22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
`

func TestCheckUnused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		setup  func(t *testing.T, disk string)
		mounts string
		want   error
		msg    string
	}{
		{name: "unused"},
		{name: "partition mounted", mounts: "40 27 8:2 / /mnt/data rw - xfs /dev/sdz2 rw\n", want: ErrMounted, msg: "sdz2 on /mnt/data"},
		{name: "whole disk mounted", mounts: "40 27 8:0 / /media rw - iso9660 /dev/sdz ro\n", want: ErrMounted},
		{name: "btrfs anonymous device matched by source", mounts: "40 27 0:45 / /srv rw - btrfs /dev/sdz1 rw\n", want: ErrMounted, msg: "sdz1"},
		{name: "escaped mount point", mounts: `40 27 8:1 / /mnt/with\040space rw - vfat /dev/sdz1 rw` + "\n", want: ErrMounted, msg: "/mnt/with space"},
		{name: "other disk mounted", mounts: "40 27 8:16 / /mnt rw - ext4 /dev/sdy1 rw\n"},
		{
			name:  "md member partition",
			setup: func(t *testing.T, disk string) { mkdir(t, filepath.Join(disk, "sdz1", "holders", "md127")) },
			want:  ErrHeld, msg: "sdz1 is held by md127",
		},
		{
			name:  "whole disk held by device-mapper",
			setup: func(t *testing.T, disk string) { mkdir(t, filepath.Join(disk, "holders", "dm-0")) },
			want:  ErrHeld,
		},
		{
			name: "read-only",
			setup: func(t *testing.T, disk string) {
				if err := os.WriteFile(filepath.Join(disk, "ro"), []byte("1\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			want: ErrReadOnly,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, disk := fakeSysfs(t)
			if tt.setup != nil {
				tt.setup(t, disk)
			}
			mi := filepath.Join(t.TempDir(), "mountinfo")
			if err := os.WriteFile(mi, []byte(mountinfoBase+tt.mounts), 0o644); err != nil {
				t.Fatal(err)
			}
			s, err := lookupSysDevice(root, 8, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(s.nodes) != 3 {
				t.Fatalf("found %d nodes, want disk + 2 partitions", len(s.nodes))
			}
			err = s.checkUnused(mi)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("checkUnused() = %v, want %v", err, tt.want)
			}
			if tt.msg != "" && !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not mention %q", err, tt.msg)
			}
		})
	}
}

func TestLookupSysDeviceMissing(t *testing.T) {
	t.Parallel()
	root, _ := fakeSysfs(t)
	if _, err := lookupSysDevice(root, 8, 16); err == nil {
		t.Fatal("lookup of a device absent from sysfs succeeded")
	}
}

func TestOpenRefusesNonBlockDevices(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(file, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	odd := filepath.Join(dir, "odd.img")
	if err := os.WriteFile(odd, make([]byte, 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		opts Options
		want error
	}{
		{file, Options{}, ErrNotBlockDevice},
		{dir, Options{AllowFile: true}, ErrNotBlockDevice},
		{"/dev/null", Options{AllowFile: true}, ErrNotBlockDevice},
	} {
		if _, err := Open(tc.path, tc.opts); !errors.Is(err, tc.want) {
			t.Errorf("Open(%s) = %v, want %v", tc.path, err, tc.want)
		}
	}
	if _, err := Open(odd, Options{AllowFile: true}); err == nil || !strings.Contains(err.Error(), "multiple of 512") {
		t.Errorf("Open(1000-byte file) = %v, want a size error", err)
	}
}

func mkdir(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}
