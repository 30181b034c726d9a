package disk

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"

	"github.com/goipa/goipa/internal/utf16le"
)

// GPT header fields (UEFI spec 2.10 §5.3.2); all little-endian.
const (
	gptSignature   = "EFI PART"
	gptHeaderSize  = 92
	gptMaxEntries  = 1 << 20 // bytes; sgdisk's own sanity limit is far lower
	gptNameOff     = 56
	gptNameBytes   = 72
	gptTypeESP     = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"
	gptTypeLinux   = "0fc63daf-8483-4772-8e79-3d69d8477de4"
	gptEntryMinLen = 128
)

var errBadGPT = errors.New("invalid GPT header")

// gpt is a parsed GPT: the header sector as read (reserved bytes kept) and
// the raw partition entry array.
type gpt struct {
	hdr         []byte // one logical sector
	myLBA       uint64
	altLBA      uint64
	firstUsable uint64
	lastUsable  uint64
	entriesLBA  uint64
	numEntries  uint32
	entrySize   uint32
	entries     []byte // numEntries*entrySize bytes
}

// parseGPTHeader validates a header read from sector lba.
func parseGPTHeader(sector []byte, lba uint64) (*gpt, error) {
	if string(sector[:8]) != gptSignature {
		return nil, fmt.Errorf("%w at LBA %d: no signature", errBadGPT, lba)
	}
	le := binary.LittleEndian
	size := le.Uint32(sector[12:])
	if size < gptHeaderSize || int(size) > len(sector) {
		return nil, fmt.Errorf("%w at LBA %d: header size %d", errBadGPT, lba, size)
	}
	h := append([]byte(nil), sector...)
	want := le.Uint32(h[16:])
	clear(h[16:20])
	if crc32.ChecksumIEEE(h[:size]) != want {
		return nil, fmt.Errorf("%w at LBA %d: header CRC mismatch", errBadGPT, lba)
	}
	g := &gpt{
		hdr: h, myLBA: le.Uint64(h[24:]), altLBA: le.Uint64(h[32:]),
		firstUsable: le.Uint64(h[40:]), lastUsable: le.Uint64(h[48:]),
		entriesLBA: le.Uint64(h[72:]), numEntries: le.Uint32(h[80:]), entrySize: le.Uint32(h[84:]),
	}
	if g.myLBA != lba {
		return nil, fmt.Errorf("%w at LBA %d: header claims LBA %d", errBadGPT, lba, g.myLBA)
	}
	if g.entrySize < gptEntryMinLen || g.entrySize%8 != 0 || uint64(g.numEntries)*uint64(g.entrySize) > gptMaxEntries {
		return nil, fmt.Errorf("%w at LBA %d: %d entries of %d bytes", errBadGPT, lba, g.numEntries, g.entrySize)
	}
	return g, nil
}

func (g *gpt) arrayBytes() int { return int(g.numEntries) * int(g.entrySize) }

func (g *gpt) diskGUID() string { return guidString(g.hdr[56:72]) }

func (g *gpt) entry(i int) []byte {
	return g.entries[i*int(g.entrySize) : (i+1)*int(g.entrySize)]
}

// readGPTAt reads and validates the header at lba and its entry array.
func (d *Disk) readGPTAt(lba uint64) (*gpt, error) {
	ss := int64(d.dev.LSS)
	if int64(lba+1)*ss > d.dev.Size {
		return nil, fmt.Errorf("%w: LBA %d beyond the end of the disk", errBadGPT, lba)
	}
	sector, err := d.readAt(int64(lba)*ss, d.dev.LSS)
	if err != nil {
		return nil, err
	}
	g, err := parseGPTHeader(sector, lba)
	if err != nil {
		return nil, err
	}
	n := alignUp(g.arrayBytes(), d.dev.LSS)
	if int64(g.entriesLBA)*ss+int64(n) > d.dev.Size {
		return nil, fmt.Errorf("%w at LBA %d: entry array beyond the end of the disk", errBadGPT, lba)
	}
	arr, err := d.readAt(int64(g.entriesLBA)*ss, n)
	if err != nil {
		return nil, err
	}
	g.entries = arr[:g.arrayBytes()]
	if crc32.ChecksumIEEE(g.entries) != binary.LittleEndian.Uint32(g.hdr[88:]) {
		return nil, fmt.Errorf("%w at LBA %d: partition entry CRC mismatch", errBadGPT, lba)
	}
	return g, nil
}

func (d *Disk) lastLBA() uint64 { return uint64(d.dev.Size/int64(d.dev.LSS)) - 1 }

