package hardware

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
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
// does, from sysfs alone: whole disks, md RAID volumes (type raidN) and
// multipath devices; not RAM, zram, loop, floppy, optical, LVM or other
// device-mapper devices, zero-size devices, or the paths under a multipath
// device. md members stay in the list, as in IPA. The order is lsblk's
// (by device number).
func ListBlockDevices(opts BlockOptions) ([]BlockDevice, error) {
	r := opts.Root
	ents, err := os.ReadDir(r.sys("block"))
	if err != nil {
		return nil, fmt.Errorf("listing block devices: %w", err)
	}
	byPath := byPathLinks(r.dev("disk/by-path"))
	type dev struct {
		BlockDevice
		devno [2]int64
	}
	var devs []dev
	for _, e := range ents {
		name := e.Name()
		if skipName(name) {
			continue
		}
		dir := r.sys("block", name)
		typ := blockType(r, name, dir)
		if typ != "disk" && typ != "mpath" && !strings.Contains(typ, "raid") {
			continue
		}
		size, _ := readInt(filepath.Join(dir, "size"))
		if size == 0 || multipathMember(r, dir) {
			continue
		}
		d := readDevice(r, name, dir, byPath)
		d.Type, d.Size = typ, size*512
		devs = append(devs, dev{d, devno(dir)})
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
			out = append(out, partitions(r, d.BlockDevice, byPath)...)
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

func readDevice(r Root, name, dir string, byPath map[string]string) BlockDevice {
	d := BlockDevice{
		Name:            "/dev/" + name,
		Model:           readOptional(filepath.Join(dir, "device/model")),
		Vendor:          readOptional(filepath.Join(dir, "device/vendor")),
		Rotational:      readBool(filepath.Join(dir, "queue/rotational")),
		LogicalSectors:  readIntPtr(filepath.Join(dir, "queue/logical_block_size")),
		PhysicalSectors: readIntPtr(filepath.Join(dir, "queue/physical_block_size")),
		ReadOnly:        readBool(filepath.Join(dir, "ro")),
		Removable:       readBool(filepath.Join(dir, "removable")),
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

// partitions lists the partitions of a listed device; they inherit the
// disk's identifiers, as udev's properties do.
func partitions(r Root, disk BlockDevice, byPath map[string]string) []BlockDevice {
	dir := r.sys("block", filepath.Base(disk.Name))
	var out []BlockDevice
	for _, p := range listNames(dir) {
		pdir := filepath.Join(dir, p)
		num, ok := readString(filepath.Join(pdir, "partition"))
		if !ok {
			continue
		}
		d := disk
		d.Name, d.Parent, d.Type, d.HCTL, d.Tran = "/dev/"+p, disk.Name, "part", nil, nil
		if strings.HasPrefix(filepath.Base(disk.Name), "md") {
			d.Type = "md"
		}
		size, _ := readInt(filepath.Join(pdir, "size"))
		d.Size = size * 512
		d.ReadOnly = readBool(filepath.Join(pdir, "ro"))
		d.Holders = devNames(listNames(filepath.Join(pdir, "holders")))
		d.Slaves, d.Disks = nil, nil
		d.ByPath = nil
		if l, ok := byPath[p]; ok {
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

func readIntPtr(path string) *int {
	if n, ok := readInt(path); ok {
		return ptr(int(n))
	}
	return nil
}

func dirExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}
