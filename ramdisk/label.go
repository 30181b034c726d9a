package ramdisk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrNoLabel reports a device that holds neither an ISO 9660 nor a FAT file
// system with a volume label.
var ErrNoLabel = errors.New("no ISO 9660 or FAT volume label")

// File system types fsLabel reports.
const (
	fsISO9660 = "iso9660"
	fsVFAT    = "vfat"
)

// fsLabel reads the volume label the way blkid would for the two file
// systems virtual media come in, with no udev to ask: an ISO 9660 primary
// volume descriptor's volume identifier (Ironic's mkisofs -V config-2 or
// VMEDIA_BOOT_ISO), or a FAT boot sector's label (mkfs -t vfat -n
// ir-vfd-dev). Padding spaces are dropped.
func fsLabel(r io.ReaderAt) (fstype, label string, err error) {
	// ISO 9660: the primary volume descriptor is sector 16 (2 KiB sectors):
	// type 1, "CD001", version 1; the volume identifier is bytes 40-71.
	pvd := make([]byte, 72)
	if _, err := r.ReadAt(pvd, 16*2048); err == nil && pvd[0] == 1 && string(pvd[1:6]) == "CD001" {
		if l := trimLabel(pvd[40:72]); l != "" {
			return fsISO9660, l, nil
		}
		return "", "", ErrNoLabel
	}
	boot := make([]byte, 512)
	if _, err := r.ReadAt(boot, 0); err != nil {
		return "", "", fmt.Errorf("boot sector: %w", err)
	}
	if binary.LittleEndian.Uint16(boot[510:]) != 0xaa55 || binary.LittleEndian.Uint16(boot[11:]) == 0 {
		return "", "", ErrNoLabel
	}
	// FAT12/16 keep the extended boot signature 0x29 at 38 and the label at
	// 43; FAT32 (no root entries at 17, zero sectors per FAT at 22) at 66
	// and 71. The file system type string follows the label in both.
	sig, at := 38, 43
	if binary.LittleEndian.Uint16(boot[17:]) == 0 && binary.LittleEndian.Uint16(boot[22:]) == 0 {
		sig, at = 66, 71
	}
	if boot[sig] != 0x29 || !bytes.HasPrefix(boot[at+11:], []byte("FAT")) {
		return "", "", ErrNoLabel
	}
	l := trimLabel(boot[at : at+11])
	if l == "" || l == "NO NAME" {
		return "", "", ErrNoLabel
	}
	return fsVFAT, l, nil
}

func trimLabel(b []byte) string {
	return strings.TrimRight(string(bytes.TrimRight(b, "\x00")), " ")
}
