package ramdisk

import (
	"strings"
	"testing"
)

func TestRootIsRAM(t *testing.T) {
	tests := []struct {
		name, mounts string
		want         bool
	}{
		{name: "u-root initramfs", want: true, mounts: "rootfs / rootfs rw 0 0\nproc /proc proc rw 0 0\ntmpfs /tmp tmpfs rw 0 0\n"},
		{name: "tmpfs root", want: true, mounts: "none / tmpfs rw 0 0\n"},
		{name: "installed system", mounts: "/dev/vda1 / ext4 rw,relatime 0 0\ntmpfs /run tmpfs rw 0 0\n"},
		{name: "container", mounts: "overlay / overlay rw 0 0\n"},
		// switch_root style: the last mount on / wins.
		{name: "rootfs shadowed", mounts: "rootfs / rootfs rw 0 0\n/dev/sda2 / xfs rw 0 0\n"},
		{name: "tmpfs elsewhere only", mounts: "/dev/sda2 / xfs rw 0 0\ntmpfs /tmp/ tmpfs rw 0 0\n"},
		{name: "empty", mounts: ""},
	}
	for _, tt := range tests {
		if got := rootIsRAM(strings.NewReader(tt.mounts)); got != tt.want {
			t.Errorf("%s: rootIsRAM = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestDetectOnTestHost(t *testing.T) {
	// go test's parent is the go command, never PID 1.
	if Detect() {
		t.Error("Detect() = true in a test process")
	}
}

func TestUnescapeMount(t *testing.T) {
	for in, want := range map[string]string{
		`/mnt/with\040space`: "/mnt/with space",
		`/a\011tab\134b`:     "/a\ttab\\b",
		`/plain`:             "/plain",
		`/short\04`:          `/short\04`,
	} {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}
