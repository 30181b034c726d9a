package ramdisk

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Labels of Ironic's media (ironic/common/images.py): the boot ISO is
// config-2 when it carries openstack/ files (network_data.json), else
// VMEDIA_BOOT_ISO; create_vfat_image labels the floppy ir-vfd-dev. Matched
// in any case, as IPA does.
var (
	isoLabels    = []string{"config-2", "vmedia_boot_iso"}
	floppyLabels = []string{"ir-vfd-dev"}
)

// vmediaMaxUSB: a USB disk larger than this is a real disk, not a BMC's
// virtual drive (IPA's _check_vmedia_device).
const vmediaMaxUSB = 4 << 30

// isStorageDevice matches the modalias of what virtual media hang off: PCI
// mass storage controllers (class 01) and USB host controllers (0c03),
// virtio block and SCSI, USB mass storage interfaces (class 08).
func isStorageDevice(modalias string) bool {
	switch {
	case strings.HasPrefix(modalias, "pci:"):
		return strings.Contains(modalias, "bc01sc") || strings.Contains(modalias, "bc0Csc03")
	case strings.HasPrefix(modalias, "virtio:"):
		return strings.HasPrefix(modalias, "virtio:d00000002v") || strings.HasPrefix(modalias, "virtio:d00000008v")
	case strings.HasPrefix(modalias, "usb:"):
		return strings.Contains(modalias, "ic08")
	}
	return false
}

// hasUSB reports whether a USB host controller's driver is bound: it has
// registered a root hub.
func hasUSB(sysfs string) bool {
	hubs, _ := filepath.Glob(filepath.Join(sysfs, "bus/usb/devices/usb*"))
	return len(hubs) > 0
}

// usbStoragePending reports whether a USB mass storage interface has no
// block device yet: usb-storage not bound, or its SCSI scan (which waits
// delay_use, a second) not done.
func usbStoragePending(sysfs string) bool {
	ifaces, _ := filepath.Glob(filepath.Join(sysfs, "bus/usb/devices/*:*"))
	for _, dir := range ifaces {
		b, err := os.ReadFile(filepath.Join(dir, "bInterfaceClass"))
		if err != nil || strings.TrimSpace(string(b)) != "08" {
			continue
		}
		if blocks, _ := filepath.Glob(filepath.Join(dir, "host*/target*/*/block/*")); len(blocks) == 0 {
			return true
		}
	}
	return false
}

// medium is a labelled block device.
type medium struct{ dev, fstype string }

// findMedia looks at every block device in sysfs for the ISO and the
// floppy. Only whole devices that can be a BMC's virtual drive count: a
// CD-ROM, or a USB disk under 4 GiB. A local disk or partition labelled
// config-2 is an instance's config drive, whose files must not configure
// the agent.
func findMedia(sysfs, dev string) (iso, floppy medium) {
	ents, err := os.ReadDir(filepath.Join(sysfs, "class/block"))
	if err != nil {
		return iso, floppy
	}
	for _, e := range ents {
		name := e.Name()
		dir := filepath.Join(sysfs, "class/block", name)
		if !virtualDrive(dir) {
			continue
		}
		f, err := os.Open(filepath.Join(dev, name))
		if err != nil {
			continue // a CD-ROM drive without a disc
		}
		fstype, label, err := fsLabel(f)
		f.Close()
		if err != nil {
			continue
		}
		m := medium{dev: filepath.Join(dev, name), fstype: fstype}
		switch {
		case iso.dev == "" && slices.ContainsFunc(isoLabels, eqFold(label)):
			iso = m
		case floppy.dev == "" && slices.ContainsFunc(floppyLabels, eqFold(label)):
			floppy = m
		}
	}
	return iso, floppy
}

func eqFold(s string) func(string) bool {
	return func(t string) bool { return strings.EqualFold(s, t) }
}

// virtualDrive reports whether the block device at dir (its sysfs
// directory) may be a BMC's virtual drive: not a partition, and a SCSI
// CD-ROM (device type 5) or a USB disk under vmediaMaxUSB.
func virtualDrive(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, "partition")); err == nil {
		return false
	}
	if b, err := os.ReadFile(filepath.Join(dir, "device/type")); err == nil && strings.TrimSpace(string(b)) == "5" {
		return true
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil || !strings.Contains(real, "/usb") {
		return false
	}
	b, err := os.ReadFile(filepath.Join(dir, "size"))
	if err != nil {
		return false
	}
	sectors, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return err == nil && sectors > 0 && sectors*512 < vmediaMaxUSB
}
