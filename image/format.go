package image

import (
	"errors"
	"fmt"
	"slices"
)

// Format is what an image's first bytes say it is.
type Format string

// Formats goipa recognises. Compressed formats hold a raw image.
const (
	Raw   Format = "raw"
	QCOW2 Format = "qcow2"
	ISO   Format = "iso"
	GZIP  Format = "gzip"
	XZ    Format = "xz"
	ZSTD  Format = "zstd"
	// Formats refused: goipa writes none of them.
	VMDK Format = "vmdk"
	VHDX Format = "vhdx"
	VDI  Format = "vdi"
	LUKS Format = "luks"
)

// SniffLen is how many leading bytes Sniff needs (ISO9660's signature sits
// at 32769).
const SniffLen = 32774

// Sniff identifies a format from the image's first bytes.
func Sniff(b []byte) Format {
	has := func(off int, magic string) bool {
		return len(b) >= off+len(magic) && string(b[off:off+len(magic)]) == magic
	}
	switch {
	case has(0, "QFI\xfb"):
		return QCOW2
	case has(0, "\x1f\x8b"):
		return GZIP
	case has(0, "\xfd7zXZ\x00"):
		return XZ
	case has(0, "\x28\xb5\x2f\xfd"):
		return ZSTD
	case has(0, "KDMV"), has(0, "# Disk DescriptorFile"):
		return VMDK
	case has(0, "vhdxfile"):
		return VHDX
	case has(64, "\x7f\x10\xda\xbe"):
		return VDI
	case has(0, "LUKS\xba\xbe"):
		return LUKS
	case has(32769, "CD001"):
		return ISO
	}
	return Raw
}

// ErrFormat marks an image whose content does not match what Ironic said
// it is, or that the conductor does not permit (IPA's format safety rules).
var ErrFormat = errors.New("image format refused")

// declared is what disk_format tells the agent, with IPA's readings of
// Metal3's values: "gpt" (a whole-disk image) is raw, and "unknown" (OCI
// digest URLs) says nothing, so the content decides.
func declared(diskFormat string) string {
	switch diskFormat {
	case "gpt":
		return string(Raw)
	case "unknown":
		return ""
	}
	return diskFormat
}

// CheckFormat cross-checks the sniffed format against disk_format and the
// permitted formats from the lookup. compressed is the outer format when the
// image was decompressed first (then the inner one must be raw).
func CheckFormat(sniffed, compressed Format, diskFormat string, permitted []string) error {
	if compressed != "" && sniffed != Raw && sniffed != ISO {
		return fmt.Errorf("%w: %s-compressed image holds %s, only raw images may be compressed", ErrFormat, compressed, sniffed)
	}
	switch sniffed {
	case Raw, QCOW2, ISO:
	default:
		return fmt.Errorf("%w: %s images are not supported", ErrFormat, sniffed)
	}
	if len(permitted) > 0 && !slices.Contains(permitted, string(sniffed)) {
		return fmt.Errorf("%w: image is %s, permitted formats are %v", ErrFormat, sniffed, permitted)
	}
	// disk_format "raw" with a qcow2 inside is the classic attack: the
	// conductor thinks it is raw, a qcow2 could point at host files.
	if diskFormat = declared(diskFormat); diskFormat != "" && diskFormat != string(sniffed) && !(diskFormat == "raw" && sniffed == ISO) {
		return fmt.Errorf("%w: image content is %s but disk_format says %s", ErrFormat, sniffed, diskFormat)
	}
	return nil
}
