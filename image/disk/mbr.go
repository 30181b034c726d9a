package disk

import (
	"encoding/binary"
	"fmt"
)

// MBR layout (sector 0): disk signature at 440, four 16-byte entries at 446,
// boot signature 0x55AA at 510.
const (
	mbrSigOff      = 440
	mbrEntriesOff  = 446
	mbrEntrySize   = 16
	typeProtective = 0xee
	typeESP        = 0xef
	typeFAT32LBA   = 0x0c
	// maxMBRSectors: MBR start and size fields are 32-bit sector counts.
	maxMBRSectors = 1 << 32
)

type mbrEntry struct {
	boot  byte
	typ   byte
	start uint32 // LBA
	size  uint32 // sectors
}

func (e mbrEntry) empty() bool { return e.typ == 0 || e.size == 0 }

func isExtended(t byte) bool { return t == 0x05 || t == 0x0f || t == 0x85 }

// parseMBR returns the four primary entries of sector 0, or ok=false when the
// sector is not an MBR (missing 0x55AA or invalid boot flags, which rules out
// most filesystem boot sectors).
func parseMBR(sector []byte) (entries [4]mbrEntry, ok bool) {
	if sector[510] != 0x55 || sector[511] != 0xaa {
		return entries, false
	}
	for i := range entries {
		b := sector[mbrEntriesOff+i*mbrEntrySize:]
		if b[0] != 0 && b[0] != 0x80 {
			return entries, false
		}
		entries[i] = mbrEntry{boot: b[0], typ: b[4], start: binary.LittleEndian.Uint32(b[8:]), size: binary.LittleEndian.Uint32(b[12:])}
	}
	return entries, true
}

func putMBREntry(sector []byte, i int, e mbrEntry) {
	b := sector[mbrEntriesOff+i*mbrEntrySize : mbrEntriesOff+(i+1)*mbrEntrySize]
	b[0] = e.boot
	copy(b[1:4], chs(e.start))
	b[4] = e.typ
	copy(b[5:8], chs(e.start+e.size-1))
	binary.LittleEndian.PutUint32(b[8:], e.start)
	binary.LittleEndian.PutUint32(b[12:], e.size)
}

// chs encodes an LBA in the legacy 255-head, 63-sector geometry, saturating
// at 1023/254/63 as partitioning tools do beyond 8 GiB.
func chs(lba uint32) []byte {
	c, h, s := lba/(255*63), (lba/63)%255, lba%63+1
	if c > 1023 {
		c, h, s = 1023, 254, 63
	}
	return []byte{byte(h), byte(s) | byte(c>>8)<<6, byte(c)}
}

// mbrPartitions lists primary and logical partitions, the latter numbered
// from 5 by walking the extended partition's EBR chain.
func (d *Disk) mbrPartitions(entries [4]mbrEntry, sig uint32) ([]Partition, error) {
	ss := int64(d.dev.LSS)
	var parts []Partition
	add := func(num int, e mbrEntry, start uint64) {
		parts = append(parts, Partition{
			Number:   num,
			Start:    int64(start) * ss,
			Size:     int64(e.size) * ss,
			Type:     fmt.Sprintf("0x%02x", e.typ),
			PartUUID: fmt.Sprintf("%08x-%02x", sig, num),
			ESP:      e.typ == typeESP,
			Device:   d.partitionDevice(num),
		})
	}
	for i, e := range entries {
		if e.empty() {
			continue
		}
		add(i+1, e, uint64(e.start))
		if !isExtended(e.typ) {
			continue
		}
		// Each EBR holds a logical partition (relative to the EBR) and a
		// link to the next EBR (relative to the extended partition).
		ext, next := uint64(e.start), uint64(e.start)
		for num := 5; num < 5+128; num++ {
			if int64(next)*ss >= d.dev.Size {
				return nil, fmt.Errorf("EBR at sector %d beyond the end of the disk", next)
			}
			sector, err := d.readAt(int64(next)*ss, d.dev.LSS)
			if err != nil {
				return nil, err
			}
			ebr, ok := parseMBR(sector)
			if !ok {
				break
			}
			if !ebr[0].empty() {
				add(num, ebr[0], next+uint64(ebr[0].start))
			}
			if ebr[1].empty() {
				break
			}
			next = ext + uint64(ebr[1].start)
		}
	}
	return parts, nil
}
