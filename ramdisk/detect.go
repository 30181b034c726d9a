package ramdisk

import (
	"io"
	"os"
)

// Detect reports whether this process is goipa inside its own ramdisk: the
// root file system is the initramfs (rootfs, or tmpfs/ramfs) and goipa is
// PID 1 or its child (u-root's init, in the debug image). Anything else — a
// container, a test run, goipa started by hand on an installed system — must
// leave the machine alone.
func Detect() bool {
	if !IsInit() && os.Getppid() != 1 {
		return false
	}
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		return false
	}
	defer f.Close()
	return rootIsRAM(f)
}

// rootIsRAM reads /proc/mounts; the last mount on "/" is the visible one.
func rootIsRAM(r io.Reader) bool {
	root := ""
	if err := eachMount(r, func(target, fstype string) {
		if target == "/" {
			root = fstype
		}
	}); err != nil {
		return false
	}
	switch root {
	case "rootfs", "tmpfs", "ramfs":
		return true
	}
	return false
}
