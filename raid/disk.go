package raid

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/diskfs/go-diskfs/partition/gpt"

	"github.com/goipa/goipa/internal/blockdev"
)

// ErrNotClean: a disk chosen for the RAID still holds a partition table or
// an md superblock.
var ErrNotClean = errors.New("disk is not clean")

// hasPartitionTable reports an MBR (or protective MBR) signature or a GPT
// header on d.
func hasPartitionTable(d Device) (bool, error) {
	f, err := os.Open(d.Path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	lss := sectorSize(d)
	b := make([]byte, 2*lss)
	if _, err := f.ReadAt(b, 0); err != nil {
		return false, fmt.Errorf("read %s: %w", d.Path, err)
	}
	return b[510] == 0x55 && b[511] == 0xaa || bytes.Equal(b[lss:lss+8], []byte("EFI PART")), nil
}

// writeGPT replaces the partition table of h: the first and last MiB of the
// disk and of every new partition are zeroed first, so no old table, file
// system or md superblock shows through, then go-diskfs writes a protective
// MBR and both GPT copies.
func writeGPT(h Holder) error {
	f, err := os.OpenFile(h.Path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	zero := make([]byte, MiB)
	ranges := []int64{0, h.Size - MiB}
	for _, p := range h.Partitions {
		ranges = append(ranges, p.Start, p.Start+p.Size-MiB)
	}
	for _, off := range ranges {
		if _, err := f.WriteAt(zero, off); err != nil {
			return fmt.Errorf("wipe %s at %d: %w", h.Path, off, err)
		}
	}
	lss := sectorSize(h.Device)
	t := &gpt.Table{LogicalSectorSize: int(lss), PhysicalSectorSize: int(lss), ProtectiveMBR: true}
	for _, p := range h.Partitions {
		t.Partitions = append(t.Partitions, &gpt.Partition{Index: p.Number, Start: uint64(p.Start / lss),
			End: uint64((p.Start+p.Size)/lss - 1), Size: uint64(p.Size), Type: p.Type, Name: p.Name})
	}
	if err := t.Write(f, h.Size); err != nil {
		return fmt.Errorf("write GPT on %s: %w", h.Path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write GPT on %s: %w", h.Path, err)
	}
	return nil
}

// wipeTable zeroes the first and last MiB of a disk: MBR, both GPT copies
// and whatever superblock sat there.
func wipeTable(d Device) error {
	f, err := os.OpenFile(d.Path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	zero := make([]byte, MiB)
	for _, off := range []int64{0, max(0, d.Size-MiB)} {
		if _, err := f.WriteAt(zero, off); err != nil {
			return fmt.Errorf("wipe %s: %w", d.Path, err)
		}
	}
	return f.Sync()
}

// KernelPartitions tells the kernel about a disk's partitions with BLKPG
// ioctls: there is no udev or partprobe, and BLKRRPART is not enough on
// every kernel. Old partitions 1..maxPartitions are dropped first; a busy
// one (an md member still running) is an error.
type KernelPartitions struct {
	SysDir string // "/sys"
}

const maxPartitions = 128

// Set makes the kernel's partitions of disk exactly parts.
func (k KernelPartitions) Set(disk Device, parts []Partition) error {
	f, err := os.OpenFile(disk.Path, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fd := int(f.Fd())
	if err := blockdev.SetPartitions(fd, k.existing(disk.Path), nil); err != nil {
		return fmt.Errorf("%s: remove partitions: %w", disk.Path, err)
	}
	want := make(map[int]blockdev.Extent, len(parts))
	for _, p := range parts {
		want[p.Number] = blockdev.Extent{Start: p.Start, Size: p.Size}
	}
	if err := blockdev.SetPartitions(fd, nil, want); err != nil {
		return fmt.Errorf("%s: %w", disk.Path, err)
	}
	return nil
}

// existing lists the partitions to drop from disk: the ones sysfs shows,
// or every number when sysfs cannot say.
func (k KernelPartitions) existing(disk string) map[int]blockdev.Extent {
	if have, err := blockdev.KernelPartitions(k.dir(disk)); err == nil {
		return have
	}
	all := make(map[int]blockdev.Extent, maxPartitions)
	for n := 1; n <= maxPartitions; n++ {
		all[n] = blockdev.Extent{}
	}
	return all
}

// known lists the partition numbers sysfs shows for disk.
func (k KernelPartitions) known(disk string) []int {
	have, err := blockdev.KernelPartitions(k.dir(disk))
	if err != nil {
		return nil
	}
	return slices.Sorted(maps.Keys(have))
}

func (k KernelPartitions) dir(disk string) string {
	return filepath.Join(k.SysDir, "class", "block", filepath.Base(disk))
}
