package raid

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"unicode"

	"github.com/diskfs/go-diskfs/partition/gpt"
)

// Device is a disk the RAID may be built on.
type Device struct {
	Path              string // "/dev/sda"
	Size              int64  // bytes
	LogicalSectorSize int    // 512 or 4096; 0 means 512
}

// Matcher returns the candidates matching one device-hint dict
// (physical_disks entries use root device hint syntax).
type Matcher func(hints map[string]any, candidates []Device) ([]Device, error)

// Sizes of the layout.
const (
	MiB          = int64(1) << 20
	GiB          = int64(1) << 30
	ESPSize      = 550 * MiB // as IPA and DIB
	BIOSBootSize = 2 * MiB
	align        = MiB
	gptReserve   = 128 * 128 // GPT partition entry array at each end
)

// mdHeadroom is the space mdadm keeps on each member besides the data:
// superblock, bitmap and reshape headroom, at most 128 MiB.
func mdHeadroom(member int64) int64 {
	return min(128*MiB, member/512) + MiB
}

// Partition is one GPT entry written on a holder disk.
type Partition struct {
	Number int
	Start  int64 // bytes, 1 MiB aligned
	Size   int64 // bytes
	Type   gpt.Type
	Name   string
	Path   string // "/dev/sda2", "/dev/nvme0n1p2"
}

// Holder is a disk with its new partition table.
type Holder struct {
	Device
	Partitions []Partition
}

// Array is one md array to create.
type Array struct {
	Name        string // md name; device /dev/md/<Name>
	Level       string // Ironic level ("1+0" etc.)
	Metadata    string
	Members     []string
	LogicalDisk int   // index in logical_disks, -1 for the ESP
	Size        int64 // requested size in bytes, 0 for MAX and the ESP
}

// Layout is the whole plan: nothing is written until it exists.
type Layout struct {
	Holders []Holder
	Arrays  []Array // ESP first when UEFI, then logical disks in config order
	Root    int     // index in Arrays of the root volume, -1 for none
}

// PartitionPath names partition n of disk: a "p" goes between names that
// end in a digit (nvme0n1p1, loop0p1, mmcblk0p1) and the number.
func PartitionPath(disk string, n int) string {
	base := filepath.Base(disk)
	if base != "" && unicode.IsDigit(rune(base[len(base)-1])) {
		return disk + "p" + strconv.Itoa(n)
	}
	return disk + strconv.Itoa(n)
}

func sectorSize(d Device) int64 {
	if d.LogicalSectorSize > 0 {
		return int64(d.LogicalSectorSize)
	}
	return 512
}

// usable returns the aligned byte range partitions may use on d.
func usable(d Device) (start, end int64) {
	lss := sectorSize(d)
	last := d.Size - lss - gptReserve // backup header and array
	return align, last / align * align
}

// dataDisks is how many members' worth of space a level offers.
func dataDisks(level string, n int) (num, den int64) {
	switch level {
	case "0":
		return int64(n), 1
	case "5":
		return int64(n - 1), 1
	case "6":
		return int64(n - 2), 1
	case "1+0":
		return int64(n), 2 // two near copies
	}
	return 1, 1
}

// memberSize is the partition size giving an array of at least size bytes
// once mdadm has taken its headroom from each member.
func memberSize(level string, n int, size int64) int64 {
	num, den := dataDisks(level, n)
	data := (size*den + num - 1) / num
	m := (data + mdHeadroom(data) + align - 1) / align * align
	for m-mdHeadroom(m) < data {
		m += align
	}
	return m
}

