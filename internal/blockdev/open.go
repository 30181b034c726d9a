package blockdev

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

var (
	// ErrHeld: the exclusive open failed: a partition is mounted or swap, or
	// md, device-mapper or bcache claims the device.
	ErrHeld = errors.New("device or one of its partitions is in use")
	// ErrReadOnly: the kernel marks the device read-only.
	ErrReadOnly = errors.New("device is read-only")
	// ErrNotBlockDevice: the path is not a block device (nor an allowed file).
	ErrNotBlockDevice = errors.New("not a block device")
)

// File is a device opened to write it whole, as writing an image, erasing
// and burn-in do: exclusively (O_EXCL keeps anyone from claiming it
// meanwhile) and with O_DIRECT where the kernel allows it.
type File struct {
	*os.File
	Path     string
	Fd       int
	Block    bool // false: a regular file (tests, benchmarks)
	Direct   bool // opened with O_DIRECT; otherwise writes go through the page cache
	Size     int64
	LSS, PSS int // logical and physical sector size
}

// Open opens the block device at path; a regular file only with allowFile,
// its size a multiple of 512.
func Open(path string, allowFile bool) (*File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	d := &File{Path: path}
	switch {
	case st.Mode()&os.ModeDevice != 0 && st.Mode()&os.ModeCharDevice == 0:
		d.Block = true
	case st.Mode().IsRegular() && allowFile:
		if st.Size()%512 != 0 {
			return nil, fmt.Errorf("%s: file size %d is not a multiple of 512", path, st.Size())
		}
	default:
		return nil, fmt.Errorf("%s: %w", path, ErrNotBlockDevice)
	}
	flags := os.O_RDWR | unix.O_CLOEXEC
	if d.Block {
		flags |= unix.O_EXCL
	}
	d.File, err = os.OpenFile(path, flags|unix.O_DIRECT, 0)
	if errors.Is(err, unix.EINVAL) {
		d.File, err = os.OpenFile(path, flags, 0)
	} else {
		d.Direct = err == nil
	}
	switch {
	case errors.Is(err, unix.EBUSY):
		return nil, fmt.Errorf("%s: %w (exclusive open failed: mounted, swap, md or dm)", path, ErrHeld)
	case errors.Is(err, unix.EROFS), d.Block && errors.Is(err, unix.EACCES):
		return nil, fmt.Errorf("%s: %w", path, ErrReadOnly)
	case err != nil:
		return nil, err
	}
	d.Fd = int(d.File.Fd())
	if err := d.geometry(st); err != nil {
		d.File.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

func (d *File) geometry(st os.FileInfo) error {
	if !d.Block {
		d.Size, d.LSS, d.PSS = st.Size(), 512, 4096
		return nil
	}
	if ro, err := unix.IoctlGetInt(d.Fd, unix.BLKROGET); err == nil && ro != 0 {
		return ErrReadOnly
	}
	var size uint64
	if err := IoctlPtr(d.Fd, unix.BLKGETSIZE64, &size); err != nil {
		return fmt.Errorf("BLKGETSIZE64: %w", err)
	}
	lss, err := unix.IoctlGetInt(d.Fd, unix.BLKSSZGET)
	if err != nil {
		return fmt.Errorf("BLKSSZGET: %w", err)
	}
	pss, err := unix.IoctlGetInt(d.Fd, unix.BLKPBSZGET)
	if err != nil {
		return fmt.Errorf("BLKPBSZGET: %w", err)
	}
	d.Size, d.LSS, d.PSS = int64(size), lss, max(pss, lss)
	return nil
}

// Flush makes the writes durable and drops the kernel's cached copy of the
// device, so blkid and the kernel's partition scan see what is on disk.
func (d *File) Flush() error {
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", d.Path, err)
	}
	if d.Block {
		if err := unix.IoctlSetInt(d.Fd, unix.BLKFLSBUF, 0); err != nil {
			return fmt.Errorf("BLKFLSBUF %s: %w", d.Path, err)
		}
	}
	return nil
}

// IoctlPtr issues an ioctl whose argument is a pointer to *v.
func IoctlPtr[T any](fd int, req uint, v *T) error {
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(unsafe.Pointer(v))); errno != 0 {
		return errno
	}
	return nil
}
