package disk

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/goipa/goipa/internal/directio"
)

// Options configures Open.
type Options struct {
	// AllowFile accepts a regular file as target (tests, benchmarks). Its
	// size must be a multiple of 512 bytes.
	AllowFile bool
	// SysfsRoot and MountInfo default to /sys and /proc/self/mountinfo; unit
	// tests point them at fake trees.
	SysfsRoot string
	MountInfo string
	Logger    *slog.Logger
}

// Disk is an open target device. Its methods are not safe for concurrent use.
type Disk struct {
	path     string
	f        *os.File
	fd       int
	block    bool // a block device (false: a regular file, tests only)
	direct   bool // opened with O_DIRECT
	size     int64
	lss, pss int // logical / physical sector size
	sysDir   string
	zeroed   bool // PrepareZero succeeded: the whole device reads zeros
	log      *slog.Logger
}

// Open opens path for writing an image. Block devices are opened with
// O_DIRECT|O_EXCL after checking they are not mounted, held or read-only;
// O_EXCL additionally fails (ErrHeld) when anything else claims the device.
func Open(path string, opts Options) (*Disk, error) {
	if opts.SysfsRoot == "" {
		opts.SysfsRoot = "/sys"
	}
	if opts.MountInfo == "" {
		opts.MountInfo = "/proc/self/mountinfo"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	d := &Disk{path: path, log: opts.Logger.With("device", path)}

	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	var sys *sysDevice
	switch {
	case st.Mode()&os.ModeDevice != 0 && st.Mode()&os.ModeCharDevice == 0:
		d.block = true
		rdev := st.Sys().(*syscall.Stat_t).Rdev
		sys, err = lookupSysDevice(opts.SysfsRoot, unix.Major(rdev), unix.Minor(rdev))
		if err != nil {
			return nil, err
		}
		if err := sys.checkUnused(opts.MountInfo); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		d.sysDir = sys.dir
	case st.Mode().IsRegular() && opts.AllowFile:
		if st.Size()%512 != 0 {
			return nil, fmt.Errorf("%s: file size %d is not a multiple of 512", path, st.Size())
		}
	default:
		return nil, fmt.Errorf("%s: %w", path, ErrNotBlockDevice)
	}

	flags := os.O_RDWR | unix.O_CLOEXEC
	if d.block {
		flags |= unix.O_EXCL
	}
	d.f, err = os.OpenFile(path, flags|unix.O_DIRECT, 0)
	if errors.Is(err, unix.EINVAL) {
		d.log.Warn("filesystem refuses O_DIRECT, writing through the page cache")
		d.f, err = os.OpenFile(path, flags, 0)
	} else {
		d.direct = err == nil
	}
	switch {
	case errors.Is(err, unix.EBUSY):
		return nil, fmt.Errorf("%s: %w (exclusive open failed)", path, ErrHeld)
	case errors.Is(err, unix.EROFS), d.block && errors.Is(err, unix.EACCES):
		return nil, fmt.Errorf("%s: %w", path, ErrReadOnly)
	case err != nil:
		return nil, err
	}
	d.fd = int(d.f.Fd())

	if err := d.readGeometry(st); err != nil {
		d.f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	d.log.Debug("opened target", "size", d.size, "logical_sector", d.lss,
		"physical_sector", d.pss, "direct", d.direct)
	return d, nil
}

func (d *Disk) readGeometry(st os.FileInfo) error {
	if !d.block {
		d.size, d.lss, d.pss = st.Size(), 512, 4096
		return nil
	}
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
	pss, err := unix.IoctlGetInt(d.fd, unix.BLKPBSZGET)
	if err != nil {
		return fmt.Errorf("BLKPBSZGET: %w", err)
	}
	d.size, d.lss, d.pss = int64(size), lss, max(pss, lss)
	return nil
}

// Close releases the device.
func (d *Disk) Close() error { return d.f.Close() }

// Path is the path Open was given.
func (d *Disk) Path() string { return d.path }

// Size is the device size in bytes.
func (d *Disk) Size() int64 { return d.size }

// SectorSize is the logical sector size (512 or 4096).
func (d *Disk) SectorSize() int { return d.lss }

// PhysicalSectorSize is the physical sector size.
func (d *Disk) PhysicalSectorSize() int { return d.pss }

// Direct reports whether writes bypass the page cache (O_DIRECT).
func (d *Disk) Direct() bool { return d.direct }

// CheckFits returns ErrTooSmall when an image of size bytes does not fit.
func (d *Disk) CheckFits(size int64) error {
	if size > d.size {
		return fmt.Errorf("%w: image is %d bytes, %s has %d", ErrTooSmall, size, d.path, d.size)
	}
	return nil
}

// readAt reads n bytes at off into a sector-aligned buffer; off and n must
// be multiples of the logical sector size. Reading past the end of a regular
// file yields zeros.
func (d *Disk) readAt(off int64, n int) ([]byte, error) {
	buf := directio.Buffer(n)
	got, err := d.f.ReadAt(buf, off)
	if err == io.EOF && !d.block {
		clear(buf[got:])
		err = nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s at %d: %w", d.path, off, err)
	}
	return buf, nil
}

// writeAt writes p at off; off must be sector-aligned and p is padded with
// zeros to a whole number of sectors, copied through an aligned buffer.
func (d *Disk) writeAt(p []byte, off int64) error {
	const chunk = 4 << 20
	if off%int64(d.lss) != 0 {
		return fmt.Errorf("write %s at %d: offset not sector-aligned", d.path, off)
	}
	buf := directio.Buffer(min(chunk, alignUp(len(p), d.lss)))
	for len(p) > 0 {
		n := copy(buf, p)
		m := alignUp(n, d.lss)
		clear(buf[n:m])
		if off+int64(m) > d.size {
			return fmt.Errorf("write %s at %d: %w", d.path, off, ErrTooSmall)
		}
		if _, err := d.f.WriteAt(buf[:m], off); err != nil {
			return fmt.Errorf("write %s at %d: %w", d.path, off, err)
		}
		p, off = p[n:], off+int64(m)
	}
	return nil
}

// flush makes written data durable and drops the kernel's cached copy of the
// device so that later readers (blkid, the kernel's partition scan) see it.
func (d *Disk) flush() error {
	if err := d.f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", d.path, err)
	}
	if d.block {
		if err := unix.IoctlSetInt(d.fd, unix.BLKFLSBUF, 0); err != nil {
			return fmt.Errorf("BLKFLSBUF %s: %w", d.path, err)
		}
	}
	return nil
}
