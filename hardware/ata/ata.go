// Package ata sends ATA commands to a disk through the SCSI layer's ATA
// PASS-THROUGH (16) command (SAT-3, 12.2.2.3) over the SG_IO ioctl, as
// hdparm does, for the security erase a deploy agent needs without hdparm.
// Bits and words are ACS-3's (7.12 IDENTIFY DEVICE, 7.47-7.51 SECURITY).
package ata

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ATA command codes (ACS-3).
const (
	CmdIdentify             = 0xec
	CmdSecuritySetPassword  = 0xf1
	CmdSecurityUnlock       = 0xf2
	CmdSecurityErasePrepare = 0xf3
	CmdSecurityEraseUnit    = 0xf4
)

// Protocol is the ATA PASS-THROUGH PROTOCOL field (SAT-3, table 140).
type Protocol uint8

const (
	NonData    Protocol = 3
	PIODataIn  Protocol = 4
	PIODataOut Protocol = 5
)

// Command is one ATA command: the task file and how its data moves.
type Command struct {
	Command  uint8
	Features uint16
	Count    uint16
	LBA      uint64
	Protocol Protocol
	// Timeout bounds the command; 0 means a minute.
	Timeout time.Duration
}

// CDB encodes c as ATA PASS-THROUGH (16). Data moves in 512-byte blocks
// whose number is the COUNT field (T_LENGTH 2, BYT_BLOK 1), as hdparm
// sends it.
func (c Command) CDB() [16]byte {
	var b [16]byte
	b[0] = 0x85
	b[1] = byte(c.Protocol) << 1 // MULTIPLE_COUNT 0, EXTEND 0 (28-bit)
	switch c.Protocol {
	case PIODataIn:
		b[2] = 1<<3 | 1<<2 | 2 // T_DIR from the device, blocks, length in COUNT
	case PIODataOut:
		b[2] = 1<<2 | 2
	}
	b[3], b[4] = byte(c.Features>>8), byte(c.Features)
	b[5], b[6] = byte(c.Count>>8), byte(c.Count)
	b[8], b[10], b[12] = byte(c.LBA), byte(c.LBA>>8), byte(c.LBA>>16)
	b[13] = 1<<6 | byte(c.LBA>>24)&0x0f // DEVICE: LBA mode
	b[14] = c.Command
	return b
}

// ErrCommand wraps an ATA command the drive aborted or the path refused.
var ErrCommand = errors.New("ATA command failed")

// Device runs ATA commands: data is read into (PIODataIn) or written
// from (PIODataOut) data, nil for NonData.
type Device interface {
	Run(c Command, data []byte) error
}

// SGIO is a Device over an open file descriptor of a SCSI disk (/dev/sdX):
// libata's SAT layer turns the pass-through into the ATA command.
type SGIO int

// sgIOHdr is struct sg_io_hdr of <scsi/sg.h> (88 bytes on 64-bit).
type sgIOHdr struct {
	InterfaceID    int32
	DxferDirection int32
	CmdLen         uint8
	MxSbLen        uint8
	IovecCount     uint16
	DxferLen       uint32
	Dxferp         uintptr
	Cmdp           uintptr
	Sbp            uintptr
	Timeout        uint32
	Flags          uint32
	PackID         int32
	UsrPtr         uintptr
	Status         uint8
	MaskedStatus   uint8
	MsgStatus      uint8
	SbLenWr        uint8
	HostStatus     uint16
	DriverStatus   uint16
	Resid          int32
	Duration       uint32
	Info           uint32
}

const (
	sgIO           = 0x2285
	sgDxferNone    = -1
	sgDxferToDev   = -2
	sgDxferFromDev = -3
)

