package ptable

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// image makes a sparse file of size bytes and lays out a table on it with
// sfdisk (the real peer, not our encoder).
func image(t *testing.T, size int64, script string) *os.File {
	t.Helper()
	if _, err := exec.LookPath("sfdisk"); err != nil {
		t.Skip("sfdisk not installed")
	}
	p := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, size); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", p)
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

type sfdiskJSON struct {
	PartitionTable struct {
		ID         string `json:"id"`
		Partitions []struct {
			Node  string `json:"node"`
			Start uint64 `json:"start"`
			Size  uint64 `json:"size"`
			Type  string `json:"type"`
			UUID  string `json:"uuid"`
		} `json:"partitions"`
	} `json:"partitiontable"`
}

func dump(t *testing.T, f *os.File) sfdiskJSON {
	t.Helper()
	out, err := exec.Command("sfdisk", "--json", f.Name()).Output()
	if err != nil {
		t.Fatalf("sfdisk --json: %v", err)
	}
	var d sfdiskJSON
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestGPTAsSfdiskWroteIt: both copies of a GPT sfdisk wrote validate, and
// their entries give the extents, types and UUIDs sfdisk reports.
func TestGPTAsSfdiskWroteIt(t *testing.T) {
	const size = 64 << 20
	f := image(t, size, "label: gpt\n,8M,U\n,16M,L\n,4M,L\n")
	want := dump(t, f)
	for _, lba := range []uint64{1, size/512 - 1} {
		g, err := ReadGPT(f, lba, 512, size)
		if err != nil {
			t.Fatalf("LBA %d: %v", lba, err)
		}
		if !strings.EqualFold(g.DiskGUID(), want.PartitionTable.ID) {
			t.Errorf("LBA %d: disk GUID %s, sfdisk says %s", lba, g.DiskGUID(), want.PartitionTable.ID)
		}
		var n int
		for i := range int(g.NumEntries) {
			if !g.Used(i) {
				continue
			}
			p := want.PartitionTable.Partitions[n]
			first, last := g.Extent(i)
			e := g.Entry(i)
			if first != p.Start || last-first+1 != p.Size || !strings.EqualFold(GUIDString(e[:16]), p.Type) ||
				!strings.EqualFold(GUIDString(e[16:32]), p.UUID) {
				t.Errorf("LBA %d entry %d: %d+%d %s %s; sfdisk: %+v", lba, i, first, last-first+1, GUIDString(e[:16]), GUIDString(e[16:32]), p)
			}
			n++
		}
		if n != len(want.PartitionTable.Partitions) {
			t.Errorf("LBA %d: %d partitions, sfdisk lists %d", lba, n, len(want.PartitionTable.Partitions))
		}
	}
	// A flipped bit in the entry array fails its CRC.
	b := make([]byte, 512)
	if _, err := f.ReadAt(b, 2*512); err != nil {
		t.Fatal(err)
	}
	b[40] ^= 1
	w, err := os.OpenFile(f.Name(), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt(b, 2*512); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if _, err := ReadGPT(f, 1, 512, size); err == nil || !strings.Contains(err.Error(), "entry CRC") {
		t.Errorf("damaged array: %v", err)
	}
	if _, err := ReadGPT(f, 5, 512, size); err == nil {
		t.Error("a header was found where there is none")
	}
}

// TestMBRWithLogicalPartitions: primary and logical partitions sfdisk
// wrote, the logical ones through the EBR chain, numbered from 5.
func TestMBRWithLogicalPartitions(t *testing.T) {
	f := image(t, 64<<20, "label: dos\n,8M,83\n,8M,83\n,,5\n,10M,83\n,10M,82\n,5M,83\n")
	want := dump(t, f)
	b := make([]byte, 512)
	if _, err := f.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	entries, ok := ParseMBR(b)
	if !ok {
		t.Fatal("sfdisk's MBR not recognised")
	}
	type part struct {
		start, size uint64
		typ         byte
	}
	var got []part
	for _, e := range entries {
		if e.Empty() {
			continue
		}
		got = append(got, part{uint64(e.Start), uint64(e.Size), e.Type})
		if IsExtended(e.Type) {
			logical, err := ReadLogical(f, uint64(e.Start), 512, 64<<20)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range logical {
				got = append(got, part{uint64(l.Entry.Start), uint64(l.Entry.Size), l.Entry.Type})
			}
		}
	}
	if len(got) != len(want.PartitionTable.Partitions) {
		t.Fatalf("got %v; sfdisk: %+v", got, want.PartitionTable.Partitions)
	}
	for i, p := range want.PartitionTable.Partitions {
		if got[i].start != p.Start || got[i].size != p.Size || !strings.EqualFold(strings.TrimLeft(p.Type, "0"), strings.TrimLeft(hex2(got[i].typ), "0")) {
			t.Errorf("partition %s: %+v; sfdisk: %+v", p.Node, got[i], p)
		}
	}
}

func hex2(b byte) string {
	return strings.ToLower(string("0123456789abcdef"[b>>4]) + string("0123456789abcdef"[b&15]))
}

// TestFATBootSectorIsNotAnMBR: a FAT filesystem written to a whole device
// ends in 55 AA too, and is not taken for a partition table.
func TestFATBootSectorIsNotAnMBR(t *testing.T) {
	if _, err := exec.LookPath("mkfs.vfat"); err != nil {
		t.Skip("mkfs.vfat not installed")
	}
	p := filepath.Join(t.TempDir(), "fat.img")
	if out, err := exec.Command("mkfs.vfat", "-C", p, "8192").CombinedOutput(); err != nil {
		t.Fatalf("mkfs.vfat: %v\n%s", err, out)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if b[510] != 0x55 || b[511] != 0xaa {
		t.Fatal("mkfs.vfat wrote no boot signature")
	}
	if _, ok := ParseMBR(b[:512]); ok {
		t.Error("a FAT boot sector was taken for an MBR")
	}
}

// TestGUID: GPT's mixed-endian GUIDs against a known pair (the UEFI spec's
// EFI system partition type) and a round trip.
func TestGUID(t *testing.T) {
	esp := []byte{0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b}
	if got := GUIDString(esp); got != "c12a7328-f81f-11d2-ba4b-00a0c93ec93b" {
		t.Errorf("GUIDString = %s", got)
	}
	if got := GUIDBytes("C12A7328-F81F-11D2-BA4B-00A0C93EC93B"); string(got) != string(esp) {
		t.Errorf("GUIDBytes = % x", got)
	}
}
