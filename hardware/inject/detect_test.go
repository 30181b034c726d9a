package inject

import (
	"errors"
	"os/exec"
	"testing"

	"github.com/goipa/goipa/tstest/looptest"
)

// TestDetect: the superblocks mkfs writes are recognised, and a device
// without one is refused clearly.
func TestDetect(t *testing.T) {
	dev := newLoop(t, 32<<20)
	for _, tc := range []struct {
		mkfs []string
		want string
	}{{[]string{"mkfs.vfat"}, "vfat"}, {[]string{"mkfs.vfat", "-F", "32"}, "vfat"}, {[]string{"mkfs.ext4", "-q", "-F"}, "ext4"}} {
		run(t, tc.mkfs[0], append(tc.mkfs[1:], dev)...)
		if got, err := detect(dev); err != nil || got[0] != tc.want {
			t.Errorf("%v: detect = %v, %v; want %s", tc.mkfs, got, err, tc.want)
		}
	}
	blank := newLoop(t, 8<<20)
	if _, err := detect(blank); !errors.Is(err, ErrNoFilesystem) {
		t.Errorf("blank device: %v, want ErrNoFilesystem", err)
	}
}

func newLoop(t *testing.T, size int64) string {
	t.Helper()
	dev, _ := looptest.New(t, size)
	return dev
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}
