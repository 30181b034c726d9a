package ramdisk

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestFSLabel reads labels from images made by the tools Ironic uses:
// genisoimage (mkisofs) and mkfs.vfat.
func TestFSLabel(t *testing.T) {
	needTools(t, "genisoimage", "mkfs.vfat")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(filepath.Join(src, "openstack/latest"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "openstack/latest/network_data.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	iso := func(label string) func(string) []string {
		return func(img string) []string {
			return []string{"genisoimage", "-quiet", "-r", "-J", "-l", "-V", label, "-o", img, src}
		}
	}
	vfat := func(size int64, args ...string) func(string) []string {
		return func(img string) []string {
			if err := os.Truncate(img, size); err != nil {
				t.Fatal(err)
			}
			return append(append([]string{"mkfs.vfat"}, args...), img)
		}
	}
	tests := []struct {
		name      string
		make      func(img string) []string
		fs, label string
		err       error
	}{
		{"config drive ISO", iso("config-2"), fsISO9660, "config-2", nil},
		{"Ironic's boot ISO without network data", iso("VMEDIA_BOOT_ISO"), fsISO9660, "VMEDIA_BOOT_ISO", nil},
		// create_vfat_image: 100 KiB, mkfs -t vfat -n ir-vfd-dev.
		{"Ironic's floppy", vfat(100<<10, "-n", "ir-vfd-dev"), fsVFAT, "ir-vfd-dev", nil},
		{"FAT32", vfat(40<<20, "-F", "32", "-n", "CONFIG-2"), fsVFAT, "CONFIG-2", nil},
		{"FAT without label", vfat(1 << 20), "", "", ErrNoLabel},
		{"blank", func(img string) []string {
			if err := os.Truncate(img, 1<<20); err != nil {
				t.Fatal(err)
			}
			return nil
		}, "", "", ErrNoLabel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "img")
			if err := os.WriteFile(img, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if argv := tt.make(img); argv != nil {
				if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
					t.Fatalf("%v: %v\n%s", argv, err, out)
				}
			}
			f, err := os.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			fs, label, err := fsLabel(f)
			if !errors.Is(err, tt.err) || fs != tt.fs || label != tt.label {
				t.Errorf("fsLabel = %q, %q, %v; want %q, %q, %v", fs, label, err, tt.fs, tt.label, tt.err)
			}
		})
	}
}
