package hardware

import (
	"encoding/hex"
	"reflect"
	"testing"
)

const (
	ataDisk  = "devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda"
	sasDisk  = "devices/pci0000:00/0000:00:03.0/0000:03:00.0/host2/port-2:0/end_device-2:0/target2:0:0/2:0:0:0/block/sdb"
	nvmeDisk = "devices/pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0/nvme0n1"
	vdDisk   = "devices/pci0000:00/0000:00:04.0/virtio1/block/vda"
)

// machine is a server with one disk of each attachment, an md RAID1 over
// a partition of the SATA disk and the whole SAS disk, a multipath LUN,
// and the devices IPA never lists.
func machine(t *testing.T) *tree {
	tr := newTree(t)
	tr.disk(ataDisk, map[string]string{
		"dev": "8:0", "size": "1953525168", "queue/rotational": "1",
		"queue/logical_block_size": "512", "queue/physical_block_size": "4096",
		"device/vendor": "ATA     ", "device/model": "ST1000DM003-1CH1", "device/type": "0",
		"device/scsi_device/0:0:0:0/": "", "device/wwid": "naa.5000c500a1b2c3d4",
		"device/vpd_pg80": vpd80("            Z1D5ABCD"), "device/vpd_pg89": vpd89("ST1000DM003-1CH162"),
	})
	tr.partition("sda", "sda1", "1", "2097152")
	tr.set("class", map[string]string{"scsi_host/host0/proc_name": "ahci", "ata_port/ata1/port_no": "1"})

	naa, _ := hex.DecodeString("600508b1001c7e1f9ab7d5e2a7c2f0d1")
	tr.disk(sasDisk, map[string]string{
		"dev": "8:16", "size": "1172123568", "queue/rotational": "1", "holders/md0/": "",
		"device/vendor": "SEAGATE ", "device/model": "ST600MM0088     ", "device/type": "0",
		"device/scsi_device/2:0:0:0/": "", "device/vpd_pg80": vpd80("W420ABCD"), "device/vpd_pg83": vpd83(naa),
	})
	tr.set("class", map[string]string{"sas_host/host2/": "", "scsi_host/host2/proc_name": "mpt3sas",
		"sas_device/end_device-2:0/sas_address": "0x5000c500a1b2c3d5"})

	tr.disk(nvmeDisk, map[string]string{
		"dev": "259:0", "size": "1953525168", "queue/rotational": "0", "nsid": "1",
		"wwid": "eui.0025388b71b3c5e1", "device/serial": "S4EWNX0N123456      ",
		"device/model": "Samsung SSD 970 EVO Plus 1TB            ",
	})
	tr.disk(vdDisk, map[string]string{"dev": "252:0", "size": "41943040", "serial": "QM00001", "device/vendor": "0x1af4"})
	tr.disk("devices/virtual/block/md0", map[string]string{
		"dev": "9:0", "size": "1048576", "md/level": "raid1", "slaves/sda1/": "", "slaves/sdb/": "",
	})
	// Two paths to one LUN, and the multipath device over them.
	for i, n := range []string{"sdc", "sdd"} {
		tr.disk("devices/platform/host9/target9:0:"+string(rune('0'+i))+"/9:0:0:0/block/"+n, map[string]string{
			"dev": "8:" + string(rune('3'+i)) + "2", "size": "2097152", "holders/dm-0/": "",
		})
	}
	tr.disk("devices/virtual/block/dm-0", map[string]string{"dev": "253:0", "size": "2097152", "dm/uuid": "mpath-3600a0b80001", "slaves/sdc/": "", "slaves/sdd/": ""})
	tr.disk("devices/virtual/block/dm-1", map[string]string{"dev": "253:1", "size": "2097152", "dm/uuid": "LVM-abcdef"})
	for _, n := range []string{"loop0", "ram0", "zram0"} {
		tr.disk("devices/virtual/block/"+n, map[string]string{"dev": "7:0", "size": "1024"})
	}
	tr.disk("devices/platform/floppy.0/block/fd0", map[string]string{"dev": "2:0", "size": "2880"})
	tr.disk("devices/pci0000:00/0000:00:1f.2/ata2/host1/target1:0:0/1:0:0:0/block/sr0", map[string]string{
		"dev": "11:0", "size": "2097152", "device/type": "5", "device/scsi_device/1:0:0:0/": "",
	})
	tr.disk("devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0/host6/target6:0:0/6:0:0:0/block/sde", map[string]string{
		"dev": "8:64", "size": "0", "device/scsi_device/6:0:0:0/": "",
	})
	return tr
}

