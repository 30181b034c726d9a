package disk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/goipa/goipa/internal/ptable"
)

const (
	// maxConfigDrive is IPA's MAX_CONFIG_DRIVE_SIZE_MB, also the size of a
	// newly created config drive partition.
	maxConfigDrive   = 64 << 20
	configDriveLabel = "config-2"
	partAlign        = 1 << 20
)

// ConfigDriveOptions configures WriteConfigDrive.
type ConfigDriveOptions struct {
	// Rebuild always stores the files on vfat, like IPA's
	// config_drive_rebuild option. Disks with logical sectors larger than
	// 2 KiB (4Kn) always get vfat: ISO9660 cannot be mounted from them.
	Rebuild bool
}

// ConfigDrive says where the config drive went.
type ConfigDrive struct {
	Partition  Partition
	Created    bool   // a new partition was added at the end of the disk
	Filesystem string // "iso9660" or "vfat"
}

// WriteConfigDrive stores a config drive (the decoded ISO9660 image) on a
// whole-disk image: into the partition labelled config-2 if there is one
// (GPT partition name or filesystem label), else into a new partition of up
// to 64 MiB at the end of the disk (GPT: Linux data type with a random
// unique GUID, named config-2; MBR: a primary partition, below 2 TiB). It
// calls FixGPT first so the new partition can use the whole disk.
func (d *Disk) WriteConfigDrive(ctx context.Context, iso []byte, opts ConfigDriveOptions) (*ConfigDrive, error) {
	switch {
	case len(iso) == 0:
		return nil, errors.New("config drive is empty")
	case len(iso) > maxConfigDrive:
		return nil, fmt.Errorf("%w: %d bytes", ErrConfigDriveTooLarge, len(iso))
	}
	if err := d.FixGPT(); err != nil {
		return nil, err
	}
	t, err := d.Partitions()
	if err != nil {
		return nil, err
	}
	cd := &ConfigDrive{Filesystem: "iso9660"}
	part, err := d.findConfigDrive(t)
	if err != nil {
		return nil, err
	}
	if part == nil {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if part, err = d.addConfigDrivePartition(t, len(iso)); err != nil {
			return nil, err
		}
		cd.Created = true
		if err := d.RereadPartitions(); err != nil {
			d.log.Warn("kernel did not pick up the config drive partition", "error", err)
		}
	}
	cd.Partition = *part

	data := iso
	if opts.Rebuild || d.dev.LSS > 2048 {
		cd.Filesystem = "vfat"
		if data, err = buildVFAT(iso, part.Size, d.dev.LSS, uint32(part.Start/int64(d.dev.LSS))); err != nil {
			return nil, err
		}
	}
	if int64(len(data)) > part.Size {
		return nil, fmt.Errorf("%w: config drive of %d bytes, partition %s has %d", ErrNoSpace, len(data), part.Device, part.Size)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := d.writeAt(data, part.Start); err != nil {
		return nil, err
	}
	if err := d.dev.Flush(); err != nil {
		return nil, err
	}
	d.log.Info("config drive written", "partition", part.Device, "filesystem", cd.Filesystem, "created", cd.Created)
	return cd, nil
}

func (d *Disk) findConfigDrive(t *Table) (*Partition, error) {
	var found *Partition
	for i := range t.Partitions {
		p := &t.Partitions[i]
		label, err := d.filesystemLabel(p)
		if err != nil {
			return nil, err
		}
		if !strings.EqualFold(p.Name, configDriveLabel) && !strings.EqualFold(label, configDriveLabel) {
			continue
		}
		if found != nil {
			return nil, fmt.Errorf("%w: %s and %s", ErrDuplicateConfigDrive, found.Device, p.Device)
		}
		found = p
	}
	return found, nil
}

// filesystemLabel returns the label of an ISO9660 (primary volume
// descriptor) or FAT (boot sector) filesystem in p, "" for anything else.
func (d *Disk) filesystemLabel(p *Partition) (string, error) {
	const isoPVD = 16 * 2048
	n := int64(alignUp(isoPVD+2048, d.dev.LSS))
	if p.Size < n || p.Start%int64(d.dev.LSS) != 0 {
		return "", nil
	}
	b, err := d.readAt(p.Start, int(n))
	if err != nil {
		return "", err
	}
	if pvd := b[isoPVD:]; pvd[0] == 1 && string(pvd[1:6]) == "CD001" {
		return strings.TrimRight(string(pvd[40:72]), " \x00"), nil
	}
	if b[510] != 0x55 || b[511] != 0xaa {
		return "", nil
	}
	switch {
	case b[66] == 0x29 && bytes.HasPrefix(b[82:90], []byte("FAT32")):
		return strings.TrimRight(string(b[71:82]), " \x00"), nil
	case b[38] == 0x29 && bytes.HasPrefix(b[54:62], []byte("FAT")):
		return strings.TrimRight(string(b[43:54]), " \x00"), nil
	}
	return "", nil
}

// addConfigDrivePartition creates the config drive partition in the free
// space at the end of the disk and returns it.
func (d *Disk) addConfigDrivePartition(t *Table, need int) (*Partition, error) {
	ss := int64(d.dev.LSS)
	var used int64 // end of the last partition, bytes
	for _, p := range t.Partitions {
		used = max(used, p.Start+p.Size)
	}
	// place returns the first and last LBA of a partition ending at endLBA.
	place := func(freeLBA, endLBA uint64) (uint64, uint64, error) {
		lo := alignUp64(max(int64(freeLBA)*ss, used), partAlign)
		start := max(lo, alignUp64(int64(endLBA+1)*ss-maxConfigDrive, partAlign))
		if size := int64(endLBA+1)*ss - start; size < max(int64(need), vfatMinSize) {
			return 0, 0, fmt.Errorf("%w: %d bytes free after the last partition", ErrNoSpace, max(size, 0))
		}
		return uint64(start / ss), endLBA, nil
	}
	var num int
	switch t.Type {
	case "gpt":
		g, _, err := d.readGPT()
		if err != nil {
			return nil, err
		}
		first, last, err := place(g.FirstUsable, g.LastUsable)
		if err != nil {
			return nil, err
		}
		if num, err = d.addGPTPartition(g, first, last, gptTypeLinux, configDriveLabel); err != nil {
			return nil, err
		}
	default:
		sector, err := d.readAt(0, d.dev.LSS)
		if err != nil {
			return nil, err
		}
		entries, _ := ptable.ParseMBR(sector)
		slot := -1
		for i, e := range entries {
			if e.Empty() {
				slot = i
				break
			}
		}
		if slot < 0 {
			return nil, fmt.Errorf("%w: MBR already has 4 primary partitions", ErrNoPartitionSlot)
		}
		// MBR addresses 2^32 sectors (2 TiB with 512-byte sectors); on
		// larger disks the partition goes just below that limit.
		end := min(d.lastLBA(), ptable.MaxMBRSectors-1)
		first, last, err := place(1, end)
		if err != nil {
			return nil, err
		}
		ptable.PutMBREntry(sector, slot, ptable.MBREntry{Type: typeFAT32LBA, Start: uint32(first), Size: uint32(last - first + 1)})
		if err := d.writeAt(sector, 0); err != nil {
			return nil, err
		}
		num = slot + 1
	}
	t, err := d.Partitions()
	if err != nil {
		return nil, err
	}
	for _, p := range t.Partitions {
		if p.Number == num {
			d.log.Info("created config drive partition", "partition", p.Device, "start", p.Start, "size", p.Size)
			return &p, nil
		}
	}
	return nil, fmt.Errorf("config drive partition %d not found after creating it", num)
}
