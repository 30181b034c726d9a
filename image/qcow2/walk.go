package qcow2

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"
)

const (
	l1Window = 32 << 10 // L1 entries read per request (256 KiB)

	offsetMask     = 0x00ff_ffff_ffff_fe00 // bits 9-55: L2 table or data cluster offset
	flagCompressed = 1 << 62
	flagZero       = 1 << 0 // standard L2 entries only, not with extended L2
)

// piece is a guest range whose data must be read from the image: n bytes of
// plain data at host, or, when csize > 0, one compressed cluster whose
// csize bytes start at host.
type piece struct {
	guest, n    int64
	host, csize int64
}

// walker reads the L1 table in windows and the L2 tables in batches of at
// most maxTables, and reports every guest range holding data, in increasing
// guest order. Zero and unallocated ranges are not reported.
type walker struct {
	img       *Image
	src       *source
	maxTables int
	emit      func(piece) error

	l1, l2 []byte // reused across windows and batches
}

func (w *walker) run(ctx context.Context, mem *meter) error {
	img := w.img
	if img.l1Entries == 0 {
		return nil
	}
	w.l1 = mem.alloc(min(img.l1Entries, l1Window) * 8)
	for base := int64(0); base < img.l1Entries; base += l1Window {
		n := min(l1Window, img.l1Entries-base)
		l1 := w.l1[:n*8]
		if err := w.src.readFull(l1, img.l1Offset+base*8); err != nil {
			return err
		}
		for i := int64(0); i < n; {
			if err := ctx.Err(); err != nil {
				return err
			}
			next, err := w.batch(mem, l1, base, i)
			if err != nil {
				return err
			}
			i = next
		}
	}
	return nil
}

// batch loads the L2 tables of the L1 entries from index i of the window on,
// up to maxTables of them, walks them, and returns the next index.
func (w *walker) batch(mem *meter, l1 []byte, base, i int64) (int64, error) {
	img := w.img
	cs := img.info.ClusterSize
	var offs []int64
	j := i
	for ; j < int64(len(l1)/8) && len(offs) < w.maxTables; j++ {
		off := binary.BigEndian.Uint64(l1[j*8:]) & offsetMask
		if off == 0 {
			continue
		}
		if err := img.checkTable(fmt.Sprintf("L2 table (L1 index %d)", base+j), off, cs); err != nil {
			return 0, err
		}
		offs = append(offs, int64(off))
	}
	if len(offs) == 0 {
		return j, nil
	}

	// Read the tables in host order, one request per run of adjacent
	// tables (metadata-preallocated images keep them together).
	slices.Sort(offs)
	offs = slices.Compact(offs)
	if w.l2 == nil {
		w.l2 = mem.alloc(int64(w.maxTables) * cs)
	}
	for a := 0; a < len(offs); {
		b := a + 1
		for b < len(offs) && offs[b] == offs[b-1]+cs {
			b++
		}
		if err := w.src.readFull(w.l2[int64(a)*cs:int64(b)*cs], offs[a]); err != nil {
			return 0, err
		}
		a = b
	}

	for k := i; k < j; k++ {
		off := int64(binary.BigEndian.Uint64(l1[k*8:]) & offsetMask)
		if off == 0 {
			continue
		}
		slot, _ := slices.BinarySearch(offs, off)
		if err := w.table(base+k, w.l2[int64(slot)*cs:int64(slot+1)*cs]); err != nil {
			return 0, err
		}
	}
	return j, nil
}

// table walks the L2 table of L1 entry l1Index.
func (w *walker) table(l1Index int64, t []byte) error {
	img := w.img
	cb := img.clusterBits
	cs := img.info.ClusterSize
	vsize := img.info.VirtualSize
	first := l1Index << (cb + img.l2Bits)
	for i := int64(0); i < int64(len(t))/img.entryBytes; i++ {
		guest := first + i<<cb
		if guest >= vsize {
			break
		}
		n := min(cs, vsize-guest)
		e := binary.BigEndian.Uint64(t[i*img.entryBytes:])
		if e&flagCompressed != 0 {
			p, err := img.compressed(e)
			if err != nil {
				return fmt.Errorf("%w (guest offset %d)", err, guest)
			}
			p.guest, p.n = guest, n
			if err := w.emit(p); err != nil {
				return err
			}
			continue
		}

		// Standard cluster: a bitmap of allocated subclusters, which for
		// plain L2 entries is the whole cluster or nothing.
		alloc := uint32(1)
		scBits := cb
		if img.info.ExtendedL2 {
			bitmap := binary.BigEndian.Uint64(t[i*img.entryBytes+8:])
			alloc = uint32(bitmap)
			if zero := uint32(bitmap >> 32); alloc&zero != 0 {
				return fmt.Errorf("%w: subclusters %#x both allocated and zero (guest offset %d)", ErrInvalid, alloc&zero, guest)
			}
			scBits = cb - 5
		} else if e&flagZero != 0 {
			alloc = 0
		}
		host := int64(e & offsetMask)
		if alloc == 0 || (host == 0 && !img.info.ExtendedL2) {
			continue // zero or unallocated; no backing file, so zeros
		}
		if err := img.checkData(host); err != nil {
			return fmt.Errorf("%w (guest offset %d)", err, guest)
		}
		for alloc != 0 { // each run [s, e) of allocated subclusters
			s := bits.TrailingZeros32(alloc)
			e := s + bits.TrailingZeros32(^(alloc >> s))
			alloc &^= uint32(1<<e - 1) // a uint32 shift by 32 is 0, so e == 32 clears all
			start := guest + int64(s)<<scBits
			if start >= vsize {
				break
			}
			end := min(guest+int64(e)<<scBits, vsize)
			if err := w.emit(piece{guest: start, n: end - start, host: host + int64(s)<<scBits}); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkData validates the host offset of a standard data cluster. A cluster
// may run past the end of the file (qemu reads the missing tail as zeros, and
// the last cluster written is often short), but it must start inside it.
func (img *Image) checkData(host int64) error {
	switch {
	case host == 0:
		return fmt.Errorf("%w: allocated cluster at offset 0 overlaps the header", ErrInvalid)
	case host&(img.info.ClusterSize-1) != 0:
		return fmt.Errorf("%w: data cluster offset %#x is not cluster aligned", ErrInvalid, host)
	case host >= img.fileSize:
		return fmt.Errorf("%w: data cluster offset %#x is beyond the end of the %d-byte file", ErrInvalid, host, img.fileSize)
	}
	return nil
}

// compressed decodes a compressed cluster descriptor into host and csize.
// The descriptor counts 512-byte sectors, so its end may lie past the end of
// the file when the image's last compressed cluster is short; the range is
// clamped and a truncated stream then fails to decompress.
func (img *Image) compressed(e uint64) (piece, error) {
	x := 62 - (img.clusterBits - 8)
	host := int64(e & (1<<x - 1))
	sectors := int64((e>>x)&(1<<(img.clusterBits-8)-1)) + 1
	switch {
	case host < img.info.ClusterSize:
		return piece{}, fmt.Errorf("%w: compressed cluster at %#x overlaps the header", ErrInvalid, host)
	case host >= img.fileSize:
		return piece{}, fmt.Errorf("%w: compressed cluster at %#x is beyond the end of the %d-byte file", ErrInvalid, host, img.fileSize)
	}
	csize := min(sectors*512-host&511, img.fileSize-host)
	return piece{host: host, csize: csize}, nil
}