// Run sends c through SG_IO and checks the SCSI status, the host and
// driver status and the sense data.
func (fd SGIO) Run(c Command, data []byte) error {
	// The kernel gets addresses as integers: every buffer is on the heap,
	// which the collector does not move, and kept alive until the ioctl
	// returns.
	cdb, sense := new([16]byte), new([32]byte)
	*cdb = c.CDB()
	timeout := timeoutMs(c.Timeout)
	var buf []byte
	if len(data) > 0 {
		buf = make([]byte, len(data))
		copy(buf, data)
	}
	h := &sgIOHdr{InterfaceID: 'S', DxferDirection: sgDxferNone, CmdLen: uint8(len(cdb)), MxSbLen: uint8(len(sense)),
		Cmdp: uintptr(unsafe.Pointer(cdb)), Sbp: uintptr(unsafe.Pointer(sense)), Timeout: timeout}
	if len(buf) > 0 {
		h.DxferLen, h.Dxferp = uint32(len(buf)), uintptr(unsafe.Pointer(&buf[0]))
		h.DxferDirection = sgDxferToDev
		if c.Protocol == PIODataIn {
			h.DxferDirection = sgDxferFromDev
		}
	}
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), sgIO, uintptr(unsafe.Pointer(h)))
	runtime.KeepAlive(cdb)
	runtime.KeepAlive(sense)
	runtime.KeepAlive(buf)
	if errno != 0 {
		return fmt.Errorf("%w: SG_IO command %#x: %w", ErrCommand, c.Command, errno)
	}
	if c.Protocol == PIODataIn {
		copy(data, buf)
	}
	return checkResult(c.Command, h.Status, h.HostStatus, h.DriverStatus, sense[:h.SbLenWr])
}

func timeoutMs(d time.Duration) uint32 {
	if d <= 0 {
		d = time.Minute
	}
	return uint32(min(d.Milliseconds(), int64(^uint32(0))))
}

// checkResult reads SG_IO's outcome. A CHECK CONDITION with RECOVERED
// ERROR / ATA PASS-THROUGH INFORMATION AVAILABLE (ASC 0x00, ASCQ 0x1d) is
// success; any other sense, or the ATA status's ERR bit in the ATA Status
// Return descriptor (SAT-3, 12.2.2.6), is an ErrCommand.
func checkResult(cmd, status uint8, host, driver uint16, sense []byte) error {
	if host != 0 || driver&^0x08 != 0 { // DRIVER_SENSE (0x08) only says sense data follows
		return fmt.Errorf("%w: command %#x: host status %#x, driver status %#x", ErrCommand, cmd, host, driver)
	}
	if status == 0 && len(sense) == 0 {
		return nil
	}
	key, asc, ascq, ataStatus, ataError := parseSense(sense)
	if key == 0x01 && asc == 0x00 && ascq == 0x1d && ataStatus&0x01 == 0 {
		return nil
	}
	if ataStatus&0x01 != 0 {
		return fmt.Errorf("%w: command %#x aborted: ATA status %#x, error %#x", ErrCommand, cmd, ataStatus, ataError)
	}
	if status == 0 && key == 0 {
		return nil
	}
	return fmt.Errorf("%w: command %#x: SCSI status %#x, sense key %#x, ASC %#x, ASCQ %#x", ErrCommand, cmd, status, key, asc, ascq)
}

// parseSense reads descriptor-format (0x72) or fixed-format (0x70) sense
// data and the ATA Status Return descriptor (code 0x09) if present.
func parseSense(s []byte) (key, asc, ascq, ataStatus, ataError uint8) {
	if len(s) < 4 {
		return 0, 0, 0, 0, 0
	}
	switch s[0] & 0x7f {
	case 0x72, 0x73:
		key, asc, ascq = s[1]&0x0f, s[2], s[3]
		if len(s) < 8 {
			return key, asc, ascq, 0, 0
		}
		desc := s[8:min(len(s), 8+int(s[7]))]
		for len(desc) >= 2 {
			n := 2 + int(desc[1])
			if n > len(desc) {
				break
			}
			if desc[0] == 0x09 && n >= 14 {
				ataError, ataStatus = desc[3], desc[13]
			}
			desc = desc[n:]
		}
	case 0x70, 0x71:
		if len(s) >= 14 {
			key, asc, ascq = s[2]&0x0f, s[12], s[13]
		}
	}
	return key, asc, ascq, ataStatus, ataError
}

// Security is IDENTIFY DEVICE's view of the Security feature set.
type Security struct {
	Supported, Enabled, Locked, Frozen, CountExpired bool
	EnhancedErase                                    bool
	// EraseTime and EnhancedEraseTime are the drive's estimates (words 89
	// and 90); 0 when it gives none.
	EraseTime, EnhancedEraseTime time.Duration
}

