package inject

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// ErrNoFilesystem: the device holds no filesystem the agent can write to.
var ErrNoFilesystem = errors.New("no writable filesystem found")

// signatures are the superblock magics of the filesystems an instance
// image keeps files on; each lists the kernel types to try, in order.
var signatures = []struct {
	off   int64
	magic []byte
	types []string
}{
	{0x438, []byte{0x53, 0xef}, []string{"ext4", "ext3", "ext2"}},
	{0, []byte("XFSB"), []string{"xfs"}},
	{0x10040, []byte("_BHRfS_M"), []string{"btrfs"}},
	{0x52, []byte("FAT32   "), []string{"vfat"}},
	{0x36, []byte("FAT16   "), []string{"vfat"}},
	{0x36, []byte("FAT12   "), []string{"vfat"}},
	{0x36, []byte("FAT     "), []string{"vfat"}},
}

// detect returns the kernel filesystem types to mount dev with.
func detect(dev string) ([]string, error) {
	f, err := os.Open(dev)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	for _, s := range signatures {
		b := make([]byte, len(s.magic))
		if _, err := f.ReadAt(b, s.off); err != nil {
			if errors.Is(err, io.EOF) {
				continue
			}
			return nil, fmt.Errorf("reading %s: %w", dev, err)
		}
		if bytes.Equal(b, s.magic) {
			return s.types, nil
		}
	}
	return nil, fmt.Errorf("%s: %w (ext2/3/4, xfs, btrfs or vfat)", dev, ErrNoFilesystem)
}

// mounted is a filesystem mounted on a fresh directory.
type mounted struct {
	dev, dir, fstype string
}

// mount mounts dev, of the detected type, on a new directory under parent
// (nosuid, nodev, noexec: only files are written).
func mount(dev, parent string) (*mounted, error) {
	types, err := detect(dev)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(parent, "goipa-inject-")
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, t := range types {
		err := unix.Mount(dev, dir, t, unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
		if err == nil {
			return &mounted{dev: dev, dir: dir, fstype: t}, nil
		}
		if errors.Is(err, unix.ENODEV) {
			err = fmt.Errorf("%w (the kernel has no %s support)", err, t)
		}
		errs = append(errs, fmt.Errorf("as %s: %w", t, err))
	}
	os.Remove(dir)
	return nil, fmt.Errorf("mounting %s: %w", dev, errors.Join(errs...))
}

// unmount unmounts (retrying while busy, as a scan by udev may hold it a
// moment) and removes the directory.
func (m *mounted) unmount() error {
	var err error
	for attempt := range 5 {
		if err = unix.Unmount(m.dir, 0); !errors.Is(err, unix.EBUSY) {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 100 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("unmounting %s from %s: %w", m.dev, m.dir, err)
	}
	return os.Remove(m.dir)
}
