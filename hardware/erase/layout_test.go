package erase

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// imageFile creates a sparse size-byte file for the partitioning tools,
// which work on plain files without root.
func imageFile(t *testing.T, size int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.img")
	f, err := os.Create(p)
	must(t, err)
	must(t, f.Truncate(size))
	must(t, f.Close())
	return p
}

func layoutOf(t *testing.T, path string, lss int) *layout {
	t.Helper()
	f, err := os.Open(path)
	must(t, err)
	defer f.Close()
	st, err := f.Stat()
	must(t, err)
	l, err := readLayout(f, st.Size(), lss)
	must(t, err)
	return l
}

// sfdiskParts asks sfdisk (the oracle) for the partitions of an image.
func sfdiskParts(t *testing.T, path string) []span {
	t.Helper()
	var dump struct {
		PartitionTable struct {
			SectorSize int64 `json:"sectorsize"`
			Partitions []struct{ Start, Size int64 }
		} `json:"partitiontable"`
	}
	must(t, json.Unmarshal([]byte(run(t, "sfdisk", "--json", path)), &dump))
	var out []span
	for _, p := range dump.PartitionTable.Partitions {
		out = append(out, span{p.Start * 512, p.Size * 512})
	}
	return out
}

func partSpans(l *layout) []span {
	var out []span
	for _, p := range l.parts {
		out = append(out, span{p.start, p.size})
	}
	return out
}

func sameSpans(a, b []span) bool {
	cmp := func(x, y span) int { return int(x.off - y.off) }
	a, b = slices.Clone(a), slices.Clone(b)
	slices.SortFunc(a, cmp)
	slices.SortFunc(b, cmp)
	return slices.Equal(a, b)
}

func TestReadLayoutGPT(t *testing.T) {
	t.Parallel()
	needTool(t, "sgdisk")
	needTool(t, "sfdisk")
	img := imageFile(t, 64<<20)
	run(t, "sgdisk", "-n", "1:2048:+16M", "-n", "2:0:+8M", "-n", "3:0:0", img)
	l := layoutOf(t, img, 512)
	if want := sfdiskParts(t, img); !sameSpans(partSpans(l), want) {
		t.Errorf("partitions %v, sfdisk says %v", partSpans(l), want)
	}
	// Primary header + array, backup header + array.
	want := []span{{512, 512}, {1024, 16384}, {64<<20 - 512, 512}, {64<<20 - 512 - 16384, 16384}}
	if !sameSpans(l.tables, want) {
		t.Errorf("table spans %v, want %v", l.tables, want)
	}
}

// A whole-disk image written to a bigger disk leaves its backup GPT in the
// middle of the disk; the primary header points at it.
func TestReadLayoutGPTMidDiskBackup(t *testing.T) {
	t.Parallel()
	needTool(t, "sgdisk")
	img := imageFile(t, 32<<20)
	run(t, "sgdisk", "-n", "1:0:+8M", img)
	must(t, os.Truncate(img, 96<<20))
	l := layoutOf(t, img, 512)
	if !slices.Contains(l.tables, span{32<<20 - 512, 512}) || !slices.Contains(l.tables, span{32<<20 - 512 - 16384, 16384}) {
		t.Errorf("table spans %v lack the backup GPT at 32 MiB", l.tables)
	}
	if len(l.parts) != 1 || l.parts[0].start != 1<<20 {
		t.Errorf("partitions %+v, want one at 1 MiB", l.parts)
	}
}

func TestReadLayoutMBRLogical(t *testing.T) {
	t.Parallel()
	needTool(t, "sfdisk")
	img := imageFile(t, 64<<20)
	runInput(t, "label: dos\n,8M,83\n,,E\n,10M,L\n,10M,S\n,,L\n", "sfdisk", "--quiet", img)
	l := layoutOf(t, img, 512)
	want := sfdiskParts(t, img)
	if len(want) != 5 || !sameSpans(partSpans(l), want) {
		t.Errorf("partitions %v, sfdisk says %v", partSpans(l), want)
	}
	// One extended boot record per logical partition, inside the extended
	// partition and before its logical partition.
	if len(l.tables) != 3 {
		t.Fatalf("EBR spans %v, want 3", l.tables)
	}
	for _, e := range l.tables {
		if e.off < want[1].off || e.off >= want[1].off+want[1].n {
			t.Errorf("EBR at %d outside the extended partition %v", e.off, want[1])
		}
		sector := readAt(t, img, e.off, 512)
		if sector[510] != 0x55 || sector[511] != 0xaa {
			t.Errorf("no boot record signature at %d", e.off)
		}
	}
}

