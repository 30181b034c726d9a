package erase

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"golang.org/x/sys/unix"

	"github.com/goipa/goipa/internal/blockdev"
	"github.com/goipa/goipa/internal/directio"
)

// blockDev is a device opened for erasing: exclusively (O_EXCL fails while
// a partition is mounted, used as swap, or claimed by md or dm, and keeps
// anyone from claiming it meanwhile) and with O_DIRECT where allowed.
type blockDev struct{ *blockdev.File }

func openBlock(path string) (*blockDev, error) {
	d, err := blockdev.Open(path, false)
	if err != nil {
		return nil, err
	}
	return &blockDev{d}, nil
}

// ReadAt reads through an aligned bounce buffer, so callers may read any
// range of an O_DIRECT device. Reads past the end return io.EOF.
func (d *blockDev) ReadAt(p []byte, off int64) (int, error) {
	if off >= d.Size {
		return 0, io.EOF
	}
	unit := int64(d.LSS)
	lo, hi := off/unit*unit, min((off+int64(len(p))+unit-1)/unit*unit, d.Size)
	buf := directio.Buffer(int(hi - lo))
	if _, err := d.File.ReadAt(buf, lo); err != nil {
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
			if _, err := d.File.WriteAt(buf[:n], off); err != nil {
				return fmt.Errorf("zero %s at %d: %w", d.Path, off, err)
			}
			off += n
		}
	}
	return nil
}

// rereadPartitions tells the kernel to drop the partitions it knew. A
// device that stays busy (udev probing right after the writes) is logged
// and tolerated, the table being gone on disk.
func (d *blockDev) rereadPartitions(log *slog.Logger) {
	// EINVAL: a device that cannot be partitioned (a partition, loop without partscan).
	if err := blockdev.Reread(d.Fd); err != nil && !errors.Is(err, unix.EINVAL) {
		log.Warn("re-reading the partition table failed", "device", d.Path, "error", err)
	}
}
