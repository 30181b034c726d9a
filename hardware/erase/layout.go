package erase

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
)

// layout is what the partition tables on a device describe: the
// partitions, and the table structures that lie outside the device's first
// and last MiB (a GPT backup written for a smaller disk, entry arrays,
// extended-partition boot records).
type layout struct {
	parts  []partition
	tables []span
}

type partition struct {
	start, size int64  // bytes
	gptType     string // upper-case type GUID, or ""
	mbrType     byte
}

type span struct{ off, n int64 }

const (
	gptMaxArray = 4 << 20 // bytes; generous, sgdisk allows far fewer entries
	maxEBRs     = 256     // bounds a looping extended-partition chain
)

// readLayout reads GPTs (in 512- and 4096-byte units, wherever a header
// is found: LBA 1, the last LBA, and each header's alternate) and the MBR
// with its logical partitions. Damaged tables are skipped, not errors: the
// wipe then covers less, never more than the device.
func readLayout(r io.ReaderAt, size int64, lss int) (*layout, error) {
	l := &layout{}
	for _, unit := range []int64{512, 4096} {
		if err := l.readGPTs(r, size, unit); err != nil {
			return nil, err
		}
	}
	if err := l.readMBR(r, size, int64(lss)); err != nil {
		return nil, err
	}
	return l, nil
}

func readFull(r io.ReaderAt, off int64, n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := r.ReadAt(b, off); err != nil && err != io.EOF {
		return nil, fmt.Errorf("read at %d: %w", off, err)
	}
	return b, nil
}

type gptHeader struct {
	myLBA, altLBA, entriesLBA uint64
	numEntries, entrySize     uint32
}

// parseGPTHeader checks signature, header CRC, self LBA and array bounds.
func parseGPTHeader(b []byte, lba uint64) (gptHeader, bool) {
	le := binary.LittleEndian
	if string(b[:8]) != "EFI PART" {
		return gptHeader{}, false
	}
	hs := le.Uint32(b[12:])
	if hs < 92 || int(hs) > len(b) {
		return gptHeader{}, false
	}
	h := slices.Clone(b[:hs])
	clear(h[16:20])
	if crc32.ChecksumIEEE(h) != le.Uint32(b[16:]) {
		return gptHeader{}, false
	}
	g := gptHeader{myLBA: le.Uint64(b[24:]), altLBA: le.Uint64(b[32:]), entriesLBA: le.Uint64(b[72:]),
		numEntries: le.Uint32(b[80:]), entrySize: le.Uint32(b[84:])}
	if g.myLBA != lba || g.entrySize < 128 || uint64(g.numEntries)*uint64(g.entrySize) > gptMaxArray {
		return gptHeader{}, false
	}
	return g, true
}

func (l *layout) readGPTs(r io.ReaderAt, size, unit int64) error {
	if size < 3*unit {
		return nil
	}
	last := uint64(size/unit - 1)
	todo, seen := []uint64{1, last}, map[uint64]bool{}
	for len(todo) > 0 {
		lba := todo[0]
		todo = todo[1:]
		if seen[lba] || lba == 0 || lba > last {
			continue
		}
		seen[lba] = true
		b, err := readFull(r, int64(lba)*unit, int(unit))
		if err != nil {
			return err
		}
		g, ok := parseGPTHeader(b, lba)
		if !ok {
			continue
		}
		todo = append(todo, g.altLBA)
		arrOff, arrLen := int64(g.entriesLBA)*unit, int64(g.numEntries)*int64(g.entrySize)
		l.tables = append(l.tables, span{int64(lba) * unit, unit})
		if arrOff+arrLen > size || g.entriesLBA == 0 {
			continue
		}
		l.tables = append(l.tables, span{arrOff, arrLen})
		arr, err := readFull(r, arrOff, int(arrLen))
		if err != nil {
			return err
		}
		for i := range int(g.numEntries) {
			e := arr[i*int(g.entrySize):]
			typ := e[:16]
			first, lastP := binary.LittleEndian.Uint64(e[32:]), binary.LittleEndian.Uint64(e[40:])
			if isZero(typ) || first > lastP || lastP > last {
				continue
			}
			l.addPart(partition{start: int64(first) * unit, size: int64(lastP-first+1) * unit, gptType: guidString(typ)}, size)
		}
	}
	return nil
}

