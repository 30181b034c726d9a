package disk

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

const (
	rereadAttempts = 5
	rereadDelay    = 200 * time.Millisecond
)

// RereadPartitions makes the kernel load the partition table on disk.
// BLKRRPART is retried while the device is busy (udev probing right after a
// write). If it keeps failing, or succeeds without the kernel seeing the
// partitions (a kernel built without the MSDOS/EFI partition parsers),
// partitions are added, resized and removed one by one with BLKPG, as partx
// does. A device that stays busy is logged and tolerated: the table is on
// disk and the next boot reads it.
func (d *Disk) RereadPartitions() error {
	if !d.block {
		return nil
	}
	var rrErr error
	for attempt := range rereadAttempts {
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(d.fd), unix.BLKRRPART, 0)
		if errno == 0 {
			rrErr = nil
			break
		}
		rrErr = errno
		if errno != unix.EBUSY {
			break
		}
		time.Sleep(rereadDelay * time.Duration(attempt+1))
	}
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
		return fmt.Errorf("re-read partition table of %s: BLKRRPART: %v; BLKPG: %w", d.path, rrErr, pgErr)
	}
}

// reconcilePartitions brings the kernel's partitions in line with the table
// using BLKPG, leaving unchanged partitions alone.
func (d *Disk) reconcilePartitions() error {
	want := map[int][2]int64{}
	t, err := d.Partitions()
	switch {
	case errors.Is(err, ErrNoPartitionTable):
	case err != nil:
		return err
	default:
		for _, p := range t.Partitions {
			want[p.Number] = [2]int64{p.Start, p.Size}
		}
	}
	have, err := d.kernelPartitions()
	if err != nil {
		return err
	}
	var errs []error
	for n, geo := range have {
		if w, ok := want[n]; ok && w == geo {
			delete(want, n)
			continue
		}
		if err := d.blkpg(unix.BLKPG_DEL_PARTITION, n, 0, 0); err != nil {
			errs = append(errs, fmt.Errorf("delete partition %d: %w", n, err))
			delete(want, n) // cannot re-add over a partition still in use
		}
	}
	for n, geo := range want {
		if err := d.blkpg(unix.BLKPG_ADD_PARTITION, n, geo[0], geo[1]); err != nil {
			errs = append(errs, fmt.Errorf("add partition %d: %w", n, err))
		}
	}
	return errors.Join(errs...)
}

// kernelPartitions reads partition numbers and geometry (bytes) from sysfs,
// which counts in 512-byte units whatever the sector size.
func (d *Disk) kernelPartitions() (map[int][2]int64, error) {
	entries, err := os.ReadDir(d.sysDir)
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
	out := map[int][2]int64{}
	for _, e := range entries {
		dir := filepath.Join(d.sysDir, e.Name())
		n, err := read(dir, "partition")
		if err != nil {
			continue
		}
		start, err1 := read(dir, "start")
		size, err2 := read(dir, "size")
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		out[int(n)] = [2]int64{start * 512, size * 512}
	}
	return out, nil
}

func (d *Disk) blkpg(op int32, n int, start, length int64) error {
	p := unix.BlkpgPartition{Start: start, Length: length, Pno: int32(n)}
	arg := unix.BlkpgIoctlArg{Op: op, Datalen: int32(unsafe.Sizeof(p)), Data: (*byte)(unsafe.Pointer(&p))}
	err := ioctlPtr(d.fd, unix.BLKPG, &arg)
	if errors.Is(err, unix.ENXIO) && op == unix.BLKPG_DEL_PARTITION {
		return nil // already gone
	}
	return err
}
