package blockdev

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Extent is where a partition lies on its disk, in bytes.
type Extent struct{ Start, Size int64 }

const (
	rereadAttempts = 5
	rereadDelay    = 200 * time.Millisecond
)

// Reread asks the kernel to re-read the partition table of the open disk fd
// (BLKRRPART), retrying while the device is busy (udev probing right after
// a write). It returns the last error: EBUSY when it stayed busy, EINVAL
// for a device that cannot be partitioned.
func Reread(fd int) error {
	var errno unix.Errno
	for attempt := range rereadAttempts {
		_, _, errno = unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.BLKRRPART, 0)
		if errno != unix.EBUSY {
			break
		}
		time.Sleep(rereadDelay * time.Duration(attempt+1))
	}
	if errno != 0 {
		return errno
	}
	return nil
}

// KernelPartitions reads the partitions the kernel knows of the disk whose
// sysfs directory is dir, by number. Sysfs counts in 512-byte units whatever
// the sector size.
func KernelPartitions(dir string) (map[int]Extent, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	read := func(dir, name string) (int64, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return 0, err
		}
		return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	}
	out := map[int]Extent{}
	for _, e := range entries {
		sub := filepath.Join(dir, e.Name())
		n, err := read(sub, "partition")
		if err != nil {
			continue
		}
		start, err1 := read(sub, "start")
		size, err2 := read(sub, "size")
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		out[int(n)] = Extent{start * 512, size * 512}
	}
	return out, nil
}

// SetPartitions makes the kernel's partitions of the open disk fd, now
// have, into want with BLKPG ioctls, as partx does: there is no udev or
// partprobe, and BLKRRPART needs the kernel's own table parsers. Unchanged
// partitions stay; a partition that cannot be deleted (in use) is not
// re-added. All failures are returned together.
func SetPartitions(fd int, have, want map[int]Extent) error {
	add := make(map[int]Extent, len(want))
	for n, e := range want {
		add[n] = e
	}
	var errs []error
	for n, e := range have {
		if w, ok := add[n]; ok && w == e {
			delete(add, n)
			continue
		}
		if err := blkpg(fd, unix.BLKPG_DEL_PARTITION, n, Extent{}); err != nil && !errors.Is(err, unix.ENXIO) {
			errs = append(errs, fmt.Errorf("delete partition %d: %w", n, err))
			delete(add, n)
		}
	}
	for n, e := range add {
		if err := blkpg(fd, unix.BLKPG_ADD_PARTITION, n, e); err != nil {
			errs = append(errs, fmt.Errorf("add partition %d: %w", n, err))
		}
	}
	return errors.Join(errs...)
}

func blkpg(fd int, op int32, n int, e Extent) error {
	p := unix.BlkpgPartition{Start: e.Start, Length: e.Size, Pno: int32(n)}
	arg := unix.BlkpgIoctlArg{Op: op, Datalen: int32(unsafe.Sizeof(p)), Data: (*byte)(unsafe.Pointer(&p))}
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.BLKPG, uintptr(unsafe.Pointer(&arg))); errno != 0 {
		return errno
	}
	return nil
}
