// Package nvme sends the NVMe admin commands a deploy agent needs (Identify,
// Format NVM) through the kernel's NVME_IOCTL_ADMIN_CMD, so erasing an NVMe
// disk needs no nvme-cli. Offsets and bits are the NVMe Base Specification's
// (2.0, figures "Identify Controller Data Structure", "Identify Namespace
// Data Structure" and "Format NVM – Command Dword 10").
package nvme

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Admin command opcodes (Base Specification, "Admin Command Set").
const (
	OpGetLogPage = 0x02
	OpIdentify   = 0x06
	OpFormatNVM  = 0x80
	OpSanitize   = 0x84
)

// Identify CNS values.
const (
	cnsNamespace  = 0x00
	cnsController = 0x01
)

// identifySize is the data every Identify command returns.
const identifySize = 4096

// AdminCmd is struct nvme_admin_cmd of <linux/nvme_ioctl.h> (72 bytes).
type AdminCmd struct {
	Opcode      uint8
	Flags       uint8
	Rsvd1       uint16
	NSID        uint32
	Cdw2, Cdw3  uint32
	Metadata    uint64
	Addr        uint64
	MetadataLen uint32
	DataLen     uint32
	Cdw10       uint32
	Cdw11       uint32
	Cdw12       uint32
	Cdw13       uint32
	Cdw14       uint32
	Cdw15       uint32
	TimeoutMs   uint32
	Result      uint32
}

// Ioctl numbers of <linux/nvme_ioctl.h>: _IO('N', 0x40) and
// _IOWR('N', 0x41, struct nvme_admin_cmd).
const (
	ioctlID       = 0x4e40
	ioctlAdminCmd = 0xc0484e41
)

// ErrStatus wraps a command the controller completed with an error status.
var ErrStatus = errors.New("NVMe command failed")

// Device sends admin commands to the controller behind a namespace's block
// device (or a controller's character device).
type Device interface {
	// Admin issues cmd with data as its data buffer (read or written as
	// the opcode says); nil for none.
	Admin(cmd *AdminCmd, data []byte) error
	// NamespaceID is the namespace the block device is.
	NamespaceID() (uint32, error)
}

// FD is a Device over an open file descriptor of /dev/nvmeXnY (or
// /dev/nvmeX); the caller keeps it open.
type FD int

// Admin issues cmd; a non-zero NVMe status is an ErrStatus.
func (fd FD) Admin(cmd *AdminCmd, data []byte) error {
	// The kernel gets the data's address as an integer: the buffer is on
	// the heap, which the collector does not move, and kept alive until
	// the ioctl returns.
	c := new(AdminCmd)
	*c = *cmd
	c.Addr, c.DataLen = 0, 0
	var buf []byte
	if len(data) > 0 {
		buf = make([]byte, len(data))
		copy(buf, data)
		c.Addr, c.DataLen = uint64(uintptr(unsafe.Pointer(&buf[0]))), uint32(len(buf))
	}
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), ioctlAdminCmd, uintptr(unsafe.Pointer(c)))
	runtime.KeepAlive(buf)
	copy(data, buf)
	cmd.Result = c.Result
	if errno != 0 {
		return fmt.Errorf("NVME_IOCTL_ADMIN_CMD opcode %#x: %w", cmd.Opcode, errno)
	}
	if r != 0 {
		return fmt.Errorf("%w: opcode %#x: status %#x (%s)", ErrStatus, cmd.Opcode, r, statusText(uint16(r)))
	}
	return nil
}

// NamespaceID asks the kernel which namespace the device is.
func (fd FD) NamespaceID() (uint32, error) {
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), ioctlID, 0)
	if errno != 0 {
		return 0, fmt.Errorf("NVME_IOCTL_ID: %w", errno)
	}
	return uint32(r), nil
}