// readGPT returns the primary GPT, else the backup at the last LBA. primaryOK
// tells which one was found.
func (d *Disk) readGPT() (g *gpt, primaryOK bool, err error) {
	g, perr := d.readGPTAt(1)
	if perr == nil {
		return g, true, nil
	}
	g, berr := d.readGPTAt(d.lastLBA())
	if berr == nil {
		return g, false, nil
	}
	return nil, false, fmt.Errorf("primary: %w; backup: %w", perr, berr)
}

// FixGPT does what `sgdisk -e` does after an image smaller than the disk was
// written: it moves the backup header and entry array to the end of the disk
// and extends the usable area, updating CRCs and the protective MBR. A primary
// GPT damaged beyond repair is rebuilt from an intact backup at the end.
// Disks without a GPT (MBR-only images) are left alone.
func (d *Disk) FixGPT() error {
	sector0, err := d.readAt(0, d.dev.LSS)
	if err != nil {
		return err
	}
	entries, isMBR := parseMBR(sector0)
	protective := false
	for _, e := range entries {
		protective = protective || (isMBR && e.typ == typeProtective)
	}
	g, primaryOK, err := d.readGPT()
	if err != nil {
		if !protective {
			d.log.Debug("no GPT, nothing to fix")
			return nil
		}
		if err := d.checkSectorSize(); err != nil {
			return err
		}
		return fmt.Errorf("protective MBR but no usable GPT: %w", err)
	}
	last := d.lastLBA()
	if primaryOK && g.altLBA == last {
		if _, err := d.readGPTAt(last); err == nil {
			return nil
		}
	}
	oldAlt := g.altLBA
	if err := d.writeGPT(g); err != nil {
		return err
	}
	if primaryOK && oldAlt != last {
		d.wipeStaleBackup(oldAlt)
	}
	d.log.Info("moved GPT backup header to the end of the disk", "from_lba", oldAlt, "to_lba", last)
	return d.dev.Flush()
}

// checkSectorSize reports ErrSectorSizeMismatch when a disk with large
// logical sectors holds a GPT laid out for 512-byte sectors.
func (d *Disk) checkSectorSize() error {
	if d.dev.LSS == 512 {
		return nil
	}
	b, err := d.readAt(0, d.dev.LSS)
	if err == nil && string(b[512:520]) == gptSignature {
		return fmt.Errorf("%w: GPT at byte 512 (512-byte sectors), disk has %d-byte sectors", ErrSectorSizeMismatch, d.dev.LSS)
	}
	return nil
}

// wipeStaleBackup clears the image's old backup header, now in free space
// past the last usable LBA, so no tool mistakes it for a second GPT.
func (d *Disk) wipeStaleBackup(lba uint64) {
	if lba >= d.lastLBA() {
		return
	}
	if _, err := d.readGPTAt(lba); err != nil {
		return
	}
	if err := d.writeAt(make([]byte, d.dev.LSS), int64(lba)*int64(d.dev.LSS)); err != nil {
		d.log.Warn("could not clear the old GPT backup header", "lba", lba, "error", err)
	}
}

// writeGPT writes g as primary (LBA 1) and backup (last LBA) with the entry
// arrays placed for this disk, after checking every partition still fits.
func (d *Disk) writeGPT(g *gpt) error {
	ss := int64(d.dev.LSS)
	last := d.lastLBA()
	arraySectors := uint64(alignUp(g.arrayBytes(), d.dev.LSS)) / uint64(ss)
	primaryEntries := g.entriesLBA
	if g.myLBA != 1 {
		primaryEntries = 2 // rebuilding from the backup: the standard place
	}
	lastUsable := last - arraySectors - 1
	if g.firstUsable < primaryEntries+arraySectors || g.firstUsable > lastUsable {
		return fmt.Errorf("%w: first usable LBA %d", errBadGPT, g.firstUsable)
	}
	for i := range int(g.numEntries) {
		e := g.entry(i)
		if isZeroBytes(e[:16]) {
			continue
		}
		first, end := binary.LittleEndian.Uint64(e[32:]), binary.LittleEndian.Uint64(e[40:])
		if first < g.firstUsable || end > lastUsable || end < first {
			return fmt.Errorf("%w: partition %d (LBA %d-%d) outside the usable area %d-%d",
				ErrTooSmall, i+1, first, end, g.firstUsable, lastUsable)
		}
	}
	arr := make([]byte, arraySectors*uint64(ss))
	copy(arr, g.entries)
	crc := crc32.ChecksumIEEE(g.entries)

	header := func(my, alt, entriesLBA uint64) []byte {
		h := append([]byte(nil), g.hdr...)
		le := binary.LittleEndian
		le.PutUint64(h[24:], my)
		le.PutUint64(h[32:], alt)
		le.PutUint64(h[48:], lastUsable)
		le.PutUint64(h[72:], entriesLBA)
		le.PutUint32(h[88:], crc)
		clear(h[16:20])
		le.PutUint32(h[16:], crc32.ChecksumIEEE(h[:le.Uint32(h[12:])]))
		return h
	}
	backupEntries := last - arraySectors
	writes := []struct {
		lba  uint64
		data []byte
	}{
		{backupEntries, arr},
		{last, header(last, 1, backupEntries)},
		{primaryEntries, arr},
		{1, header(1, last, primaryEntries)},
	}
	for _, w := range writes {
		if err := d.writeAt(w.data, int64(w.lba)*ss); err != nil {
			return err
		}
	}
	g.myLBA, g.altLBA, g.lastUsable, g.entriesLBA = 1, last, lastUsable, primaryEntries
	g.hdr = header(1, last, primaryEntries)
	return d.fixProtectiveMBR()
}