// Plan chooses the holder disks and lays out their partitions. It refuses,
// naming the logical disk, anything that cannot be built on disks.
func Plan(c *Config, disks []Device, match Matcher, uefi bool) (*Layout, error) {
	if len(disks) == 0 {
		return nil, invalid("no disks to build software RAID on")
	}
	members := make([][]Device, len(c.LogicalDisks))
	var holders []Device
	for i, ld := range c.LogicalDisks {
		chosen, err := chooseDisks(i, ld, disks, match)
		if err != nil {
			return nil, err
		}
		if n := minDisks[ld.Level]; len(chosen) < n {
			return nil, invalid("logical disk %d: RAID-%s needs at least %d disks, the machine has %d", i, ld.Level, n, len(chosen))
		}
		members[i] = chosen
		for _, d := range chosen {
			if !slices.ContainsFunc(holders, func(h Device) bool { return h.Path == d.Path }) {
				holders = append(holders, d)
			}
		}
	}
	onHolder := func(i int, h Device) bool {
		return slices.ContainsFunc(members[i], func(d Device) bool { return d.Path == h.Path })
	}

	// Fixed sizes first; MAX gets what every one of its disks has left.
	need := map[string]int64{}
	sizes := make([]int64, len(c.LogicalDisks))
	boot := BIOSBootSize
	if uefi {
		boot = ESPSize
	}
	for _, h := range holders {
		need[h.Path] = boot
	}
	for i, ld := range c.LogicalDisks {
		if ld.Max {
			continue
		}
		sizes[i] = memberSize(ld.Level, len(members[i]), ld.SizeGB*GiB)
		for _, h := range members[i] {
			need[h.Path] += sizes[i]
		}
	}
	for _, h := range holders {
		start, end := usable(h)
		if have := end - start; need[h.Path] > have {
			return nil, invalid("the logical disks need %d MiB on %s, which has %d MiB usable", need[h.Path]/MiB, h.Path, have/MiB)
		}
	}
	for i, ld := range c.LogicalDisks {
		if !ld.Max {
			continue
		}
		rest := int64(-1)
		for _, h := range members[i] {
			start, end := usable(h)
			if left := end - start - need[h.Path]; rest < 0 || left < rest {
				rest = left
			}
		}
		if rest < 64*MiB {
			return nil, invalid("logical disk %d: size_gb MAX leaves only %d MiB per disk", i, rest/MiB)
		}
		sizes[i] = rest
	}

	l := &Layout{Root: -1}
	parts := map[string][]string{} // logical disk index → member partitions, keyed by strconv
	for _, h := range holders {
		hd := Holder{Device: h}
		pos, _ := usable(h)
		add := func(size int64, typ gpt.Type, name string) Partition {
			n := len(hd.Partitions) + 1
			p := Partition{Number: n, Start: pos, Size: size, Type: typ, Name: name, Path: PartitionPath(h.Path, n)}
			hd.Partitions = append(hd.Partitions, p)
			pos += size
			return p
		}
		if uefi {
			p := add(ESPSize, gpt.EFISystemPartition, ESPName)
			parts["esp"] = append(parts["esp"], p.Path)
		} else {
			add(BIOSBootSize, gpt.BIOSBoot, "bios_grub")
		}
		for i, ld := range c.LogicalDisks {
			if onHolder(i, h) {
				p := add(sizes[i], gpt.LinuxRAID, ld.VolumeName)
				parts[strconv.Itoa(i)] = append(parts[strconv.Itoa(i)], p.Path)
			}
		}
		l.Holders = append(l.Holders, hd)
	}
	if uefi {
		l.Arrays = append(l.Arrays, Array{Name: ESPName, Level: "1", Metadata: "1.0", Members: parts["esp"], LogicalDisk: -1})
	}
	root := c.Root()
	for i, ld := range c.LogicalDisks {
		if i == root {
			l.Root = len(l.Arrays)
		}
		l.Arrays = append(l.Arrays, Array{Name: ld.VolumeName, Level: ld.Level, Metadata: "1.2",
			Members: parts[strconv.Itoa(i)], LogicalDisk: i, Size: ld.SizeGB * GiB})
	}
	return l, nil
}

// chooseDisks picks one disk per physical_disks hint (a disk already
// picked for this logical disk is skipped), or every disk without hints.
func chooseDisks(i int, ld LogicalDisk, disks []Device, match Matcher) ([]Device, error) {
	if len(ld.PhysicalDisks) == 0 {
		return disks, nil
	}
	if match == nil {
		return nil, invalid("logical disk %d: physical_disks given but no device hint matcher", i)
	}
	var chosen []Device
	for j, hint := range ld.PhysicalDisks {
		cands, err := match(hint, disks)
		if err != nil {
			return nil, invalid("logical disk %d: physical_disks[%d] %s: %v", i, j, show(hint), err)
		}
		k := slices.IndexFunc(cands, func(d Device) bool {
			return !slices.ContainsFunc(chosen, func(c Device) bool { return c.Path == d.Path })
		})
		if k < 0 {
			if len(cands) == 0 {
				return nil, invalid("logical disk %d: physical_disks[%d] %s matches no disk", i, j, show(hint))
			}
			return nil, invalid("logical disk %d: physical_disks[%d] %s matches only disks already chosen for it", i, j, show(hint))
		}
		chosen = append(chosen, cands[k])
	}
	return chosen, nil
}

// String is a one-line description for logs.
func (a Array) String() string {
	return fmt.Sprintf("/dev/md/%s RAID-%s on %v", a.Name, a.Level, a.Members)
}