func TestListBlockDevices(t *testing.T) {
	tr := machine(t)
	got, err := ListBlockDevices(BlockOptions{Root: Root{Sys: tr.root, Dev: tr.path("dev")}})
	if err != nil {
		t.Fatal(err)
	}
	s, i := ptr[string], ptr[int]
	want := []BlockDevice{{
		Name: "/dev/sda", Model: s("ST1000DM003-1CH162"), Size: 1953525168 * 512, Rotational: true,
		WWN: s("0x5000c500a1b2c3d4"), Serial: s("Z1D5ABCD"), Vendor: s("ATA"), WWNWithExtension: s("0x5000c500a1b2c3d4"),
		HCTL: s("0:0:0:0"), ByPath: s("/dev/disk/by-path/pci-0000:00:1f.2-ata-1"),
		LogicalSectors: i(512), PhysicalSectors: i(4096), Tran: s("sata"), Type: "disk",
	}, {
		Name: "/dev/sdb", Model: s("ST600MM0088"), Size: 1172123568 * 512, Rotational: true,
		WWN: s("0x600508b1001c7e1f"), Serial: s("W420ABCD"), Vendor: s("SEAGATE"),
		WWNWithExtension: s("0x600508b1001c7e1f9ab7d5e2a7c2f0d1"), WWNVendorExtension: s("0x9ab7d5e2a7c2f0d1"),
		HCTL: s("2:0:0:0"), ByPath: s("/dev/disk/by-path/pci-0000:03:00.0-sas-0x5000c500a1b2c3d5-lun-0"),
		Tran: s("sas"), Type: "disk", Holders: []string{"/dev/md0"},
	}, {
		Name: "/dev/md0", Size: 1048576 * 512, Type: "raid1",
		Slaves: []string{"/dev/sda1", "/dev/sdb"}, Disks: []string{"/dev/sda", "/dev/sdb"},
	}, {
		Name: "/dev/vda", Size: 41943040 * 512, Serial: s("QM00001"), Vendor: s("0x1af4"),
		ByPath: s("/dev/disk/by-path/pci-0000:00:04.0"), Tran: s("virtio"), Type: "disk",
	}, {
		Name: "/dev/dm-0", Size: 2097152 * 512, Type: "mpath",
		Slaves: []string{"/dev/sdc", "/dev/sdd"}, Disks: []string{"/dev/sdc", "/dev/sdd"},
	}, {
		Name: "/dev/nvme0n1", Model: s("Samsung SSD 970 EVO Plus 1TB"), Size: 1953525168 * 512,
		WWN: s("eui.0025388b71b3c5e1"), Serial: s("S4EWNX0N123456"),
		ByPath: s("/dev/disk/by-path/pci-0000:3d:00.0-nvme-1"), Tran: s("nvme"), Type: "disk",
	}}
	if len(got) != len(want) {
		t.Fatalf("got %d devices %v, want %d", len(got), names(got), len(want))
	}
	for k := range want {
		if !reflect.DeepEqual(got[k], want[k]) {
			t.Errorf("device %d:\n got %s\nwant %s", k, dump(got[k]), dump(want[k]))
		}
	}
}

func TestListBlockDevicesPartitionsAndByPathLinks(t *testing.T) {
	tr := machine(t)
	// With udev or mdev running, the links it made win over computed names.
	tr.set("dev/disk/by-path", map[string]string{"pci-0000:00:1f.2-ata-1.0": "->dev/sda", "pci-0000:00:1f.2-ata-1.0-part1": "->dev/sda1"})
	got, err := ListBlockDevices(BlockOptions{Root: Root{Sys: tr.root, Dev: tr.path("dev")}, IncludePartitions: true})
	if err != nil {
		t.Fatal(err)
	}
	if *got[0].ByPath != "/dev/disk/by-path/pci-0000:00:1f.2-ata-1.0" {
		t.Errorf("sda by_path = %s", *got[0].ByPath)
	}
	last := got[len(got)-1]
	if last.Name != "/dev/sda1" || last.Type != "part" || last.Parent != "/dev/sda" || last.Size != 2097152*512 ||
		*last.ByPath != "/dev/disk/by-path/pci-0000:00:1f.2-ata-1.0-part1" || *last.Serial != "Z1D5ABCD" || last.HCTL != nil {
		t.Errorf("partition = %s", dump(last))
	}
}

func TestListBlockDevicesWithoutSysfs(t *testing.T) {
	if _, err := ListBlockDevices(BlockOptions{Root: Root{Sys: t.TempDir()}}); err == nil {
		t.Error("no error without /sys/block")
	}
}

func TestListBlockDevicesOnThisMachine(t *testing.T) {
	devs, err := ListBlockDevices(BlockOptions{IncludePartitions: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) == 0 {
		t.Fatal("no disks on this machine")
	}
	for _, d := range devs {
		if d.Size <= 0 || d.Name == "" || d.Type == "" {
			t.Errorf("implausible device %s", dump(d))
		}
	}
}

func names(ds []BlockDevice) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Name)
	}
	return out
}
