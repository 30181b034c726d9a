package erase

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/goipa/goipa/internal/blockdev"
	"github.com/goipa/goipa/internal/directio"
)

// blockDev is a device opened for erasing: exclusively (O_EXCL fails while
// a partition is mounted, used as swap, or claimed by md or dm, and keeps
// anyone from claiming it meanwhile) and with O_DIRECT where allowed.
type blockDev struct {
	path   string
	f      *os.File
	fd     int
	size   int64
	lss    int
	direct bool // opened with O_DIRECT
}

// Exclusive is a block device opened as erase opens one (exclusively,
// refusing one that is held, mounted or read-only), for other steps that
// write whole devices.
type Exclusive struct {
	File   *os.File
	Size   int64
	Direct bool // opened with O_DIRECT; otherwise reads go through the page cache
}

// OpenExclusive opens path as erase does; the caller closes File.
func OpenExclusive(path string) (*Exclusive, error) {
	d, err := openBlock(path)
	if err != nil {
		return nil, err
	}
	return &Exclusive{File: d.f, Size: d.size, Direct: d.direct}, nil
}

func openBlock(path string) (*blockDev, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Mode()&os.ModeDevice == 0 || st.Mode()&os.ModeCharDevice != 0 {
		return nil, fmt.Errorf("%s: %w", path, ErrNotBlockDevice)
	}
	flags := os.O_RDWR | unix.O_EXCL | unix.O_CLOEXEC
	direct := true
	f, err := os.OpenFile(path, flags|unix.O_DIRECT, 0)
	if errors.Is(err, unix.EINVAL) {
		direct = false
		f, err = os.OpenFile(path, flags, 0)
	}
	switch {
	case errors.Is(err, unix.EBUSY):
		return nil, fmt.Errorf("%s: %w (exclusive open failed: mounted, swap, md or dm)", path, ErrHeld)
	case errors.Is(err, unix.EROFS), errors.Is(err, unix.EACCES):
		return nil, fmt.Errorf("%s: %w", path, ErrReadOnly)
	case err != nil:
		return nil, err
	}
	d := &blockDev{path: path, f: f, fd: int(f.Fd()), direct: direct}
	if err := d.geometry(); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

func (d *blockDev) geometry() error {
	if ro, err := unix.IoctlGetInt(d.fd, unix.BLKROGET); err == nil && ro != 0 {
		return ErrReadOnly
	}
	var size uint64
	if err := ioctlPtr(d.fd, unix.BLKGETSIZE64, &size); err != nil {
		return fmt.Errorf("BLKGETSIZE64: %w", err)
	}
	lss, err := unix.IoctlGetInt(d.fd, unix.BLKSSZGET)
	if err != nil {
		return fmt.Errorf("BLKSSZGET: %w", err)
	}
	d.size, d.lss = int64(size), lss
	return nil
}

func (d *blockDev) Close() error { return d.f.Close() }

// ioctlPtr issues an ioctl whose argument is a pointer to *v.
func ioctlPtr[T any](fd int, req uint, v *T) error {
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(unsafe.Pointer(v))); errno != 0 {
		return errno
	}
	return nil
}

// ReadAt reads through an aligned bounce buffer, so callers may read any
// range of an O_DIRECT device. Reads past the end return io.EOF.
func (d *blockDev) ReadAt(p []byte, off int64) (int, error) {
	if off >= d.size {
		return 0, io.EOF
	}
	unit := int64(d.lss)
	lo, hi := off/unit*unit, min((off+int64(len(p))+unit-1)/unit*unit, d.size)
	buf := directio.Buffer(int(hi - lo))
	if _, err := d.f.ReadAt(buf, lo); err != nil {
		return 0, err
	}
	n := copy(p, buf[off-lo:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// zero writes zeros over spans (sector-aligned).
func (d *blockDev) zero(ctx context.Context, spans []span) error {
	buf := directio.Buffer(edge)
	for _, s := range spans {
		for off, end := s.off, s.off+s.n; off < end; {
			if err := ctx.Err(); err != nil {
				return err
			}
			n := min(int64(len(buf)), end-off)
			if _, err := d.f.WriteAt(buf[:n], off); err != nil {
				return fmt.Errorf("zero %s at %d: %w", d.path, off, err)
			}
			off += n
		}
	}
	return nil
}

// flush makes the writes durable and drops the kernel's cached copy of the
// device, so blkid and the partition scan see what is on disk.
func (d *blockDev) flush() error {
	if err := d.f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", d.path, err)
	}
	if err := unix.IoctlSetInt(d.fd, unix.BLKFLSBUF, 0); err != nil {
		return fmt.Errorf("BLKFLSBUF %s: %w", d.path, err)
	}
	return nil
}

// rereadPartitions tells the kernel to drop the partitions it knew. A
// device that stays busy (udev probing right after the writes) is logged
// and tolerated, the table being gone on disk.
func (d *blockDev) rereadPartitions(log *slog.Logger) {
	// EINVAL: a device that cannot be partitioned (a partition, loop without partscan).
	if err := blockdev.Reread(d.fd); err != nil && !errors.Is(err, unix.EINVAL) {
		log.Warn("re-reading the partition table failed", "device", d.path, "error", err)
	}
}