// guidString formats a GPT GUID (mixed-endian) in upper case, as IPA
// compares them.
func guidString(b []byte) string {
	le := binary.LittleEndian
	return fmt.Sprintf("%08X-%04X-%04X-%X-%X", le.Uint32(b), le.Uint16(b[4:]), le.Uint16(b[6:]), b[8:10], b[10:16])
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// addPart records a partition, clipped to the device; duplicates (the
// same partition in both GPT copies) are dropped.
func (l *layout) addPart(p partition, size int64) {
	if p.start <= 0 || p.start >= size || p.size <= 0 {
		return
	}
	p.size = min(p.size, size-p.start)
	if !slices.Contains(l.parts, p) {
		l.parts = append(l.parts, p)
	}
}

// mbrEntry is one of the four 16-byte entries at 446.
type mbrEntry struct {
	boot, typ   byte
	start, size int64 // sectors
}

func mbrEntries(s []byte) [4]mbrEntry {
	var es [4]mbrEntry
	for i := range es {
		e := s[446+16*i:]
		es[i] = mbrEntry{boot: e[0], typ: e[4],
			start: int64(binary.LittleEndian.Uint32(e[8:])), size: int64(binary.LittleEndian.Uint32(e[12:]))}
	}
	return es
}

func isExtended(t byte) bool { return t == 0x05 || t == 0x0f || t == 0x85 }

// looksLikeMBR tells a partition table from a filesystem boot sector,
// which also ends in 55 AA; like blkid, it refuses FAT/NTFS/exFAT boot
// sectors and entries with a boot flag other than 0x00 or 0x80.
func looksLikeMBR(s []byte) bool {
	if s[510] != 0x55 || s[511] != 0xaa {
		return false
	}
	if bytes.HasPrefix(s[3:], []byte("NTFS    ")) || bytes.HasPrefix(s[3:], []byte("EXFAT   ")) ||
		bytes.HasPrefix(s[54:], []byte("FAT")) || bytes.HasPrefix(s[82:], []byte("FAT32")) {
		return false
	}
	for _, e := range mbrEntries(s) {
		if e.boot != 0 && e.boot != 0x80 {
			return false
		}
	}
	return true
}

func (l *layout) readMBR(r io.ReaderAt, size, unit int64) error {
	if size < 512 {
		return nil
	}
	s, err := readFull(r, 0, 512)
	if err != nil || !looksLikeMBR(s) {
		return err
	}
	for _, e := range mbrEntries(s) {
		if e.typ == 0 || e.typ == 0xee || e.size == 0 {
			continue
		}
		l.addPart(partition{start: e.start * unit, size: e.size * unit, mbrType: e.typ}, size)
		if isExtended(e.typ) {
			if err := l.readEBRs(r, size, unit, e.start); err != nil {
				return err
			}
		}
	}
	return nil
}

// readEBRs follows the chain of extended boot records: each holds one
// logical partition (relative to itself) and a link to the next EBR
// (relative to the extended partition).
func (l *layout) readEBRs(r io.ReaderAt, size, unit, ext int64) error {
	ebr := ext
	for range maxEBRs {
		off := ebr * unit
		if off+512 > size {
			return nil
		}
		s, err := readFull(r, off, 512)
		if err != nil {
			return err
		}
		if s[510] != 0x55 || s[511] != 0xaa {
			return nil
		}
		l.tables = append(l.tables, span{off, unit})
		es := mbrEntries(s)
		if es[0].typ != 0 && es[0].size != 0 {
			l.addPart(partition{start: (ebr + es[0].start) * unit, size: es[0].size * unit, mbrType: es[0].typ}, size)
		}
		if !isExtended(es[1].typ) || es[1].start == 0 {
			return nil
		}
		ebr = ext + es[1].start
	}
	return nil
}
