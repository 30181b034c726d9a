package ptable

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
)

// ErrEBRBeyondEnd is an extended-partition chain that points past the disk.
var ErrEBRBeyondEnd = errors.New("EBR beyond the end of the disk")

// MBR layout (sector 0): disk signature at 440, four 16-byte entries at 446,
// boot signature 0x55AA at 510.
const (
	MBRSigOff     = 440
	mbrEntriesOff = 446
	mbrEntrySize  = 16
	// MaxMBRSectors: MBR start and size fields are 32-bit sector counts.
	MaxMBRSectors = 1 << 32
	// maxEBRs bounds a looping extended-partition chain.
	maxEBRs = 128
)

// MBREntry is one partition entry.
type MBREntry struct {
	Boot  byte
	Type  byte
	Start uint32 // LBA
	Size  uint32 // sectors
}

// Empty is an unused entry.
func (e MBREntry) Empty() bool { return e.Type == 0 || e.Size == 0 }

// IsExtended reports an extended partition type (DOS, LBA, Linux).
func IsExtended(t byte) bool { return t == 0x05 || t == 0x0f || t == 0x85 }

// ParseMBR returns the four entries of an MBR or EBR sector, ok=false when
// it is not one: no 0x55AA, a FAT, NTFS or exFAT boot sector (which ends in
// 55 AA too; refused as blkid does), or boot flags other than 0 and 0x80.
func ParseMBR(sector []byte) (entries [4]MBREntry, ok bool) {
	if len(sector) < 512 || sector[510] != 0x55 || sector[511] != 0xaa {
		return entries, false
	}
	if bytes.HasPrefix(sector[3:], []byte("NTFS    ")) || bytes.HasPrefix(sector[3:], []byte("EXFAT   ")) ||
		bytes.HasPrefix(sector[54:], []byte("FAT")) || bytes.HasPrefix(sector[82:], []byte("FAT32")) {
		return entries, false
	}
	for i := range entries {
		b := sector[mbrEntriesOff+i*mbrEntrySize:]
		if b[0] != 0 && b[0] != 0x80 {
			return entries, false
		}
		entries[i] = MBREntry{Boot: b[0], Type: b[4], Start: binary.LittleEndian.Uint32(b[8:]), Size: binary.LittleEndian.Uint32(b[12:])}
	}
	return entries, true
}

// PutMBREntry writes entry i into an MBR sector, with legacy CHS fields.
func PutMBREntry(sector []byte, i int, e MBREntry) {
	b := sector[mbrEntriesOff+i*mbrEntrySize : mbrEntriesOff+(i+1)*mbrEntrySize]
	b[0] = e.Boot
	copy(b[1:4], chs(e.Start))
	b[4] = e.Type
	copy(b[5:8], chs(e.Start+e.Size-1))
	binary.LittleEndian.PutUint32(b[8:], e.Start)
	binary.LittleEndian.PutUint32(b[12:], e.Size)
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

// Logical is a logical partition of an extended one: its entry with Start
// made absolute, and the LBA of the EBR that describes it.
type Logical struct {
	Entry MBREntry
	EBR   uint64
}

// ReadLogical walks the EBR chain of the extended partition starting at
// LBA ext: each EBR holds a logical partition (relative to the EBR) and a
// link to the next EBR (relative to the extended partition).
func ReadLogical(r io.ReaderAt, ext uint64, lss int, size int64) ([]Logical, error) {
	ss := int64(lss)
	var out []Logical
	next := ext
	for range maxEBRs {
		if (int64(next)+1)*ss > size {
			return out, ErrEBRBeyondEnd
		}
		sector, err := readFull(r, int64(next)*ss, lss)
		if err != nil {
			return out, err
		}
		ebr, ok := ParseMBR(sector)
		if !ok {
			break
		}
		l := Logical{Entry: ebr[0], EBR: next}
		l.Entry.Start += uint32(next)
		out = append(out, l)
		if ebr[1].Empty() || ebr[1].Start == 0 {
			break
		}
		next = ext + uint64(ebr[1].Start)
	}
	return out, nil
}
