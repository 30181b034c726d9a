package disk

import (
	"os"
	"strings"
	"testing"

	"github.com/goipa/goipa/internal/blockdev"
)

func openFile(t *testing.T, path string) *Disk {
	t.Helper()
	d, err := Open(path, Options{AllowFile: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestPartitionUUIDsGPT(t *testing.T) {
	t.Parallel()
	target := newFile(t, 32<<20, 0)
	writeImage(t, target, sgdiskImage(t, 32<<20))
	sf := sfdiskJSON(t, target)

	d := openFile(t, target)
	tbl, err := d.Partitions()
	if err != nil {
		t.Fatal(err)
	}
	if tbl.Type != "gpt" || !strings.EqualFold(tbl.ID, sf.PartitionTable.ID) {
		t.Errorf("table %s %s, sfdisk says gpt %s", tbl.Type, tbl.ID, sf.PartitionTable.ID)
	}
	u, err := d.PartitionUUIDs()
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Partitions) != len(sf.PartitionTable.Partitions) {
		t.Fatalf("%d partitions, sfdisk lists %d", len(u.Partitions), len(sf.PartitionTable.Partitions))
	}
	for i, p := range sf.PartitionTable.Partitions {
		if got := u.Partitions[p.Node]; !strings.EqualFold(got, p.UUID) {
			t.Errorf("%s: PARTUUID %q, sfdisk says %q", p.Node, got, p.UUID)
		}
		if tbl.Partitions[i].Start/512 != p.Start || tbl.Partitions[i].Size/512 != p.Size {
			t.Errorf("%s: geometry %d+%d, sfdisk says %d+%d sectors", p.Node,
				tbl.Partitions[i].Start/512, tbl.Partitions[i].Size/512, p.Start, p.Size)
		}
	}
	esp := sf.PartitionTable.Partitions[0]
	if !strings.EqualFold(u.ESP, esp.UUID) {
		t.Errorf("ESP %q, want partition 1 (%s)", u.ESP, esp.UUID)
	}
	r := u.Result()
	if r["root uuid"] != "0x00000000" || r["efi system partition uuid"] != u.ESP {
		t.Errorf("Result() = %v", r)
	}
}

func TestPartitionUUIDsMBR(t *testing.T) {
	t.Parallel()
	target := mbrDisk(t, 64<<20, ",4M,83\n,4M,ef\n,4M,83\n,30M,5\n,2M,83\n,3M,83\n")
	d := openFile(t, target)
	u, err := d.PartitionUUIDs()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		target + "1": "12345678-01", target + "2": "12345678-02", target + "3": "12345678-03",
		target + "4": "12345678-04", target + "5": "12345678-05", target + "6": "12345678-06",
	}
	for dev, id := range want {
		if u.Partitions[dev] != id {
			t.Errorf("%s: PARTUUID %q, want %q (all: %v)", dev, u.Partitions[dev], id, u.Partitions)
		}
	}
	if len(u.Partitions) != len(want) {
		t.Errorf("partitions %v, want %v", u.Partitions, want)
	}
	if u.Root != "0x12345678" || u.ESP != "12345678-02" {
		t.Errorf("root uuid %q, ESP %q; want 0x12345678 and 12345678-02", u.Root, u.ESP)
	}
	// sfdisk prints the MBR label id exactly as IPA's hexdump does.
	if sf := sfdiskJSON(t, target); sf.PartitionTable.ID != u.Root {
		t.Errorf("sfdisk label id %s, root uuid %s", sf.PartitionTable.ID, u.Root)
	}

	tbl, err := d.Partitions()
	if err != nil {
		t.Fatal(err)
	}
	sf := sfdiskJSON(t, target)
	for i, p := range sf.PartitionTable.Partitions {
		if tbl.Partitions[i].Device != p.Node || tbl.Partitions[i].Start/512 != p.Start || tbl.Partitions[i].Size/512 != p.Size {
			t.Errorf("partition %+v, sfdisk says %+v", tbl.Partitions[i], p)
		}
	}
}

func TestPartitionUUIDsNoTable(t *testing.T) {
	t.Parallel()
	path := newFile(t, 1<<20, 0)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{0x78, 0x56, 0x34, 0x12}, 440)
	f.Close()
	u, err := openFile(t, path).PartitionUUIDs()
	if err != nil {
		t.Fatal(err)
	}
	if r := u.Result(); len(r) != 1 || r["root uuid"] != "0x12345678" {
		t.Errorf("blank disk with bytes at the signature offset: %v, want only root uuid 0x12345678", r)
	}
}

func TestPartitionDeviceNames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ sys, want string }{
		{"/sys/devices/pci0000:00/block/sda", "/dev/sda3"},
		{"/sys/devices/pci0000:00/nvme/nvme0/nvme0n1", "/dev/nvme0n1p3"},
		{"/sys/devices/virtual/block/loop7", "/dev/loop7p3"},
		{"/sys/devices/platform/mmc/mmcblk0", "/dev/mmcblk0p3"},
	} {
		d := &Disk{dev: &blockdev.File{Path: "/dev/disk/by-id/whatever"}, sysDir: tc.sys}
		if got := d.partitionDevice(3); got != tc.want {
			t.Errorf("partition 3 of %s = %s, want %s", tc.sys, got, tc.want)
		}
	}
}