// A FAT filesystem's boot sector ends in 55 AA too; it is not a partition
// table.
func TestReadLayoutFATIsNotMBR(t *testing.T) {
	t.Parallel()
	needTool(t, "mkfs.vfat")
	img := imageFile(t, 32<<20)
	run(t, "mkfs.vfat", img)
	if l := layoutOf(t, img, 512); len(l.parts) != 0 {
		t.Errorf("partitions %+v on a bare FAT filesystem", l.parts)
	}
}

func TestSpecialFilesystem(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(t *testing.T, img string)
		want  string
	}{
		{"empty", func(*testing.T, string) {}, ""},
		{"ext4 partition", func(t *testing.T, img string) {
			needTool(t, "sgdisk")
			run(t, "sgdisk", "-n", "1:0:+16M", "-t", "1:8300", img)
		}, ""},
		{"VMFS partition type (GPT)", func(t *testing.T, img string) {
			needTool(t, "sgdisk")
			run(t, "sgdisk", "-n", "1:0:+8M", "-n", "2:0:+8M", "-t", "2:AA31E02A-400F-11DB-9590-000C2911D1B8", img)
		}, "VMware VMFS partition (GPT)"},
		{"GPFS partition type", func(t *testing.T, img string) {
			needTool(t, "sgdisk")
			run(t, "sgdisk", "-n", "1:0:+8M", "-t", "1:37affc90-ef7d-4e96-91c3-2d7ae055b174", img)
		}, "IBM GPFS partition"},
		{"VMFS partition type (MBR)", func(t *testing.T, img string) {
			needTool(t, "sfdisk")
			runInput(t, "label: dos\n,8M,83\n,8M,fb\n", "sfdisk", "--quiet", img)
		}, "VMware VMFS partition (MBR)"},
		{"OCFS2 on a partition", func(t *testing.T, img string) {
			needTool(t, "sgdisk")
			run(t, "sgdisk", "-n", "1:2048:+16M", img)
			writeAt(t, img, 1<<20+4096, []byte("OCFSV2"))
		}, "OCFS2 filesystem"},
		{"GFS2 on the whole disk", func(t *testing.T, img string) {
			writeAt(t, img, 64<<10, binary.BigEndian.AppendUint64(nil, 0x01161970_00000001))
		}, "GFS/GFS2 filesystem"},
		{"GFS2 magic on something else than a superblock", func(t *testing.T, img string) {
			writeAt(t, img, 64<<10, binary.BigEndian.AppendUint64(nil, 0x01161970_00000004))
		}, ""},
		{"VMFS filesystem", func(t *testing.T, img string) {
			writeAt(t, img, 2<<20, binary.LittleEndian.AppendUint32(nil, 0x2fabf15e))
		}, "VMware VMFS filesystem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			img := imageFile(t, 64<<20)
			tt.setup(t, img)
			f, err := os.Open(img)
			must(t, err)
			defer f.Close()
			got, err := specialFilesystem(f, 64<<20, 512)
			if err != nil || got != tt.want {
				t.Errorf("specialFilesystem = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// Every signature wipefs/blkid knows must fall inside what Metadata
// zeroes, for the device and for a partition, whatever their sizes.
func TestWipePlanCoversSignatures(t *testing.T) {
	t.Parallel()
	type sig struct {
		name    string
		off     func(size int64) int64
		n       int64
		minSize int64 // signature only exists on ranges at least this big
	}
	at := func(o int64) func(int64) int64 { return func(int64) int64 { return o } }
	fromEnd := func(o int64) func(int64) int64 { return func(s int64) int64 { return s - o } }
	sigs := []sig{
		{"MBR / protective MBR", at(0), 512, 0},
		{"GPT header (512)", at(512), 512, 0},
		{"GPT entries (512)", at(1024), 16384, 0},
		{"GPT header (4096)", at(4096), 4096, 0},
		{"GPT entries (4096)", at(8192), 16384, 0},
		{"backup GPT (512)", fromEnd(512 + 16384), 16384 + 512, 0},
		{"backup GPT (4096)", fromEnd(4096 + 16384), 16384 + 4096, 0},
		{"md 0.90", func(s int64) int64 { return s&^(64<<10-1) - 64<<10 }, 4096, 128 << 10},
		{"md 1.0", func(s int64) int64 { return (s/512 - 16) &^ 7 * 512 }, 4096, 0},
		{"md 1.1", at(0), 4096, 0},
		{"md 1.2", at(4096), 4096, 0},
		{"ext2/3/4", at(1024), 1024, 0},
		{"XFS", at(0), 512, 0},
		{"btrfs", at(64 << 10), 4096, 0},
		{"FAT boot sector", at(0), 512, 0},
		{"swap, 4 KiB pages", at(4096 - 10), 10, 0},
		{"swap, 64 KiB pages", at(65536 - 10), 10, 0},
		{"LVM2 label", at(0), 2048, 0},
		{"ISO 9660 / UDF recognition", at(32768), 6 * 2048, 0},
		{"UDF anchor, 4Kn", at(256 * 4096), 4096, 2 << 20},
		{"UDF anchor N-256, 4Kn", fromEnd(257 * 4096), 4096, 2 << 20},
		{"UDF last-sector anchor", fromEnd(4096), 4096, 0},
		{"LUKS", at(0), 4096, 0},
		{"LUKS2 secondary, 1 MiB header", at(1 << 20), 4096, 2 << 20},
		{"LUKS2 secondary, 2 MiB header", at(2 << 20), 4096, 3 << 20},
		{"LUKS2 secondary, 4 MiB header", at(4 << 20), 4096, 5 << 20},
		{"VMFS volume", at(1 << 20), 4096, 2 << 20},
		{"VMFS filesystem", at(2 << 20), 4096, 3 << 20},
		{"ZFS label 0", at(0), 256 << 10, 0},
		{"ZFS label 1", at(256 << 10), 256 << 10, 1 << 20},
		{"ZFS label 2", func(s int64) int64 { return s&^(256<<10-1) - 512<<10 }, 256 << 10, 1 << 20},
		{"ZFS label 3", func(s int64) int64 { return s&^(256<<10-1) - 256<<10 }, 256 << 10, 1 << 20},
		{"ReiserFS", at(64 << 10), 4096, 0},
		{"bcache", at(4096), 4096, 0},
	}
	covered := func(plan []span, off, n int64) bool {
		for _, s := range plan {
			if off >= s.off && off+n <= s.off+s.n {
				return true
			}
		}
		return false
	}
	for _, size := range []int64{1536 << 10, 3 << 20, 64 << 20, 1<<30 + 3*4096, 10<<40 + 512} {
		for _, lss := range []int{512, 4096} {
			if size%int64(lss) != 0 {
				continue
			}
			// The device, and a partition at an odd place within it.
			pstart := int64(lss) * 2047
			psize := (size - pstart) / 3 / int64(lss) * int64(lss)
			l := &layout{parts: []partition{{start: pstart, size: psize}}}
			plan := wipePlan(size, lss, l)
			for _, r := range []struct {
				name        string
				start, size int64
			}{{"device", 0, size}, {"partition", pstart, psize}} {
				for _, s := range sigs {
					if r.size < s.minSize || r.size < s.n {
						continue
					}
					off := r.start + s.off(r.size)
					if !covered(plan, off, s.n) {
						t.Errorf("size %d, %d-byte sectors: %s of the %s at %d (+%d) is not zeroed", size, lss, s.name, r.name, off, s.n)
					}
				}
			}
			var total int64
			for _, s := range plan {
				if s.off%int64(lss) != 0 || s.n%int64(lss) != 0 || s.off+s.n > size {
					t.Errorf("span %+v not sector-aligned within the device", s)
				}
				total += s.n
			}
			if limit := int64(2 * (2*edge + 4*spot)); total > limit {
				t.Errorf("size %d: zeroes %d bytes, want at most %d (metadata erase must stay small)", size, total, limit)
			}
		}
	}
}
