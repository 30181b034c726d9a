package erase

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/goipa/goipa/internal/ptable"
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
		g, err := ptable.ParseGPTHeader(b, lba)
		if err != nil {
			continue
		}
		todo = append(todo, g.AltLBA)
		arrOff, arrLen := int64(g.EntriesLBA)*unit, int64(g.ArrayBytes())
		l.tables = append(l.tables, span{int64(lba) * unit, unit})
		if arrOff+arrLen > size || g.EntriesLBA == 0 {
			continue
		}
		l.tables = append(l.tables, span{arrOff, arrLen})
		arr, err := readFull(r, arrOff, int(arrLen))
		if err != nil {
			return err
		}
		for i := range int(g.NumEntries) {
			e := arr[i*int(g.EntrySize):]
			typ := e[:16]
			first, lastP := binary.LittleEndian.Uint64(e[32:]), binary.LittleEndian.Uint64(e[40:])
			if [16]byte(typ) == [16]byte{} || first > lastP || lastP > last {
				continue
			}
			l.addPart(partition{start: int64(first) * unit, size: int64(lastP-first+1) * unit, gptType: strings.ToUpper(ptable.GUIDString(typ))}, size)
		}
	}
	return nil
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

func (l *layout) readMBR(r io.ReaderAt, size, unit int64) error {
	if size < 512 {
		return nil
	}
	s, err := readFull(r, 0, 512)
	if err != nil {
		return err
	}
	entries, ok := ptable.ParseMBR(s)
	if !ok {
		return nil
	}
	for _, e := range entries {
		if e.Empty() || e.Type == 0xee {
			continue
		}
		l.addPart(partition{start: int64(e.Start) * unit, size: int64(e.Size) * unit, mbrType: e.Type}, size)
		if !ptable.IsExtended(e.Type) {
			continue
		}
		logical, err := ptable.ReadLogical(r, uint64(e.Start), int(unit), size)
		if err != nil && !errors.Is(err, ptable.ErrEBRBeyondEnd) {
			return err
		}
		for _, lp := range logical {
			l.tables = append(l.tables, span{int64(lp.EBR) * unit, unit})
			if !lp.Entry.Empty() {
				l.addPart(partition{start: int64(lp.Entry.Start) * unit, size: int64(lp.Entry.Size) * unit, mbrType: lp.Entry.Type}, size)
			}
		}
	}
	return nil
}
