package disk

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/goipa/goipa/internal/blockdev"
)

// RereadPartitions makes the kernel load the partition table on disk.
// BLKRRPART is retried while the device is busy (udev probing right after a
// write). If it keeps failing, or succeeds without the kernel seeing the
// partitions (a kernel built without the MSDOS/EFI partition parsers),
// partitions are added, resized and removed one by one with BLKPG, as partx
// does. A device that stays busy is logged and tolerated: the table is on
// disk and the next boot reads it.
func (d *Disk) RereadPartitions() error {
	if !d.dev.Block {
		return nil
	}
	rrErr := blockdev.Reread(d.dev.Fd)
	// After a successful BLKRRPART this finds nothing to do, unless the
	// kernel cannot parse the table itself.
	pgErr := d.reconcilePartitions()
	switch {
	case pgErr == nil:
		return nil
	case errors.Is(pgErr, unix.EBUSY):
		d.log.Warn("partition table re-read deferred: device busy", "BLKRRPART", rrErr, "BLKPG", pgErr)
		return nil
	default:
		return fmt.Errorf("re-read partition table of %s: BLKRRPART: %v; BLKPG: %w", d.dev.Path, rrErr, pgErr)
	}
}

// reconcilePartitions brings the kernel's partitions in line with the table
// using BLKPG, leaving unchanged partitions alone.
func (d *Disk) reconcilePartitions() error {
	want := map[int]blockdev.Extent{}
	t, err := d.Partitions()
	switch {
	case errors.Is(err, ErrNoPartitionTable):
	case err != nil:
		return err
	default:
		for _, p := range t.Partitions {
			want[p.Number] = blockdev.Extent{Start: p.Start, Size: p.Size}
		}
	}
	have, err := blockdev.KernelPartitions(d.sysDir)
	if err != nil {
		return err
	}
	return blockdev.SetPartitions(d.dev.Fd, have, want)
}