// Identity is what IDENTIFY DEVICE says about the drive.
type Identity struct {
	Model, Serial string
	Security      Security
}

// ParseIdentify reads a 512-byte IDENTIFY DEVICE data block.
func ParseIdentify(b []byte) (*Identity, error) {
	if len(b) < 512 {
		return nil, fmt.Errorf("identify device: %d bytes, want 512", len(b))
	}
	w := func(i int) uint16 { return binary.LittleEndian.Uint16(b[2*i:]) }
	sec := w(128)
	id := &Identity{
		Serial: ataString(b[20:40]), // words 10-19
		Model:  ataString(b[54:94]), // words 27-46
		Security: Security{
			// Word 82 bit 1 says the feature set is supported; word 128
			// bit 0 repeats it with the state in bits 1-5.
			Supported:         w(82)&(1<<1) != 0 && sec&(1<<0) != 0,
			Enabled:           sec&(1<<1) != 0,
			Locked:            sec&(1<<2) != 0,
			Frozen:            sec&(1<<3) != 0,
			CountExpired:      sec&(1<<4) != 0,
			EnhancedErase:     sec&(1<<5) != 0,
			EraseTime:         eraseTime(w(89)),
			EnhancedEraseTime: eraseTime(w(90)),
		},
	}
	return id, nil
}

// eraseTime decodes words 89/90: with bit 15 set, bits 14:0 are the time in
// units of 2 minutes; otherwise bits 7:0 are. 0 means not given, the
// largest value "more than" its range.
func eraseTime(v uint16) time.Duration {
	n := v & 0xff
	if v&(1<<15) != 0 {
		n = v & 0x7fff
	}
	return time.Duration(n) * 2 * time.Minute
}

// ataString decodes an IDENTIFY string: byte pairs swapped, space padded.
func ataString(b []byte) string {
	s := make([]byte, len(b))
	for i := 0; i+1 < len(b); i += 2 {
		s[i], s[i+1] = b[i+1], b[i]
	}
	return strings.TrimSpace(string(s))
}

// Identify runs IDENTIFY DEVICE.
func Identify(d Device) (*Identity, error) {
	buf := make([]byte, 512)
	if err := d.Run(Command{Command: CmdIdentify, Count: 1, Protocol: PIODataIn}, buf); err != nil {
		return nil, fmt.Errorf("identify device: %w", err)
	}
	return ParseIdentify(buf)
}

// passwordBlock is the data of SECURITY SET PASSWORD, UNLOCK and ERASE
// UNIT (ACS-3, tables 68, 70, 72): word 0 holds the identifier (bit 0:
// 0 user, 1 master) and, for ERASE UNIT, the enhanced bit (bit 1);
// words 1-16 the 32-byte password.
func passwordBlock(word0 uint16, password []byte) []byte {
	b := make([]byte, 512)
	binary.LittleEndian.PutUint16(b, word0)
	copy(b[2:34], password)
	return b
}

// SetUserPassword sets the user password (security level high).
func SetUserPassword(d Device, password []byte) error {
	return d.Run(Command{Command: CmdSecuritySetPassword, Count: 1, Protocol: PIODataOut}, passwordBlock(0, password))
}

// UnlockUser unlocks a locked drive with the user password.
func UnlockUser(d Device, password []byte) error {
	return d.Run(Command{Command: CmdSecurityUnlock, Count: 1, Protocol: PIODataOut}, passwordBlock(0, password))
}

// EraseUnit runs SECURITY ERASE PREPARE and then SECURITY ERASE UNIT with
// the user password, enhanced or normal, giving it timeout.
func EraseUnit(d Device, password []byte, enhanced bool, timeout time.Duration) error {
	if err := d.Run(Command{Command: CmdSecurityErasePrepare, Protocol: NonData}, nil); err != nil {
		return fmt.Errorf("security erase prepare: %w", err)
	}
	var w0 uint16
	if enhanced {
		w0 |= 1 << 1
	}
	if err := d.Run(Command{Command: CmdSecurityEraseUnit, Count: 1, Protocol: PIODataOut, Timeout: timeout}, passwordBlock(w0, password)); err != nil {
		return fmt.Errorf("security erase unit: %w", err)
	}
	return nil
}
