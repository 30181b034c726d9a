package uefi

import (
	"encoding/binary"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/goipa/goipa/internal/blockdev"
	"github.com/goipa/goipa/internal/ptable"
)

// HardDrive reads partition number from the partition table of disk (a
// block device, or an image file counted in 512-byte blocks) and returns
// the node by which the firmware finds it. The disk is only read, so it
// may be in use, e.g. by an md array over its partitions.
func HardDrive(disk string, number int) (Node, error) {
	f, err := os.Open(disk)
	if err != nil {
		return Node{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Node{}, err
	}
	lss, size := 512, st.Size()
	if st.Mode()&os.ModeDevice != 0 {
		// The firmware counts in logical blocks, e.g. 4096 on a 4Kn disk.
		if lss, err = unix.IoctlGetInt(int(f.Fd()), unix.BLKSSZGET); err != nil {
			return Node{}, fmt.Errorf("%s: BLKSSZGET: %w", disk, err)
		}
		var n uint64
		if err := blockdev.IoctlPtr(int(f.Fd()), unix.BLKGETSIZE64, &n); err != nil {
			return Node{}, fmt.Errorf("%s: BLKGETSIZE64: %w", disk, err)
		}
		size = int64(n)
	}
	g, gerr := ptable.ReadGPT(f, 1, lss, size)
	if gerr != nil {
		g, gerr = ptable.ReadGPT(f, uint64(size/int64(lss))-1, lss, size)
	}
	if gerr == nil {
		if number < 1 || number > int(g.NumEntries) || !g.Used(number-1) {
			return Node{}, fmt.Errorf("%s has no partition %d", disk, number)
		}
		first, last := g.Extent(number - 1)
		id, err := ParseGUID(ptable.GUIDString(g.Entry(number - 1)[16:32]))
		if err != nil {
			return Node{}, fmt.Errorf("%s partition %d: %w", disk, number, err)
		}
		return GPTHardDrive(uint32(number), first, last-first+1, id), nil
	}
	sector := make([]byte, lss)
	if _, err := f.ReadAt(sector, 0); err != nil {
		return Node{}, err
	}
	entries, ok := ptable.ParseMBR(sector)
	if !ok {
		return Node{}, fmt.Errorf("%s: no partition table (GPT: %v; no MBR)", disk, gerr)
	}
	sig := binary.LittleEndian.Uint32(sector[ptable.MBRSigOff:])
	if number >= 1 && number <= 4 && !entries[number-1].Empty() {
		e := entries[number-1]
		return MBRHardDrive(uint32(number), uint64(e.Start), uint64(e.Size), sig), nil
	}
	for _, e := range entries {
		if number < 5 || !ptable.IsExtended(e.Type) {
			continue
		}
		logical, err := ptable.ReadLogical(f, uint64(e.Start), lss, size)
		if err != nil {
			return Node{}, fmt.Errorf("%s: %w", disk, err)
		}
		if i := number - 5; i < len(logical) && !logical[i].Entry.Empty() {
			l := logical[i].Entry
			return MBRHardDrive(uint32(number), uint64(l.Start), uint64(l.Size), sig), nil
		}
	}
	return Node{}, fmt.Errorf("%s has no partition %d", disk, number)
}
