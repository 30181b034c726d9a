package disk

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/goipa/goipa/internal/ptable"
	"github.com/goipa/goipa/internal/utf16le"
)

// GPT header fields (UEFI spec 2.10 §5.3.2); all little-endian.
const (
	gptTypeESP   = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"
	gptTypeLinux = "0fc63daf-8483-4772-8e79-3d69d8477de4"
)

// readGPTAt reads and validates the header at lba and its entry array.
func (d *Disk) readGPTAt(lba uint64) (*ptable.GPT, error) {
	return ptable.ReadGPT(sectorReader{d}, lba, d.dev.LSS, d.dev.Size)
}

// sectorReader reads a Disk through its aligned buffers.
type sectorReader struct{ d *Disk }

func (r sectorReader) ReadAt(p []byte, off int64) (int, error) {
	b, err := r.d.readAt(off, len(p))
	return copy(p, b), err
}

func (d *Disk) lastLBA() uint64 { return uint64(d.dev.Size/int64(d.dev.LSS)) - 1 }

// readGPT returns the primary GPT, else the backup at the last LBA. primaryOK
// tells which one was found.
func (d *Disk) readGPT() (g *ptable.GPT, primaryOK bool, err error) {
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
	entries, isMBR := ptable.ParseMBR(sector0)
	protective := false
	for _, e := range entries {
		protective = protective || (isMBR && e.Type == typeProtective)
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
	if primaryOK && g.AltLBA == last {
		if _, err := d.readGPTAt(last); err == nil {
			return nil
		}
	}
	oldAlt := g.AltLBA
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
	if err == nil && string(b[512:520]) == "EFI PART" {
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
func (d *Disk) writeGPT(g *ptable.GPT) error {
	ss := int64(d.dev.LSS)
	last := d.lastLBA()
	arraySectors := uint64(alignUp(g.ArrayBytes(), d.dev.LSS)) / uint64(ss)
	primaryEntries := g.EntriesLBA
	if g.MyLBA != 1 {
		primaryEntries = 2 // rebuilding from the backup: the standard place
	}
	lastUsable := last - arraySectors - 1
	if g.FirstUsable < primaryEntries+arraySectors || g.FirstUsable > lastUsable {
		return fmt.Errorf("%w: first usable LBA %d", ptable.ErrBadGPT, g.FirstUsable)
	}
	for i := range int(g.NumEntries) {
		if !g.Used(i) {
			continue
		}
		first, end := g.Extent(i)
		if first < g.FirstUsable || end > lastUsable || end < first {
			return fmt.Errorf("%w: partition %d (LBA %d-%d) outside the usable area %d-%d",
				ErrTooSmall, i+1, first, end, g.FirstUsable, lastUsable)
		}
	}
	arr := make([]byte, arraySectors*uint64(ss))
	copy(arr, g.Entries)
	crc := crc32.ChecksumIEEE(g.Entries)

	header := func(my, alt, entriesLBA uint64) []byte {
		h := append([]byte(nil), g.Header...)
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
	g.MyLBA, g.AltLBA, g.LastUsable, g.EntriesLBA = 1, last, lastUsable, primaryEntries
	g.Header = header(1, last, primaryEntries)
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
	entries, ok := ptable.ParseMBR(sector)
	if !ok {
		return nil
	}
	idx := -1
	for i, e := range entries {
		switch {
		case e.Empty():
		case e.Type == typeProtective && e.Start == 1 && idx < 0:
			idx = i
		default:
			return nil
		}
	}
	if idx < 0 {
		return nil
	}
	want := uint32(min(d.lastLBA(), ptable.MaxMBRSectors-1))
	if entries[idx].Size == want {
		return nil
	}
	entries[idx].Size = want
	ptable.PutMBREntry(sector, idx, entries[idx])
	return d.writeAt(sector, 0)
}

func (d *Disk) gptPartitions(g *ptable.GPT) []Partition {
	ss := int64(d.dev.LSS)
	var parts []Partition
	for i := range int(g.NumEntries) {
		if !g.Used(i) {
			continue
		}
		e := g.Entry(i)
		typ := ptable.GUIDString(e[:16])
		first, last := g.Extent(i)
		parts = append(parts, Partition{
			Number:   i + 1,
			Start:    int64(first) * ss,
			Size:     int64(last-first+1) * ss,
			Type:     typ,
			PartUUID: ptable.GUIDString(e[16:32]),
			Name:     utf16le.Decode(e[ptable.NameOff : ptable.NameOff+ptable.NameBytes]),
			ESP:      typ == gptTypeESP,
			Device:   d.partitionDevice(i + 1),
		})
	}
	return parts
}

// addGPTPartition fills the first free entry and rewrites both GPT copies.
func (d *Disk) addGPTPartition(g *ptable.GPT, first, last uint64, typ, name string) (int, error) {
	slot := -1
	for i := range int(g.NumEntries) {
		if !g.Used(i) {
			slot = i
			break
		}
	}
	if slot < 0 {
		return 0, fmt.Errorf("%w: all %d GPT entries in use", ErrNoPartitionSlot, g.NumEntries)
	}
	e := g.Entry(slot)
	clear(e)
	copy(e[:16], ptable.GUIDBytes(typ))
	if _, err := rand.Read(e[16:32]); err != nil {
		return 0, err
	}
	e[16+7] = e[16+7]&0x0f | 0x40 // version 4 (stored little-endian in field 3)
	e[16+8] = e[16+8]&0x3f | 0x80 // RFC 4122 variant
	binary.LittleEndian.PutUint64(e[32:], first)
	binary.LittleEndian.PutUint64(e[40:], last)
	copy(e[ptable.NameOff:ptable.NameOff+ptable.NameBytes], utf16le.Encode(name))
	if err := d.writeGPT(g); err != nil {
		return 0, err
	}
	return slot + 1, nil
}
