package disk

import (
	"fmt"

	"github.com/goipa/goipa/internal/ptable"
)

// MBR partition types goipa writes or looks for.
const (
	typeProtective = 0xee
	typeESP        = 0xef
	typeFAT32LBA   = 0x0c
)

// mbrPartitions lists primary and logical partitions, the latter numbered
// from 5 by walking the extended partition's EBR chain.
func (d *Disk) mbrPartitions(entries [4]ptable.MBREntry, sig uint32) ([]Partition, error) {
	ss := int64(d.dev.LSS)
	var parts []Partition
	add := func(num int, e ptable.MBREntry, start uint64) {
		parts = append(parts, Partition{
			Number:   num,
			Start:    int64(start) * ss,
			Size:     int64(e.Size) * ss,
			Type:     fmt.Sprintf("0x%02x", e.Type),
			PartUUID: fmt.Sprintf("%08x-%02x", sig, num),
			ESP:      e.Type == typeESP,
			Device:   d.partitionDevice(num),
		})
	}
	for i, e := range entries {
		if e.Empty() {
			continue
		}
		add(i+1, e, uint64(e.Start))
		if !ptable.IsExtended(e.Type) {
			continue
		}
		logical, err := ptable.ReadLogical(sectorReader{d}, uint64(e.Start), d.dev.LSS, d.dev.Size)
		if err != nil {
			return nil, err
		}
		for n, l := range logical {
			if !l.Entry.Empty() {
				add(5+n, l.Entry, uint64(l.Entry.Start))
			}
		}
	}
	return parts, nil
}
