// Package ptable is goipa's one model of the partition tables on a disk:
// GPT headers and entry arrays (UEFI 2.10 §5.3) and MBR entries with their
// extended-partition chain. The image writer repairs and extends tables with
// it, erasure finds every table structure to wipe with it. Fresh tables are
// laid out by go-diskfs.
package ptable

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
)

// GPT header fields; all little-endian.
const (
	gptSignature  = "EFI PART"
	gptHeaderSize = 92
	// MaxArray bounds an entry array (bytes); sgdisk's own limit is far lower.
	MaxArray    = 4 << 20
	minEntryLen = 128
	// Entry name: UTF-16LE at this offset of an entry.
	NameOff, NameBytes = 56, 72
)

// ErrBadGPT is a GPT header or entry array that does not validate.
var ErrBadGPT = errors.New("invalid GPT header")

// GPT is a validated GPT header (the whole sector as read, reserved bytes
// kept) and, once read, its raw entry array.
type GPT struct {
	Header      []byte // one logical sector
	MyLBA       uint64
	AltLBA      uint64
	FirstUsable uint64
	LastUsable  uint64
	EntriesLBA  uint64
	NumEntries  uint32
	EntrySize   uint32
	Entries     []byte // NumEntries*EntrySize bytes, nil until ReadGPT
}

// ParseGPTHeader validates the header read from sector lba: signature,
// header CRC, its own LBA and the array's bounds.
func ParseGPTHeader(sector []byte, lba uint64) (*GPT, error) {
	if len(sector) < gptHeaderSize || string(sector[:8]) != gptSignature {
		return nil, fmt.Errorf("%w at LBA %d: no signature", ErrBadGPT, lba)
	}
	le := binary.LittleEndian
	size := le.Uint32(sector[12:])
	if size < gptHeaderSize || int(size) > len(sector) {
		return nil, fmt.Errorf("%w at LBA %d: header size %d", ErrBadGPT, lba, size)
	}
	h := append([]byte(nil), sector...)
	want := le.Uint32(h[16:])
	clear(h[16:20])
	if crc32.ChecksumIEEE(h[:size]) != want {
		return nil, fmt.Errorf("%w at LBA %d: header CRC mismatch", ErrBadGPT, lba)
	}
	le.PutUint32(h[16:], want)
	g := &GPT{
		Header: h, MyLBA: le.Uint64(h[24:]), AltLBA: le.Uint64(h[32:]),
		FirstUsable: le.Uint64(h[40:]), LastUsable: le.Uint64(h[48:]),
		EntriesLBA: le.Uint64(h[72:]), NumEntries: le.Uint32(h[80:]), EntrySize: le.Uint32(h[84:]),
	}
	if g.MyLBA != lba {
		return nil, fmt.Errorf("%w at LBA %d: header claims LBA %d", ErrBadGPT, lba, g.MyLBA)
	}
	if g.EntrySize < minEntryLen || g.EntrySize%8 != 0 || uint64(g.NumEntries)*uint64(g.EntrySize) > MaxArray {
		return nil, fmt.Errorf("%w at LBA %d: %d entries of %d bytes", ErrBadGPT, lba, g.NumEntries, g.EntrySize)
	}
	return g, nil
}

// ArrayBytes is the entry array's length.
func (g *GPT) ArrayBytes() int { return int(g.NumEntries) * int(g.EntrySize) }

// DiskGUID is the disk's GUID as blkid prints it.
func (g *GPT) DiskGUID() string { return GUIDString(g.Header[56:72]) }

// Entry returns entry i (0-based) of the array read by ReadGPT.
func (g *GPT) Entry(i int) []byte {
	return g.Entries[i*int(g.EntrySize) : (i+1)*int(g.EntrySize)]
}

// Used reports whether entry i holds a partition (a non-zero type).
func (g *GPT) Used(i int) bool { return !zero(g.Entry(i)[:16]) }

// Extent returns entry i's first and last LBA.
func (g *GPT) Extent(i int) (first, last uint64) {
	e := g.Entry(i)
	return binary.LittleEndian.Uint64(e[32:]), binary.LittleEndian.Uint64(e[40:])
}

// ReadGPT reads and validates the header at lba of a device of size bytes
// with lss-byte sectors, and its entry array (CRC included).
func ReadGPT(r io.ReaderAt, lba uint64, lss int, size int64) (*GPT, error) {
	ss := int64(lss)
	if int64(lba+1)*ss > size {
		return nil, fmt.Errorf("%w: LBA %d beyond the end of the disk", ErrBadGPT, lba)
	}
	sector, err := readFull(r, int64(lba)*ss, lss)
	if err != nil {
		return nil, err
	}
	g, err := ParseGPTHeader(sector, lba)
	if err != nil {
		return nil, err
	}
	n := (g.ArrayBytes() + lss - 1) / lss * lss
	if int64(g.EntriesLBA)*ss+int64(n) > size || g.EntriesLBA == 0 {
		return nil, fmt.Errorf("%w at LBA %d: entry array beyond the end of the disk", ErrBadGPT, lba)
	}
	arr, err := readFull(r, int64(g.EntriesLBA)*ss, n)
	if err != nil {
		return nil, err
	}
	g.Entries = arr[:g.ArrayBytes()]
	if crc32.ChecksumIEEE(g.Entries) != binary.LittleEndian.Uint32(g.Header[88:]) {
		return nil, fmt.Errorf("%w at LBA %d: partition entry CRC mismatch", ErrBadGPT, lba)
	}
	return g, nil
}

func readFull(r io.ReaderAt, off int64, n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := r.ReadAt(b, off); err != nil && err != io.EOF {
		return nil, fmt.Errorf("read at %d: %w", off, err)
	}
	return b, nil
}

// GUIDString formats GPT's mixed-endian GUID the way blkid prints it.
func GUIDString(b []byte) string {
	le := binary.LittleEndian
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x", le.Uint32(b), le.Uint16(b[4:]), le.Uint16(b[6:]), b[8:10], b[10:16])
}

// GUIDBytes encodes a GUID string (any case) in GPT's mixed-endian layout;
// it panics on a malformed one, as it is given constants.
func GUIDBytes(s string) []byte {
	raw, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(raw) != 16 {
		panic("bad GUID constant " + s)
	}
	b := make([]byte, 16)
	le, be := binary.LittleEndian, binary.BigEndian
	le.PutUint32(b, be.Uint32(raw))
	le.PutUint16(b[4:], be.Uint16(raw[4:]))
	le.PutUint16(b[6:], be.Uint16(raw[6:]))
	copy(b[8:], raw[8:])
	return b
}

func zero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