// statusText names the status codes Format NVM commonly ends with
// (Base Specification, "Generic Command Status" and "Command Specific
// Status"); the status field is SCT in bits 10:8 and SC in bits 7:0.
func statusText(s uint16) string {
	sct, sc := (s>>8)&0x7, s&0xff
	switch {
	case sct == 0 && sc == 0x01:
		return "invalid command opcode"
	case sct == 0 && sc == 0x02:
		return "invalid field in command"
	case sct == 0 && sc == 0x0b:
		return "invalid namespace or format"
	case sct == 1 && sc == 0x0a:
		return "invalid format"
	case sct == 1 && sc == 0x15:
		return "namespace is write protected"
	}
	return fmt.Sprintf("status code type %d, status code %#x", sct, sc)
}

// Controller is what Identify Controller says about erasing.
type Controller struct {
	Model, Serial string
	// FormatNVM: OACS bit 1, the controller supports Format NVM.
	FormatNVM bool
	// CryptoErase: FNA bit 2, Format NVM can erase cryptographically.
	CryptoErase bool
	// FormatAllNamespaces: FNA bit 0, a format applies to every namespace.
	FormatAllNamespaces bool
	// SanitizeBlockErase, SanitizeCryptoErase: SANICAP bits 1 and 0.
	SanitizeBlockErase, SanitizeCryptoErase bool
}

// ParseController reads an Identify Controller data structure.
func ParseController(b []byte) (*Controller, error) {
	if len(b) < identifySize {
		return nil, fmt.Errorf("identify controller: %d bytes, want %d", len(b), identifySize)
	}
	oacs := binary.LittleEndian.Uint16(b[256:258])
	sanicap := binary.LittleEndian.Uint32(b[328:332])
	fna := b[524]
	return &Controller{
		Serial:              trim(b[4:24]),
		Model:               trim(b[24:64]),
		FormatNVM:           oacs&(1<<1) != 0,
		CryptoErase:         fna&(1<<2) != 0,
		FormatAllNamespaces: fna&(1<<0) != 0,
		SanitizeCryptoErase: sanicap&(1<<0) != 0,
		SanitizeBlockErase:  sanicap&(1<<1) != 0,
	}, nil
}

func trim(b []byte) string {
	end := len(b)
	for end > 0 && (b[end-1] == ' ' || b[end-1] == 0) {
		end--
	}
	return string(b[:end])
}

// Namespace is the format in use, which a Format NVM must keep.
type Namespace struct {
	// LBAF is the LBA format index: FLBAS bits 3:0 and, from NVMe 2.0,
	// bits 6:5 as the upper two bits.
	LBAF uint8
	// ExtendedMetadata is FLBAS bit 4 (metadata at the end of each LBA).
	ExtendedMetadata bool
	// PI is DPS bits 2:0 (protection information type), PIFirst DPS bit 3.
	PI      uint8
	PIFirst bool
}

// ParseNamespace reads an Identify Namespace data structure.
func ParseNamespace(b []byte) (*Namespace, error) {
	if len(b) < identifySize {
		return nil, fmt.Errorf("identify namespace: %d bytes, want %d", len(b), identifySize)
	}
	flbas, dps := b[26], b[29]
	return &Namespace{
		LBAF:             flbas&0x0f | (flbas>>5&0x03)<<4,
		ExtendedMetadata: flbas&(1<<4) != 0,
		PI:               dps & 0x07,
		PIFirst:          dps&(1<<3) != 0,
	}, nil
}

// Identify runs Identify with cns for nsid and returns its 4 KiB.
func Identify(d Device, cns uint8, nsid uint32) ([]byte, error) {
	buf := make([]byte, identifySize)
	if err := d.Admin(IdentifyCmd(cns, nsid), buf); err != nil {
		return nil, fmt.Errorf("identify (CNS %d): %w", cns, err)
	}
	return buf, nil
}

// IdentifyCmd is the Identify command for cns and nsid; its data is 4 KiB.
func IdentifyCmd(cns uint8, nsid uint32) *AdminCmd {
	return &AdminCmd{Opcode: OpIdentify, NSID: nsid, DataLen: identifySize, Cdw10: uint32(cns)}
}

// SecureErase is Format NVM's SES field.
type SecureErase uint8

