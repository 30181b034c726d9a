package hardware

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
)

// Without udev nothing computes ID_SERIAL / ID_WWN for us: these readers
// derive the same values from sysfs, as udev's scsi_id, ata_id and the
// persistent-storage rules would, so hints written against IPA's inventory
// keep matching.

// diskIDs are the identifiers of one disk.
type diskIDs struct {
	serial, wwn, wwnWithExt, wwnVendorExt *string
}

func readDiskIDs(dir string, nvme bool) diskIDs {
	var ids diskIDs
	// SCSI and SATA (through libata's SAT) answer the unit serial VPD page;
	// NVMe controllers and some SCSI drivers have a serial attribute;
	// virtio-blk has one on the disk itself.
	if b, err := os.ReadFile(filepath.Join(dir, "device/vpd_pg80")); err == nil {
		ids.serial = vpdSerial(b)
	}
	for _, p := range []string{"device/serial", "serial"} {
		if ids.serial == nil {
			ids.serial = readOptional(filepath.Join(dir, p))
		}
	}

	wwid, ok := readString(filepath.Join(dir, "wwid"))
	if !ok {
		wwid, ok = readString(filepath.Join(dir, "device/wwid"))
	}
	switch {
	case ok && strings.HasPrefix(wwid, "naa."):
		ids.setNAA(strings.ToLower(strings.TrimPrefix(wwid, "naa.")))
	case ok && nvme:
		// udev copies an NVMe namespace's wwid verbatim (eui.…, nvme.…).
		ids.wwn = &wwid
	default:
		if b, err := os.ReadFile(filepath.Join(dir, "device/vpd_pg83")); err == nil {
			if naa := vpdNAA(b); naa != "" {
				ids.setNAA(naa)
			}
		}
	}
	return ids
}

// setNAA sets the WWNs as scsi_id exports them: an IEEE Registered
// Extended (NAA 6, 16 bytes) name splits into the WWN and its vendor
// extension.
func (ids *diskIDs) setNAA(h string) {
	if len(h) == 32 {
		ids.wwn, ids.wwnVendorExt = ptr("0x"+h[:16]), ptr("0x"+h[16:])
	} else {
		ids.wwn = ptr("0x" + h)
	}
	ids.wwnWithExt = ptr("0x" + h)
}

// vpdSerial parses the Unit Serial Number VPD page (0x80).
func vpdSerial(b []byte) *string {
	if len(b) < 4 || b[1] != 0x80 {
		return nil
	}
	n := int(b[2])<<8 | int(b[3])
	if 4+n > len(b) {
		n = len(b) - 4
	}
	s := strings.TrimSpace(strings.Trim(string(b[4:4+n]), "\x00"))
	if s == "" {
		return nil
	}
	return &s
}

// vpdNAA returns the hex NAA name of the logical unit from the Device
// Identification VPD page (0x83), "" when it has none.
func vpdNAA(b []byte) string {
	if len(b) < 4 || b[1] != 0x83 {
		return ""
	}
	end := min(4+(int(b[2])<<8|int(b[3])), len(b))
	for off := 4; off+4 <= end; {
		codeSet, assoc, typ, n := b[off]&0x0f, (b[off+1]>>4)&0x3, b[off+1]&0x0f, int(b[off+3])
		d := b[off+4 : min(off+4+n, end)]
		if typ == 3 && assoc == 0 && codeSet == 1 && len(d) >= 8 {
			return hex.EncodeToString(d)
		}
		off += 4 + n
	}
	return ""
}

// ataModel returns the full model of an ATA disk from the ATA Information
// VPD page (0x89), which carries the IDENTIFY DEVICE data: the SCSI model
// attribute truncates it to 16 characters, ata_id does not.
func ataModel(b []byte) *string {
	const identify, modelAt, modelLen = 60, 54, 40
	if len(b) < identify+modelAt+modelLen || b[1] != 0x89 {
		return nil
	}
	m := make([]byte, modelLen)
	copy(m, b[identify+modelAt:])
	for i := 0; i < modelLen; i += 2 { // ATA strings are byte-swapped words
		m[i], m[i+1] = m[i+1], m[i]
	}
	s := strings.TrimSpace(string(m))
	if s == "" {
		return nil
	}
	return &s
}
