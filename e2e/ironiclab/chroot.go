package ironiclab

import (
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// The environment that makes the test binary, re-executed, the chroot
// helper: the root to run in and the lab directory to show there.
const (
	chrootRootEnv = "GOIPA_LAB_CHROOT"
	chrootDirEnv  = "GOIPA_LAB_CHROOT_DIR"
)

// RunChrootHelper turns the process into a command in a release's root
// when the lab started it as its chroot helper, and returns otherwise.
// Test binaries that start Ironic 35 call it first in TestMain.
func RunChrootHelper() {
	root := os.Getenv(chrootRootEnv)
	if root == "" {
		return
	}
	if err := enterRoot(root, os.Getenv(chrootDirEnv)); err != nil {
		slog.Error("chroot helper", "root", root, "err", err)
		os.Exit(1)
	}
	env := make([]string, 0, len(os.Environ()))
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != chrootRootEnv && k != chrootDirEnv {
			env = append(env, kv)
		}
	}
	err := syscall.Exec(os.Args[1], os.Args[1:], env)
	slog.Error("chroot helper", "argv", os.Args[1:], "err", err)
	os.Exit(1)
}

// enterRoot shows /proc, /sys, /dev and dir (at the same path, on a tmpfs
// over the root's copy of the temporary directory, so the shared root is
// not written) inside root, then chroots there and changes to dir. The
// process runs in a mount namespace of its own (chrootCommand), so none of
// this reaches the host's mount table.
func enterRoot(root, dir string) error {
	for _, d := range []string{"/proc", "/sys", "/dev"} {
		if err := syscall.Mount(d, filepath.Join(root, d), "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s: %w", d, err)
		}
	}
	tmp := filepath.Join(root, os.TempDir())
	if err := os.MkdirAll(tmp, 0o1777); err != nil {
		return err
	}
	if err := syscall.Mount("tmpfs", tmp, "tmpfs", 0, "mode=1777"); err != nil {
		return fmt.Errorf("tmpfs on %s: %w", tmp, err)
	}
	if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
		return err
	}
	if err := syscall.Mount(dir, filepath.Join(root, dir), "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s: %w", dir, err)
	}
	if err := syscall.Chroot(root); err != nil {
		return err
	}
	return os.Chdir(dir)
}

// chrootCommand runs argv inside root through the test binary as chroot
// helper, in a private mount namespace that ends with the command.
func chrootCommand(root, dir string, argv ...string) (*exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, argv...)
	cmd.Env = append(os.Environ(), chrootRootEnv+"="+root, chrootDirEnv+"="+dir)
	// Go makes the new namespace's mounts private (MS_REC|MS_PRIVATE on /)
	// before the helper mounts anything.
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS, Setpgid: true}
	return cmd, nil
}
