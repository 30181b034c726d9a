package disk

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goipa/goipa/internal/blockdev"
)

// testDevice is a whole disk sdz (8:0) with partitions sdz1 (8:1) and sdz2
// (8:2) in a temp dir; blockdev's tests cover reading them from sysfs.
func testDevice(t *testing.T) *sysDevice {
	t.Helper()
	disk := t.TempDir()
	d := &blockdev.Device{Dir: disk, Disk: disk, Nodes: []blockdev.Node{{Name: "sdz", Dev: "8:0", Dir: disk}}}
	for i, name := range []string{"sdz1", "sdz2"} {
		part := filepath.Join(disk, name)
		mkdir(t, filepath.Join(part, "holders"))
		d.Nodes = append(d.Nodes, blockdev.Node{Name: name, Dev: fmt.Sprintf("8:%d", i+1), Dir: part})
	}
	mkdir(t, filepath.Join(disk, "holders"))
	return &sysDevice{Device: d, dir: disk}
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
			s := testDevice(t)
			if tt.setup != nil {
				tt.setup(t, s.Dir)
			}
			mi := filepath.Join(t.TempDir(), "mountinfo")
			if err := os.WriteFile(mi, []byte(mountinfoBase+tt.mounts), 0o644); err != nil {
				t.Fatal(err)
			}
			err := s.checkUnused(mi)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("checkUnused() = %v, want %v", err, tt.want)
			}
			if tt.msg != "" && !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not mention %q", err, tt.msg)
			}
		})
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
