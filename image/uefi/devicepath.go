package uefi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/goipa/goipa/internal/utf16le"
)

// ErrBadDevicePath is returned for a device path whose nodes overrun the
// buffer or lack their end node.
var ErrBadDevicePath = errors.New("malformed device path")

// Device path node types and the subtypes goipa writes or names (UEFI
// spec, "Device Path Protocol").
const (
	typeHardware  = 0x01
	typeACPI      = 0x02
	typeMessaging = 0x03
	typeMedia     = 0x04
	typeBBS       = 0x05
	typeEnd       = 0x7f

	subPCI         = 0x01 // hardware
	subVendorHW    = 0x04 // hardware
	subACPI        = 0x01 // ACPI
	subVendorMsg   = 0x0a // messaging
	subMAC         = 0x0b // messaging
	subHardDrive   = 0x01 // media
	subVendorMedia = 0x03 // media
	subFilePath    = 0x04 // media
	subFvFile      = 0x06 // media
	subFvVol       = 0x07 // media
	subEndInstance = 0x01
	subEndEntire   = 0xff
)

// Hard drive node fields.
const (
	formatMBR     = 0x01
	formatGPT     = 0x02
	signatureMBR  = 0x01
	signatureGUID = 0x02
	hardDriveSize = 38 // bytes after the node header
)

// Node is one device path node: its type, subtype and the bytes after its
// four-byte header.
type Node struct {
	Type, SubType byte
	Data          []byte
}

// DevicePath is one device path without its end-of-path node. End of
// instance nodes stay in it: they separate the instances.
type DevicePath []Node

// GPTHardDrive is the node for GPT partition number, start and size
// counted in the disk's logical blocks.
func GPTHardDrive(number uint32, start, size uint64, partUUID GUID) Node {
	d := hardDrive(number, start, size, formatGPT, signatureGUID)
	copy(d[20:36], partUUID[:])
	return Node{Type: typeMedia, SubType: subHardDrive, Data: d}
}

// MBRHardDrive is the node for MBR partition number of the disk whose
// signature (bytes 440-443) is diskSignature.
func MBRHardDrive(number uint32, start, size uint64, diskSignature uint32) Node {
	d := hardDrive(number, start, size, formatMBR, signatureMBR)
	binary.LittleEndian.PutUint32(d[20:], diskSignature)
	return Node{Type: typeMedia, SubType: subHardDrive, Data: d}
}

func hardDrive(number uint32, start, size uint64, format, sigType byte) []byte {
	d := make([]byte, hardDriveSize)
	binary.LittleEndian.PutUint32(d[0:], number)
	binary.LittleEndian.PutUint64(d[4:], start)
	binary.LittleEndian.PutUint64(d[12:], size)
	d[36], d[37] = format, sigType
	return d
}

// FilePath is the node naming a file on the partition, e.g.
// \EFI\debian\shimx64.efi.
func FilePath(path string) Node {
	return Node{Type: typeMedia, SubType: subFilePath, Data: encodeUCS2(path)}
}

// encodeUCS2 is s as NUL-terminated UTF-16LE.
func encodeUCS2(s string) []byte { return append(utf16le.Encode(s), 0, 0) }

// appendTo appends the path and its end-of-path node.
func (p DevicePath) appendTo(b []byte) []byte {
	for _, n := range append(p, Node{Type: typeEnd, SubType: subEndEntire}) {
		b = append(b, n.Type, n.SubType)
		b = binary.LittleEndian.AppendUint16(b, uint16(4+len(n.Data)))
		b = append(b, n.Data...)
	}
	return b
}

// parseDevicePaths splits a packed list of device paths, each ending with
// an end-of-path node, as a load option's FilePathList holds them.
func parseDevicePaths(b []byte) ([]DevicePath, error) {
	var paths []DevicePath
	var cur DevicePath
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, fmt.Errorf("%w: %d stray bytes", ErrBadDevicePath, len(b))
		}
		n := int(binary.LittleEndian.Uint16(b[2:]))
		if n < 4 || n > len(b) {
			return nil, fmt.Errorf("%w: node %#x/%#x claims %d bytes, %d left", ErrBadDevicePath, b[0], b[1], n, len(b))
		}
		node := Node{Type: b[0], SubType: b[1]}
		if n > 4 {
			node.Data = b[4:n:n]
		}
		b = b[n:]
		if node.Type == typeEnd && node.SubType == subEndEntire {
			paths, cur = append(paths, cur), nil
			continue
		}
		cur = append(cur, node)
	}
	if cur != nil {
		return nil, fmt.Errorf("%w: no end node", ErrBadDevicePath)
	}
	return paths, nil
}

