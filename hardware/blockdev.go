package hardware

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/jaypipes/ghw"
)

// BlockOptions tunes ListBlockDevices.
type BlockOptions struct {
	Root Root
	// IncludePartitions appends the partitions of the listed devices
	// (type "part", or "md" on an md device), as IPA's
	// list_block_devices(include_partitions=True) does.
	IncludePartitions bool
}

// ListBlockDevices lists the disks the way IPA's list_all_block_devices
// does: whole disks, md RAID volumes (type raidN) and multipath devices;
// not RAM, zram, loop, floppy, optical, LVM or other device-mapper devices,
// zero-size devices, or the paths under a multipath device. md members stay
// in the list, as in IPA. The order is lsblk's (by device number).
//
// ghw lists the devices and partitions with their sizes, sector sizes,
// rotation, removability and vendor; the rest is read from sysfs here.
func ListBlockDevices(opts BlockOptions) ([]BlockDevice, error) {
	r := opts.Root
	info, err := ghw.Block(r.ghw())
	if err != nil {
		return nil, fmt.Errorf("listing block devices: %w", err)
	}
	if len(info.Disks) == 0 {
		// ghw lists nothing rather than fail without /sys/block.
		if _, err := os.Stat(r.sys("block")); err != nil {
			return nil, fmt.Errorf("listing block devices: %w", err)
		}
	}
	byPath := byPathLinks(r.dev("disk/by-path"))
	type dev struct {
		BlockDevice
		parts []*ghw.Partition
		devno [2]int64
	}
	var devs []dev
	for _, g := range info.Disks {
		if skipName(g.Name) {
			continue
		}
		dir := r.sys("block", g.Name)
		typ := blockType(r, g.Name, dir)
		if typ != "disk" && typ != "mpath" && !strings.Contains(typ, "raid") {
			continue
		}
		if g.SizeBytes == 0 || multipathMember(r, dir) {
			continue
		}
		d := readDevice(r, g, dir, byPath)
		d.Type = typ
		devs = append(devs, dev{d, g.Partitions, devno(dir)})
	}
	slices.SortFunc(devs, func(a, b dev) int {
		return cmp.Or(cmp.Compare(a.devno[0], b.devno[0]), cmp.Compare(a.devno[1], b.devno[1]), cmp.Compare(a.Name, b.Name))
	})
	out := make([]BlockDevice, 0, len(devs))
	for _, d := range devs {
		out = append(out, d.BlockDevice)
	}
	if opts.IncludePartitions {
		for _, d := range devs {
			out = append(out, partitions(r, d.BlockDevice, d.parts, byPath)...)
		}
	}
	return out, nil
}

