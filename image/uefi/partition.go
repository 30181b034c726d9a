package uefi

import (
	"fmt"
	"os"

	"github.com/diskfs/go-diskfs/partition/gpt"
	"github.com/diskfs/go-diskfs/partition/mbr"
	"golang.org/x/sys/unix"
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
	lss := 512
	if st, err := f.Stat(); err == nil && st.Mode()&os.ModeDevice != 0 {
		// The firmware counts in logical blocks, e.g. 4096 on a 4Kn disk.
		if lss, err = unix.IoctlGetInt(int(f.Fd()), unix.BLKSSZGET); err != nil {
			return Node{}, fmt.Errorf("%s: BLKSSZGET: %w", disk, err)
		}
	}
	if t, gerr := gpt.Read(f, lss, lss); gerr == nil {
		for _, p := range t.Partitions {
			if p.Index != number || p.Type == gpt.Unused {
				continue
			}
			g, err := ParseGUID(p.GUID)
			if err != nil {
				return Node{}, fmt.Errorf("%s partition %d: %w", disk, number, err)
			}
			return GPTHardDrive(uint32(number), p.Start, p.End-p.Start+1, g), nil
		}
	} else if t, err := mbr.Read(f, lss, lss); err == nil {
		var sig uint32
		if _, err := fmt.Sscanf(t.UUID(), "%x", &sig); err != nil {
			return Node{}, fmt.Errorf("%s: MBR signature %q: %w", disk, t.UUID(), err)
		}
		for _, p := range t.Partitions {
			if p.Index == number && p.Type != mbr.Empty && p.Size > 0 {
				return MBRHardDrive(uint32(number), uint64(p.Start), uint64(p.Size), sig), nil
			}
		}
	} else {
		return Node{}, fmt.Errorf("%s: no partition table (GPT: %v; MBR: %v)", disk, gerr, err)
	}
	return Node{}, fmt.Errorf("%s has no partition %d", disk, number)
}
