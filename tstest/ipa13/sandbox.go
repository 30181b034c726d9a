// Package ipa13 runs Debian forky's IPA 13.0.0 (from the root `make
// deps-ironic35` builds) as a host process for the benchmarks, so goipa is
// timed against the agent it replaces on the same loop device.
//
// IPA runs chrooted in that root, seen through an overlay whose upper layer
// is a tmpfs (the shared root is never written), in a private mount
// namespace where /dev holds one block device, the bench's loop device,
// and /sys is read-only: IPA lists every disk in /sys/block but can open
// none but that one. It shares the host's network (its API and Ironic's
// are on 127.0.0.1) but may not configure it, nor power anything off.
package ipa13

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// The environment that makes the test binary, re-executed, the sandbox
// helper.
const (
	rootEnv = "GOIPA_IPA13_ROOT" // the forky root
	loopEnv = "GOIPA_IPA13_LOOP" // the one block device IPA sees
	dirEnv  = "GOIPA_IPA13_DIR"  // a host directory for the helper's mount points
)

// RunHelper turns the process into IPA in its sandbox (or into the lsblk
// filter, see lsblk.go) when this package started it, and returns
// otherwise. Test binaries that start IPA call it first in TestMain.
func RunHelper() {
	if os.Getenv(lsblkEnv) != "" && filepath.Base(os.Args[0]) == "lsblk" {
		os.Exit(runLsblk(os.Args[1:]))
	}
	root := os.Getenv(rootEnv)
	if root == "" {
		return
	}
	if err := enter(root, os.Getenv(dirEnv), os.Getenv(loopEnv)); err != nil {
		slog.Error("ipa13 sandbox", "err", err)
		os.Exit(1)
	}
	env := []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TMPDIR=/tmp", "HOME=/root", "LANG=C.UTF-8", lsblkEnv + "=1"}
	err := syscall.Exec(os.Args[1], os.Args[1:], env)
	slog.Error("ipa13 sandbox", "argv", os.Args[1:], "err", err)
	os.Exit(1)
}

// enter builds the sandbox under dir and chroots into it.
func enter(root, dir, loop string) error {
	if !strings.HasPrefix(loop, "/dev/loop") {
		return fmt.Errorf("refusing %q: not a loop device", loop)
	}
	var st unix.Stat_t
	if err := unix.Stat(loop, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return fmt.Errorf("%s is not a block device: %v", loop, err)
	}
	upper, merged := filepath.Join(dir, "upper"), filepath.Join(dir, "merged")
	for _, d := range []string{upper, merged} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := mount("tmpfs", upper, "tmpfs", 0, "mode=0755"); err != nil {
		return err
	}
	for _, d := range []string{"u", "w"} {
		if err := os.Mkdir(filepath.Join(upper, d), 0o755); err != nil {
			return err
		}
	}
	if err := mount("overlay", merged, "overlay", 0,
		"lowerdir="+root+",upperdir="+filepath.Join(upper, "u")+",workdir="+filepath.Join(upper, "w")); err != nil {
		return err
	}
	at := func(p string) string { return filepath.Join(merged, p) }
	if err := mount("/proc", at("/proc"), "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	if err := mount("/sys", at("/sys"), "", unix.MS_BIND, ""); err != nil {
		return err
	}
	if err := mount("", at("/sys"), "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		return err
	}
	// TMPDIR, where IPA keeps a qcow2 image whole: a tmpfs of its own,
	// which the bench counts as memory (a ramdisk has no disk to spare).
	if err := mount("tmpfs", at("/tmp"), "tmpfs", 0, "mode=1777"); err != nil {
		return err
	}
	if err := makeDev(at("/dev"), loop, st.Rdev); err != nil {
		return err
	}
	if err := lsblkFilter(merged); err != nil {
		return err
	}
	// IPA powers off through sysrq when poweroff fails, as it does here.
	if sysrq := at("/proc/sysrq-trigger"); exists(sysrq) {
		if err := mount(at("/dev/null"), sysrq, "", unix.MS_BIND, ""); err != nil {
			return err
		}
	}
	if err := unix.Chroot(merged); err != nil {
		return err
	}
	if err := os.Chdir("/"); err != nil {
		return err
	}
	return dropCaps()
}

// dropCaps takes from IPA and every program it starts what would reach
// beyond the sandbox into the host it shares a network and a kernel with:
// power off (reboot(2)), the network (lockdown sets every interface
// down), kernel modules and the clock.
func dropCaps() error {
	for _, c := range []uintptr{unix.CAP_SYS_BOOT, unix.CAP_NET_ADMIN, unix.CAP_SYS_MODULE, unix.CAP_SYS_TIME} {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, c, 0, 0, 0); err != nil {
			return fmt.Errorf("dropping capability %d: %w", c, err)
		}
	}
	return nil
}

// makeDev mounts a /dev that holds the loop device and the character
// devices every program expects, and no other block device.
func makeDev(dev, loop string, rdev uint64) error {
	if err := mount("tmpfs", dev, "tmpfs", unix.MS_NOSUID, "mode=0755"); err != nil {
		return err
	}
	nodes := []struct {
		name  string
		mode  uint32
		major uint32
		minor uint32
	}{{"null", unix.S_IFCHR | 0o666, 1, 3}, {"zero", unix.S_IFCHR | 0o666, 1, 5}, {"full", unix.S_IFCHR | 0o666, 1, 7},
		{"random", unix.S_IFCHR | 0o666, 1, 8}, {"urandom", unix.S_IFCHR | 0o666, 1, 9}}
	for _, n := range nodes {
		if err := unix.Mknod(filepath.Join(dev, n.name), n.mode, int(unix.Mkdev(n.major, n.minor))); err != nil {
			return fmt.Errorf("mknod %s: %w", n.name, err)
		}
	}
	if err := unix.Mknod(filepath.Join(dev, filepath.Base(loop)), unix.S_IFBLK|0o660, int(rdev)); err != nil {
		return fmt.Errorf("mknod %s: %w", loop, err)
	}
	for name, target := range map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
		"stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		if err := os.Symlink(target, filepath.Join(dev, name)); err != nil {
			return err
		}
	}
	return os.Mkdir(filepath.Join(dev, "shm"), 0o1777)
}

func mount(src, dst, fstype string, flags uintptr, data string) error {
	if err := unix.Mount(src, dst, fstype, flags, data); err != nil {
		return fmt.Errorf("mount %s on %s: %w", src, dst, err)
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