const (
	NoSecureErase      SecureErase = 0
	UserDataErase      SecureErase = 1
	CryptographicErase SecureErase = 2
)

// formatTimeout bounds one Format NVM: a user-data erase of a large drive
// takes minutes; the kernel's default admin timeout is 60 s.
const formatTimeoutMs = 4 * 3600 * 1000

// FormatCmd is Format NVM of nsid keeping ns's format, with ses.
func FormatCmd(nsid uint32, ns *Namespace, ses SecureErase) *AdminCmd {
	cdw10 := uint32(ns.LBAF&0x0f) | uint32(ses&0x7)<<9 | uint32(ns.LBAF>>4&0x3)<<12 | uint32(ns.PI&0x7)<<5
	if ns.ExtendedMetadata {
		cdw10 |= 1 << 4
	}
	if ns.PIFirst {
		cdw10 |= 1 << 8
	}
	return &AdminCmd{Opcode: OpFormatNVM, NSID: nsid, Cdw10: cdw10, TimeoutMs: formatTimeoutMs}
}

// IdentifyController identifies d's controller.
func IdentifyController(d Device) (*Controller, error) {
	b, err := Identify(d, cnsController, 0)
	if err != nil {
		return nil, err
	}
	return ParseController(b)
}

// Format erases d's namespace with ses, keeping its LBA format and
// protection settings, as nvme-cli's "nvme format -s SES" does.
func Format(d Device, ses SecureErase) error {
	nsid, err := d.NamespaceID()
	if err != nil {
		return err
	}
	b, err := Identify(d, cnsNamespace, nsid)
	if err != nil {
		return err
	}
	ns, err := ParseNamespace(b)
	if err != nil {
		return err
	}
	if err := d.Admin(FormatCmd(nsid, ns, ses), nil); err != nil {
		return fmt.Errorf("format NVM (namespace %d, SES %d): %w", nsid, ses, err)
	}
	return nil
}

// SanitizeAction is the Sanitize command's SANACT field.
type SanitizeAction uint8

const (
	SanitizeBlockErase  SanitizeAction = 2
	SanitizeCryptoErase SanitizeAction = 4
)

// sanitizeLogID is the Sanitize Status log page; the 512-byte page starts
// with SPROG (progress, of 65536) and SSTAT (bits 2:0: 1 completed, 2 in
// progress, 3 failed, 4 completed without deallocation).
const sanitizeLogID = 0x81

// SanitizeCmd starts a sanitize of the whole NVM subsystem with action.
func SanitizeCmd(action SanitizeAction) *AdminCmd {
	return &AdminCmd{Opcode: OpSanitize, Cdw10: uint32(action & 0x7)}
}

// SanitizeLogCmd reads the Sanitize Status log page (512 bytes): LID in
// CDW10 bits 7:0, the number of dwords less one in bits 31:16.
func SanitizeLogCmd() *AdminCmd {
	return &AdminCmd{Opcode: OpGetLogPage, NSID: 0xffffffff, DataLen: 512, Cdw10: sanitizeLogID | (512/4-1)<<16}
}

// ErrSanitizeFailed is a sanitize the controller reports as failed.
var ErrSanitizeFailed = errors.New("sanitize failed")

// Sanitize runs a sanitize with action and waits for it, asking the
// Sanitize Status log every interval and reporting progress (0-1).
func Sanitize(d Device, action SanitizeAction, interval time.Duration, progress func(float64)) error {
	if err := d.Admin(SanitizeCmd(action), nil); err != nil {
		return fmt.Errorf("sanitize (action %d): %w", action, err)
	}
	page := make([]byte, 512)
	for {
		if err := d.Admin(SanitizeLogCmd(), page); err != nil {
			return fmt.Errorf("sanitize status: %w", err)
		}
		switch binary.LittleEndian.Uint16(page[2:4]) & 0x7 {
		case 1, 4:
			return nil
		case 3:
			return ErrSanitizeFailed
		case 2:
			if progress != nil {
				progress(float64(binary.LittleEndian.Uint16(page[0:2])) / 65536)
			}
		}
		time.Sleep(interval)
	}
}