func skipName(name string) bool {
	for _, p := range []string{"ram", "zram", "loop", "fd"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// blockType is lsblk's TYPE column for a whole device.
func blockType(r Root, name, dir string) string {
	switch {
	case strings.HasPrefix(name, "md"):
		if level, ok := readString(filepath.Join(dir, "md/level")); ok {
			return level // raid0, raid1, raid10, linear…
		}
		return "md"
	case strings.HasPrefix(name, "dm-"):
		uuid, _ := readString(filepath.Join(dir, "dm/uuid"))
		prefix, _, found := strings.Cut(uuid, "-")
		if !found {
			return "dm"
		}
		return strings.ToLower(prefix) // mpath, lvm, crypt, part…
	case strings.HasPrefix(name, "sr"):
		return "rom"
	}
	if t, ok := readInt(filepath.Join(dir, "device/type")); ok && dirExists(filepath.Join(dir, "device/scsi_device")) {
		switch t {
		case 0, 0x0e: // direct access, reduced block commands
			return "disk"
		case 5:
			return "rom"
		default:
			return "scsi-type-" + strconv.FormatInt(t, 10)
		}
	}
	return "disk"
}

// multipathMember reports a path device under a dm-multipath device: IPA
// lists the multipath device instead.
func multipathMember(r Root, dir string) bool {
	for _, h := range listNames(filepath.Join(dir, "holders")) {
		if uuid, _ := readString(r.sys("block", h, "dm/uuid")); strings.HasPrefix(uuid, "mpath-") {
			return true
		}
	}
	return false
}

// readDevice completes what ghw read of a device. ghw takes the model,
// serial, WWN and by-path from udev's database, which the ramdisk does not
// have: they are read from sysfs and the VPD pages here.
func readDevice(r Root, g *ghw.Disk, dir string, byPath map[string]string) BlockDevice {
	name := g.Name
	d := BlockDevice{
		Name:            "/dev/" + name,
		Size:            int64(g.SizeBytes),
		Model:           readOptional(filepath.Join(dir, "device/model")),
		Vendor:          optional(known(g.Vendor)),
		Rotational:      rotational(g, dir),
		LogicalSectors:  nonZero(g.LogicalBlockSizeBytes),
		PhysicalSectors: nonZero(g.PhysicalBlockSizeBytes),
		ReadOnly:        readBool(filepath.Join(dir, "ro")),
		Removable:       g.IsRemovable,
		Holders:         devNames(listNames(filepath.Join(dir, "holders"))),
		Slaves:          devNames(listNames(filepath.Join(dir, "slaves"))),
	}
	if d.Vendor != nil && *d.Vendor == "ATA" {
		if b, err := os.ReadFile(filepath.Join(dir, "device/vpd_pg89")); err == nil {
			if m := ataModel(b); m != nil {
				d.Model = m
			}
		}
	}
	ids := readDiskIDs(dir, strings.HasPrefix(name, "nvme"))
	d.Serial, d.WWN, d.WWNWithExtension, d.WWNVendorExtension = ids.serial, ids.wwn, ids.wwnWithExt, ids.wwnVendorExt
	if hctls := listNames(filepath.Join(dir, "device/scsi_device")); len(hctls) > 0 {
		d.HCTL = &hctls[0]
	}
	d.Tran = transport(r, name, dir, d.HCTL)
	if p, ok := byPath[name]; ok {
		d.ByPath = &p
	} else if p := pathID(r, name, dir, d.HCTL); p != "" {
		d.ByPath = ptr("/dev/disk/by-path/" + p)
	}
	for _, s := range listNames(filepath.Join(dir, "slaves")) {
		disk := s
		if exists(r.sys("class/block", s, "partition")) {
			if real, err := filepath.EvalSymlinks(r.sys("class/block", s)); err == nil {
				disk = filepath.Base(filepath.Dir(real))
			}
		}
		if !slices.Contains(d.Disks, "/dev/"+disk) {
			d.Disks = append(d.Disks, "/dev/"+disk)
		}
	}
	return d
}

// partitions lists the partitions ghw found on a listed device; they
// inherit the disk's identifiers, as udev's properties do. ghw's read-only
// flag is the mount's, so the kernel's is read here with the partition
// number.
func partitions(r Root, disk BlockDevice, parts []*ghw.Partition, byPath map[string]string) []BlockDevice {
	dir := r.sys("block", filepath.Base(disk.Name))
	var out []BlockDevice
	for _, p := range parts {
		pdir := filepath.Join(dir, p.Name)
		num, ok := readString(filepath.Join(pdir, "partition"))
		if !ok {
			continue
		}
		d := disk
		d.Name, d.Parent, d.Type, d.HCTL, d.Tran = "/dev/"+p.Name, disk.Name, "part", nil, nil
		if strings.HasPrefix(filepath.Base(disk.Name), "md") {
			d.Type = "md"
		}
		d.Size = int64(p.SizeBytes)
		d.ReadOnly = readBool(filepath.Join(pdir, "ro"))
		d.Holders = devNames(listNames(filepath.Join(pdir, "holders")))
		d.Slaves, d.Disks = nil, nil
		d.ByPath = nil
		if l, ok := byPath[p.Name]; ok {
			d.ByPath = &l
		} else if disk.ByPath != nil {
			d.ByPath = ptr(*disk.ByPath + "-part" + num)
		}
		out = append(out, d)
	}
	return out
}

// byPathLinks maps kernel names to their /dev/disk/by-path links, when
// something (udev, mdev) made them.
func byPathLinks(dir string) map[string]string {
	m := map[string]string{}
	for _, l := range listNames(dir) {
		if target, err := os.Readlink(filepath.Join(dir, l)); err == nil {
			m[filepath.Base(target)] = "/dev/disk/by-path/" + l
		}
	}
	return m
}

// listNames lists a directory sorted, nil when it is missing.
func listNames(dir string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func devNames(names []string) []string {
	if len(names) == 0 {
		return nil
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = "/dev/" + n
	}
	return out
}

func devno(dir string) [2]int64 {
	s, _ := readString(filepath.Join(dir, "dev"))
	maj, min, _ := strings.Cut(s, ":")
	a, _ := strconv.ParseInt(maj, 10, 64)
	b, _ := strconv.ParseInt(min, 10, 64)
	return [2]int64{a, b}
}

// rotational is lsblk's ROTA. ghw classifies the devices it knows by name
// (sd, hd, vd, nvme, mmc…) and their queue; md and device-mapper devices it
// leaves unknown, so their queue is read here.
func rotational(g *ghw.Disk, dir string) bool {
	switch g.DriveType {
	case ghw.DriveTypeHDD:
		return true
	case ghw.DriveTypeUnknown:
		return readBool(filepath.Join(dir, "queue/rotational"))
	}
	return false
}

func nonZero(n uint64) *int {
	if n == 0 {
		return nil
	}
	return ptr(int(n))
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func dirExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}
