package ramdisk

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// IsInit reports whether goipa is the ramdisk's /init (PID 1 on a root
// file system in RAM) rather than u-root init's uinit (the debug image keeps
// u-root init for its shell). PID 1 of a PID namespace on a dev host has a
// disk-backed root: it must not mount over /tmp or change the console's
// log level, which are the host's. statfs needs no /proc, which /init has
// yet to mount.
func IsInit() bool { return os.Getpid() == 1 && rootInRAM() }

func rootInRAM() bool {
	var st unix.Statfs_t
	if err := unix.Statfs("/", &st); err != nil {
		return false
	}
	return st.Type == unix.RAMFS_MAGIC || st.Type == unix.TMPFS_MAGIC
}

// initMounts are the file systems a PID 1 owes everyone else; u-root's init
// mounted them before goipa became /init. Order matters: /proc first, as
// doMounts reads /proc/self/mounts.
var initMounts = []mount{
	{source: "devtmpfs", target: "/dev", fstype: "devtmpfs", flags: unix.MS_NOSUID, data: "mode=0755"},
	{source: "devpts", target: "/dev/pts", fstype: "devpts", flags: unix.MS_NOSUID | unix.MS_NOEXEC, data: "newinstance,ptmxmode=0666,gid=5,mode=0620"},
	{source: "sysfs", target: "/sys", fstype: "sysfs", flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
	{source: "tmpfs", target: "/tmp", fstype: "tmpfs", flags: unix.MS_NOSUID | unix.MS_NODEV},
}

// initPath is where the ramdisk keeps programs (mdadm in /sbin, u-root's
// busybox links in /bbin).
const initPath = "/sbin:/bin:/bbin:/usr/sbin:/usr/bin"

// consoleLevel is KERN_NOTICE: below it, driver chatter stays off the
// serial console, where every line costs time under emulation.
const consoleLevel = 5

// InitRoot does PID 1's share of the ramdisk set-up: kernel file systems,
// PATH, and the console log level unless the kernel command line chose one
// (loglevel=, quiet, debug).
func InitRoot() error {
	var errs []error
	if err := os.MkdirAll("/proc", 0o555); err != nil {
		errs = append(errs, err)
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil && !errors.Is(err, unix.EBUSY) {
		errs = append(errs, fmt.Errorf("mount proc on /proc: %w", err))
	}
	if err := doMounts(initMounts); err != nil {
		errs = append(errs, err)
	}
	if err := os.Setenv("PATH", initPath); err != nil {
		errs = append(errs, err)
	}
	if b, err := os.ReadFile("/proc/cmdline"); err == nil && !hasLoglevel(string(b)) {
		if err := unix.Klogset(unix.SYSLOG_ACTION_CONSOLE_LEVEL, consoleLevel); err != nil {
			errs = append(errs, fmt.Errorf("console log level: %w", err))
		}
	}
	return errors.Join(errs...)
}

func hasLoglevel(cmdline string) bool {
	for _, f := range strings.Fields(cmdline) {
		if strings.HasPrefix(f, "loglevel=") || f == "quiet" || f == "debug" {
			return true
		}
	}
	return false
}
