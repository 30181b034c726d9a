package erase

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// PstoreDir is where the kernel's pstore filesystem is normally mounted.
const PstoreDir = "/sys/fs/pstore"

// Pstore is IPA's erase_pstore: it deletes everything in the pstore
// filesystem (crash logs the firmware keeps in NVRAM across boots). With
// dir "" it uses the mounted pstore, mounting it on PstoreDir first if
// nothing has (a bare initramfs does not), and does nothing on a kernel
// without pstore.
func Pstore(ctx context.Context, dir string) error {
	if dir == "" {
		var err error
		if dir, err = pstoreMount(); err != nil || dir == "" {
			return err
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("erase pstore: %w", err)
	}
	var errs []error
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("erase pstore: %w", err)
	}
	return nil
}

// pstoreMount finds the pstore mount in /proc/self/mounts, or mounts it.
func pstoreMount() (string, error) {
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) >= 3 && fields[2] == "pstore" {
			return unescape(fields[1]), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	switch err := unix.Mount("pstore", PstoreDir, "pstore", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); {
	case err == nil:
		return PstoreDir, nil
	case errors.Is(err, unix.ENODEV), errors.Is(err, unix.ENOENT):
		return "", nil // no pstore in this kernel
	default:
		return "", fmt.Errorf("mount pstore on %s: %w", PstoreDir, err)
	}
}
