package ramdisk

import (
	"os"
	"path/filepath"
	"testing"
)

// TestFindMedia: a fake sysfs and /dev whose "devices" are images made by
// genisoimage and mkfs.vfat. Only a CD-ROM or a small USB disk counts; the
// same labels on a local disk or a partition (an instance's config drive)
// do not.
func TestFindMedia(t *testing.T) {
	needTools(t, "genisoimage", "mkfs.vfat")
	root := t.TempDir()
	sysfs, dev, src := filepath.Join(root, "sys"), filepath.Join(root, "dev"), filepath.Join(root, "src")
	mkdir(t, dev, src)
	iso := func(name, label string) {
		run(t, "genisoimage", "-quiet", "-r", "-J", "-V", label, "-o", filepath.Join(dev, name), src)
	}
	vfat := func(name, label string, size int64) {
		p := filepath.Join(dev, name)
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, size); err != nil {
			t.Fatal(err)
		}
		run(t, "mkfs.vfat", "-n", label, p)
	}
	// device makes /sys/class/block/NAME a link into /sys/devices/PATH.
	device := func(name, path string, files map[string]string) {
		dir := filepath.Join(sysfs, "devices", path, "block", name)
		mkdir(t, dir, filepath.Join(sysfs, "class/block"))
		for f, body := range files {
			p := filepath.Join(dir, f)
			mkdir(t, filepath.Dir(p))
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Symlink(dir, filepath.Join(sysfs, "class/block", name)); err != nil {
			t.Fatal(err)
		}
	}
	const ata, usb = "pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0", "pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0/host6/target6:0:0/6:0:0:0"

	iso("sda", "config-2") // a local disk holding a config drive
	device("sda", ata, map[string]string{"device/type": "0\n", "size": "2048\n"})
	iso("sda1", "config-2") // its partition
	device("sda1", ata+"/sda", map[string]string{"partition": "1\n", "size": "2048\n"})
	vfat("sdb", "IR-VFD-DEV", 100<<10) // a BMC's virtual floppy over USB, label in upper case
	device("sdb", usb, map[string]string{"device/type": "0\n", "size": "200\n"})
	iso("sr0", "VMEDIA_BOOT_ISO") // the BMC's virtual CD
	device("sr0", "pci0000:00/0000:00:1f.2/ata2/host1/target1:0:0/1:0:0:0", map[string]string{"device/type": "5\n", "size": "4\n"})
	device("sr1", "pci0000:00/0000:00:1f.2/ata3/host2/target2:0:0/2:0:0:0", map[string]string{"device/type": "5\n"}) // no disc

	gotISO, gotFloppy := findMedia(sysfs, dev)
	if want := (medium{dev: filepath.Join(dev, "sr0"), fstype: fsISO9660}); gotISO != want {
		t.Errorf("ISO = %+v, want %+v", gotISO, want)
	}
	if want := (medium{dev: filepath.Join(dev, "sdb"), fstype: fsVFAT}); gotFloppy != want {
		t.Errorf("floppy = %+v, want %+v", gotFloppy, want)
	}

	// A USB disk of 4 GiB or more is a real disk.
	if err := os.WriteFile(filepath.Join(sysfs, "class/block/sdb/size"), []byte("8388608\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, floppy := findMedia(sysfs, dev); floppy.dev != "" {
		t.Errorf("floppy on a 4 GiB USB disk = %+v, want none", floppy)
	}
}

func TestUSBStoragePending(t *testing.T) {
	const iface = "bus/usb/devices/1-1:1.0"
	tests := []struct {
		name  string
		files map[string]string // under sysfs
		want  bool
	}{
		{"no USB", nil, false},
		{"keyboard", map[string]string{iface + "/bInterfaceClass": "03\n"}, false},
		{"storage not bound", map[string]string{iface + "/bInterfaceClass": "08\n"}, true},
		{"SCSI scan pending", map[string]string{iface + "/bInterfaceClass": "08\n", iface + "/host6/scsi_host/host6/name": ""}, true},
		{"disk there", map[string]string{iface + "/bInterfaceClass": "08\n", iface + "/host6/target6:0:0/6:0:0:0/block/sdb/size": "200\n"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sysfs := t.TempDir()
			if tt.files != nil { // the root hub the interfaces hang off
				mkdir(t, filepath.Join(sysfs, "bus/usb/devices/usb1"))
			}
			for p, body := range tt.files {
				mkdir(t, filepath.Dir(filepath.Join(sysfs, p)))
				if err := os.WriteFile(filepath.Join(sysfs, p), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if got := usbStoragePending(sysfs); got != tt.want {
				t.Errorf("usbStoragePending = %v, want %v", got, tt.want)
			}
			if got := hasUSB(sysfs); got != (tt.files != nil) {
				t.Errorf("hasUSB = %v with %d files", got, len(tt.files))
			}
		})
	}
}

func TestIsStorageDevice(t *testing.T) {
	tests := []struct {
		modalias string
		want     bool
	}{
		{"pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i01", true},  // ICH9 AHCI (QEMU q35)
		{"pci:v00001000d00000097sv00001028sd00001F45bc01sc07i00", true},  // SAS HBA
		{"pci:v00008086d0000A0EDsv00001028sd00000A3Bbc0Csc03i30", true},  // xHCI: BMC virtual media on USB
		{"pci:v00001AF4d00001041sv00001AF4sd00001100bc02sc00i00", false}, // virtio-net
		{"pci:v00008086d0000A0EFsv00001028sd00000A3Bbc0Csc05i00", false}, // SMBus
		{"virtio:d00000002v00001AF4", true},                              // virtio-blk
		{"virtio:d00000008v00001AF4", true},                              // virtio-scsi
		{"virtio:d00000001v00001AF4", false},
		{"usb:v046BpFF20d0100dc00dsc00dp00ic08isc06ip50in00", true},  // AMI virtual CD
		{"usb:v0627p0001d0000dc00dsc00dp00ic03isc01ip01in00", false}, // keyboard
		{"platform:dmi-ipmi-si", false},
	}
	for _, tt := range tests {
		if got := isStorageDevice(tt.modalias); got != tt.want {
			t.Errorf("isStorageDevice(%q) = %v, want %v", tt.modalias, got, tt.want)
		}
	}
}