// String renders the path as efibootmgr -v does: nodes joined by "/",
// instances by ",".
func (p DevicePath) String() string {
	var sb strings.Builder
	for i, n := range p {
		if n.Type == typeEnd {
			sb.WriteString(",")
			continue
		}
		if i > 0 && p[i-1].Type != typeEnd {
			sb.WriteString("/")
		}
		sb.WriteString(n.String())
	}
	return sb.String()
}

// String renders the node in the UEFI text form efibootmgr uses for the
// nodes goipa writes or commonly meets; others take the spec's generic
// form, e.g. MediaPath(5,…) or Path(6,1,…).
func (n Node) String() string {
	d := n.Data
	switch {
	case n.Type == typeMedia && n.SubType == subHardDrive && len(d) == hardDriveSize:
		return hardDriveString(d)
	case n.Type == typeMedia && n.SubType == subFilePath:
		return "File(" + utf16le.Decode(d) + ")"
	case n.Type == typeMedia && n.SubType == subFvFile && len(d) == 16:
		return "FvFile(" + GUID(d).String() + ")"
	case n.Type == typeMedia && n.SubType == subFvVol && len(d) == 16:
		return "FvVol(" + GUID(d).String() + ")"
	case n.Type == typeHardware && n.SubType == subPCI && len(d) == 2:
		return fmt.Sprintf("Pci(0x%x,0x%x)", d[1], d[0]) // device, function
	case n.Type == typeACPI && n.SubType == subACPI && len(d) == 8:
		return acpiString(binary.LittleEndian.Uint32(d), binary.LittleEndian.Uint32(d[4:]))
	case n.Type == typeMessaging && n.SubType == subMAC && len(d) == 33:
		return fmt.Sprintf("MAC(%x,%d)", d[:6], d[32])
	case n.Type == typeHardware && n.SubType == subVendorHW && len(d) >= 16:
		return vendorString("VenHw", d)
	case n.Type == typeMessaging && n.SubType == subVendorMsg && len(d) >= 16:
		return vendorString("VenMsg", d)
	case n.Type == typeMedia && n.SubType == subVendorMedia && len(d) >= 16:
		return vendorString("VenMedia", d)
	}
	name := map[byte]string{typeHardware: "HardwarePath", typeACPI: "AcpiPath", typeMessaging: "Msg",
		typeMedia: "MediaPath", typeBBS: "BbsPath"}[n.Type]
	if name == "" {
		return fmt.Sprintf("Path(%d,%d,%x)", n.Type, n.SubType, d)
	}
	return fmt.Sprintf("%s(%d,%x)", name, n.SubType, d)
}

// hardDriveString is HD(number,GPT,guid,0xstart,0xsize) or
// HD(number,MBR,0xsignature,0xstart,0xsize).
func hardDriveString(d []byte) string {
	num := binary.LittleEndian.Uint32(d)
	start, size := binary.LittleEndian.Uint64(d[4:]), binary.LittleEndian.Uint64(d[12:])
	var sig string
	switch d[37] {
	case signatureGUID:
		sig = "GPT," + GUID(d[20:36]).String()
	case signatureMBR:
		sig = fmt.Sprintf("MBR,0x%x", binary.LittleEndian.Uint32(d[20:]))
	default:
		sig = fmt.Sprintf("%d,%x", d[37], d[20:36])
	}
	return fmt.Sprintf("HD(%d,%s,0x%x,0x%x)", num, sig, start, size)
}

// acpiString names PCI root bridges as PciRoot/PcieRoot, other PNP devices
// as Acpi(PNPxxxx,uid).
func acpiString(hid, uid uint32) string {
	const pnp = 0x41d0 // EISA compressed "PNP"
	switch {
	case hid == 0x0a03<<16|pnp:
		return fmt.Sprintf("PciRoot(0x%x)", uid)
	case hid == 0x0a08<<16|pnp:
		return fmt.Sprintf("PcieRoot(0x%x)", uid)
	case hid&0xffff == pnp:
		return fmt.Sprintf("Acpi(PNP%04X,0x%x)", hid>>16, uid)
	}
	return fmt.Sprintf("Acpi(0x%08x,0x%x)", hid, uid)
}

func vendorString(name string, d []byte) string {
	if len(d) == 16 {
		return fmt.Sprintf("%s(%s)", name, GUID(d))
	}
	return fmt.Sprintf("%s(%s,%x)", name, GUID(d[:16]), d[16:])
}
