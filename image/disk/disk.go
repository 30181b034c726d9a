package disk

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/goipa/goipa/internal/blockdev"
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
	dev    *blockdev.File
	sysDir string
	zeroed bool // PrepareZero succeeded: the whole device reads zeros
	log    *slog.Logger
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
	d := &Disk{log: opts.Logger.With("device", path)}

	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Mode()&os.ModeDevice != 0 && st.Mode()&os.ModeCharDevice == 0 {
		rdev := st.Sys().(*syscall.Stat_t).Rdev
		sys, err := lookupSysDevice(opts.SysfsRoot, unix.Major(rdev), unix.Minor(rdev))
		if err != nil {
			return nil, err
		}
		if err := sys.checkUnused(opts.MountInfo); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		d.sysDir = sys.dir
	}
	if d.dev, err = blockdev.Open(path, opts.AllowFile); err != nil {
		return nil, err
	}
	if !d.dev.Direct {
		d.log.Warn("filesystem refuses O_DIRECT, writing through the page cache")
	}
	d.log.Debug("opened target", "size", d.dev.Size, "logical_sector", d.dev.LSS,
		"physical_sector", d.dev.PSS, "direct", d.dev.Direct)
	return d, nil
}

// Close releases the device.
func (d *Disk) Close() error { return d.dev.File.Close() }

// Path is the path Open was given.
func (d *Disk) Path() string { return d.dev.Path }

// Size is the device size in bytes.
func (d *Disk) Size() int64 { return d.dev.Size }

// SectorSize is the logical sector size (512 or 4096).
func (d *Disk) SectorSize() int { return d.dev.LSS }

// PhysicalSectorSize is the physical sector size.
func (d *Disk) PhysicalSectorSize() int { return d.dev.PSS }

// Direct reports whether writes bypass the page cache (O_DIRECT).
func (d *Disk) Direct() bool { return d.dev.Direct }

// CheckFits returns ErrTooSmall when an image of size bytes does not fit.
func (d *Disk) CheckFits(size int64) error {
	if size > d.dev.Size {
		return fmt.Errorf("%w: image is %d bytes, %s has %d", ErrTooSmall, size, d.dev.Path, d.dev.Size)
	}
	return nil
}

// readAt reads n bytes at off into a sector-aligned buffer; off and n must
// be multiples of the logical sector size. Reading past the end of a regular
// file yields zeros.
func (d *Disk) readAt(off int64, n int) ([]byte, error) {
	buf := directio.Buffer(n)
	got, err := d.dev.File.ReadAt(buf, off)
	if err == io.EOF && !d.dev.Block {
		clear(buf[got:])
		err = nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s at %d: %w", d.dev.Path, off, err)
	}
	return buf, nil
}

// writeAt writes p at off; off must be sector-aligned and p is padded with
// zeros to a whole number of sectors, copied through an aligned buffer.
func (d *Disk) writeAt(p []byte, off int64) error {
	const chunk = 4 << 20
	if off%int64(d.dev.LSS) != 0 {
		return fmt.Errorf("write %s at %d: offset not sector-aligned", d.dev.Path, off)
	}
	buf := directio.Buffer(min(chunk, alignUp(len(p), d.dev.LSS)))
	for len(p) > 0 {
		n := copy(buf, p)
		m := alignUp(n, d.dev.LSS)
		clear(buf[n:m])
		if off+int64(m) > d.dev.Size {
			return fmt.Errorf("write %s at %d: %w", d.dev.Path, off, ErrTooSmall)
		}
		if _, err := d.dev.File.WriteAt(buf[:m], off); err != nil {
			return fmt.Errorf("write %s at %d: %w", d.dev.Path, off, err)
		}
		p, off = p[n:], off+int64(m)
	}
	return nil
}