// fixProtectiveMBR makes a pure protective MBR (a single 0xEE entry from
// LBA 1) cover the whole disk, as the UEFI spec asks. Hybrid MBRs are left
// alone.
func (d *Disk) fixProtectiveMBR() error {
	sector, err := d.readAt(0, d.dev.LSS)
	if err != nil {
		return err
	}
	entries, ok := parseMBR(sector)
	if !ok {
		return nil
	}
	idx := -1
	for i, e := range entries {
		switch {
		case e.empty():
		case e.typ == typeProtective && e.start == 1 && idx < 0:
			idx = i
		default:
			return nil
		}
	}
	if idx < 0 {
		return nil
	}
	want := uint32(min(d.lastLBA(), maxMBRSectors-1))
	if entries[idx].size == want {
		return nil
	}
	entries[idx].size = want
	putMBREntry(sector, idx, entries[idx])
	return d.writeAt(sector, 0)
}

func (g *gpt) partitions(d *Disk) []Partition {
	ss := int64(d.dev.LSS)
	var parts []Partition
	for i := range int(g.numEntries) {
		e := g.entry(i)
		if isZeroBytes(e[:16]) {
			continue
		}
		typ := guidString(e[:16])
		first, last := binary.LittleEndian.Uint64(e[32:]), binary.LittleEndian.Uint64(e[40:])
		parts = append(parts, Partition{
			Number:   i + 1,
			Start:    int64(first) * ss,
			Size:     int64(last-first+1) * ss,
			Type:     typ,
			PartUUID: guidString(e[16:32]),
			Name:     utf16le.Decode(e[gptNameOff : gptNameOff+gptNameBytes]),
			ESP:      typ == gptTypeESP,
			Device:   d.partitionDevice(i + 1),
		})
	}
	return parts
}

// addGPTPartition fills the first free entry and rewrites both GPT copies.
func (d *Disk) addGPTPartition(g *gpt, first, last uint64, typ, name string) (int, error) {
	slot := -1
	for i := range int(g.numEntries) {
		if isZeroBytes(g.entry(i)[:16]) {
			slot = i
			break
		}
	}
	if slot < 0 {
		return 0, fmt.Errorf("%w: all %d GPT entries in use", ErrNoPartitionSlot, g.numEntries)
	}
	e := g.entry(slot)
	clear(e)
	copy(e[:16], guidBytes(typ))
	if _, err := rand.Read(e[16:32]); err != nil {
		return 0, err
	}
	e[16+7] = e[16+7]&0x0f | 0x40 // version 4 (stored little-endian in field 3)
	e[16+8] = e[16+8]&0x3f | 0x80 // RFC 4122 variant
	binary.LittleEndian.PutUint64(e[32:], first)
	binary.LittleEndian.PutUint64(e[40:], last)
	copy(e[gptNameOff:gptNameOff+gptNameBytes], utf16le.Encode(name))
	if err := d.writeGPT(g); err != nil {
		return 0, err
	}
	return slot + 1, nil
}

// guidString formats GPT's mixed-endian GUID the way blkid prints it.
func guidString(b []byte) string {
	le := binary.LittleEndian
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x", le.Uint32(b), le.Uint16(b[4:]), le.Uint16(b[6:]), b[8:10], b[10:16])
}

func guidBytes(s string) []byte {
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

func isZeroBytes(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
