package mdadm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/procfs"
)

// Arrays lists the arrays in /proc/mdstat. A kernel without the md driver
// has no /proc/mdstat and therefore no arrays.
func (t *Tool) Arrays() ([]procfs.MDStat, error) {
	fs, err := procfs.NewFS(t.ProcDir)
	if err != nil {
		return nil, fmt.Errorf("mdstat: %w", err)
	}
	arrays, err := fs.MDStat()
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("mdstat: %w", err)
	}
	return arrays, nil
}

// syncing reports whether a resync, recovery, check or reshape is running
// or pending (resync=DELAYED counts) for the kernel array name ("md127").
func (t *Tool) syncing(name string) (bool, error) {
	b, err := os.ReadFile(filepath.Join(t.SysDir, "block", name, "md", "sync_action"))
	if err == nil {
		switch strings.TrimSpace(string(b)) {
		case "idle", "frozen":
			return false, nil
		}
		return true, nil
	}
	// RAID-0 has no sync_action; mdstat knows every array.
	arrays, err := t.Arrays()
	if err != nil {
		return false, err
	}
	for _, a := range arrays {
		if a.Name == name {
			switch a.ActivityState {
			case "resyncing", "recovering", "checking", "reshaping":
				return true, nil
			}
			return false, nil
		}
	}
	return false, fmt.Errorf("%s: %w", name, ErrNotMD)
}

// WaitSync waits until the array has no resync, recovery or reshape running
// or pending, polling sysfs every t.Poll.
func (t *Tool) WaitSync(ctx context.Context, array string) error {
	dev, err := filepath.EvalSymlinks(t.Path(array))
	if err != nil {
		return fmt.Errorf("wait for %s: %w", array, err)
	}
	name := filepath.Base(dev)
	for {
		busy, err := t.syncing(name)
		if err != nil {
			return fmt.Errorf("wait for %s: %w", array, err)
		}
		if !busy {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w", array, ctx.Err())
		case <-time.After(t.Poll):
		}
	}
}

// Size is the array's size in bytes, from sysfs.
func (t *Tool) Size(array string) (int64, error) {
	dev, err := filepath.EvalSymlinks(t.Path(array))
	if err != nil {
		return 0, fmt.Errorf("size of %s: %w", array, err)
	}
	b, err := os.ReadFile(filepath.Join(t.SysDir, "block", filepath.Base(dev), "size"))
	if err != nil {
		return 0, fmt.Errorf("size of %s: %w", array, err)
	}
	sectors, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("size of %s: %w", array, err)
	}
	return sectors * 512, nil
}
