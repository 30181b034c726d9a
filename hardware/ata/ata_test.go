package ata

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"
	"unsafe"
)

// TestCDB checks ATA PASS-THROUGH (16) bytes against SAT-3 12.2.2.3 and
// what hdparm sends: byte 1 PROTOCOL<<1, byte 2 T_DIR (3) BYT_BLOK (2)
// T_LENGTH (1:0), COUNT in byte 6, DEVICE 0x40 (LBA), the command in 14.
func TestCDB(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Command
		want [16]byte
	}{
		{"IDENTIFY DEVICE", Command{Command: CmdIdentify, Count: 1, Protocol: PIODataIn},
			[16]byte{0x85, 0x08, 0x0e, 0, 0, 0, 0x01, 0, 0, 0, 0, 0, 0, 0x40, 0xec, 0}},
		{"SECURITY ERASE PREPARE", Command{Command: CmdSecurityErasePrepare, Protocol: NonData},
			[16]byte{0x85, 0x06, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x40, 0xf3, 0}},
		{"SECURITY ERASE UNIT", Command{Command: CmdSecurityEraseUnit, Count: 1, Protocol: PIODataOut},
			[16]byte{0x85, 0x0a, 0x06, 0, 0, 0, 0x01, 0, 0, 0, 0, 0, 0, 0x40, 0xf4, 0}},
		{"LBA and features", Command{Command: 0x25, Features: 0x0102, Count: 0x0304, LBA: 0x0a0b0c0d, Protocol: PIODataIn},
			[16]byte{0x85, 0x08, 0x0e, 0x01, 0x02, 0x03, 0x04, 0, 0x0d, 0, 0x0c, 0, 0x0b, 0x4a, 0x25, 0}},
	} {
		if got := tc.c.CDB(); got != tc.want {
			t.Errorf("%s: % x, want % x", tc.name, got, tc.want)
		}
	}
}

// TestSGIOHdrLayout checks sgIOHdr against struct sg_io_hdr of <scsi/sg.h>
// on 64-bit Linux.
func TestSGIOHdrLayout(t *testing.T) {
	var h sgIOHdr
	if s := unsafe.Sizeof(h); s != 88 {
		t.Fatalf("size %d, want 88", s)
	}
	for _, f := range []struct {
		name     string
		got, off uintptr
	}{
		{"dxfer_direction", unsafe.Offsetof(h.DxferDirection), 4}, {"cmd_len", unsafe.Offsetof(h.CmdLen), 8},
		{"dxfer_len", unsafe.Offsetof(h.DxferLen), 12}, {"dxferp", unsafe.Offsetof(h.Dxferp), 16},
		{"cmdp", unsafe.Offsetof(h.Cmdp), 24}, {"sbp", unsafe.Offsetof(h.Sbp), 32},
		{"timeout", unsafe.Offsetof(h.Timeout), 40}, {"usr_ptr", unsafe.Offsetof(h.UsrPtr), 56},
		{"status", unsafe.Offsetof(h.Status), 64}, {"sb_len_wr", unsafe.Offsetof(h.SbLenWr), 67},
		{"host_status", unsafe.Offsetof(h.HostStatus), 68}, {"driver_status", unsafe.Offsetof(h.DriverStatus), 70},
		{"resid", unsafe.Offsetof(h.Resid), 72}, {"info", unsafe.Offsetof(h.Info), 80},
	} {
		if f.got != f.off {
			t.Errorf("%s at %d, want %d", f.name, f.got, f.off)
		}
	}
}

// identifyBlock is an IDENTIFY DEVICE block with words set as ACS-3 lays
// them out.
func identifyBlock(words map[int]uint16, model string) []byte {
	b := make([]byte, 512)
	for i, v := range words {
		binary.LittleEndian.PutUint16(b[2*i:], v)
	}
	m := []byte(model + "                                        ")[:40]
	for i := 0; i < 40; i += 2 { // words 27-46, each word's bytes swapped
		b[54+i], b[54+i+1] = m[i+1], m[i]
	}
	return b
}

func TestParseIdentify(t *testing.T) {
	for _, tc := range []struct {
		name  string
		words map[int]uint16
		want  Security
	}{
		// Word 128 0x0021: supported, enhanced erase; 89/90 in 2-minute units.
		{"ready", map[int]uint16{82: 1 << 1, 128: 0x0021, 89: 30, 90: 0x8000 | 300},
			Security{Supported: true, EnhancedErase: true, EraseTime: time.Hour, EnhancedEraseTime: 10 * time.Hour}},
		{"enabled, locked, frozen, expired", map[int]uint16{82: 1 << 1, 128: 0x001f},
			Security{Supported: true, Enabled: true, Locked: true, Frozen: true, CountExpired: true}},
		// Word 82 bit 1 clear: the feature set is not supported, whatever
		// word 128 says.
		{"not supported", map[int]uint16{82: 0, 128: 0x0001}, Security{Enabled: false}},
		// Without bit 15, only bits 7:0 count.
		{"short time format", map[int]uint16{82: 1 << 1, 128: 0x0001, 89: 0x1203}, Security{Supported: true, EraseTime: 6 * time.Minute}},
	} {
		id, err := ParseIdentify(identifyBlock(tc.words, "Samsung SSD 870"))
		if err != nil {
			t.Fatal(err)
		}
		if id.Security != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, id.Security, tc.want)
		}
		if id.Model != "Samsung SSD 870" {
			t.Errorf("%s: model %q", tc.name, id.Model)
		}
	}
}

// TestCheckResult reads sense data as SAT-3 returns it: descriptor format
// with an ATA Status Return descriptor (code 0x09, 12 bytes: error in
// byte 3, status in byte 13).
func TestCheckResult(t *testing.T) {
	sense := func(key, asc, ascq, ataErr, ataStatus byte) []byte {
		s := []byte{0x72, key, asc, ascq, 0, 0, 0, 14, 0x09, 0x0c, 0, ataErr, 0, 0, 0, 0, 0, 0, 0, 0, 0x40, ataStatus}
		return s
	}
	for _, tc := range []struct {
		name         string
		status       uint8
		host, driver uint16
		sense        []byte
		ok           bool
	}{
		{"good", 0, 0, 0, nil, true},
		{"pass-through information available", 0x02, 0, 0x08, sense(0x01, 0x00, 0x1d, 0, 0x50), true},
		{"aborted by the drive", 0x02, 0, 0x08, sense(0x01, 0x00, 0x1d, 0x04, 0x51), false},
		{"illegal request (no SAT)", 0x02, 0, 0x08, sense(0x05, 0x20, 0x00, 0, 0), false},
		{"fixed-format illegal request", 0x02, 0, 0x08, []byte{0x70, 0, 0x05, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x24, 0}, false},
		{"host error", 0, 0x07, 0, nil, false},
	} {
		err := checkResult(CmdIdentify, tc.status, tc.host, tc.driver, tc.sense)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrCommand)) {
			t.Errorf("%s: %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

// TestPasswordBlocks checks the data of SECURITY SET PASSWORD and ERASE
// UNIT: word 0 (bit 0 master, bit 1 enhanced), the password in words 1-16.
func TestPasswordBlocks(t *testing.T) {
	var got []Command
	var blocks [][]byte
	d := deviceFunc(func(c Command, data []byte) error {
		got = append(got, c)
		blocks = append(blocks, append([]byte(nil), data...))
		return nil
	})
	if err := SetUserPassword(d, []byte("NULL")); err != nil {
		t.Fatal(err)
	}
	if err := EraseUnit(d, make([]byte, 32), true, 3*time.Hour); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Command != 0xf1 || got[1].Command != 0xf3 || got[2].Command != 0xf4 || got[2].Timeout != 3*time.Hour {
		t.Fatalf("commands %+v, want SET PASSWORD, ERASE PREPARE, ERASE UNIT with the timeout", got)
	}
	want := make([]byte, 512)
	copy(want[2:], "NULL")
	if string(blocks[0]) != string(want) {
		t.Errorf("set password block % x…", blocks[0][:8])
	}
	if len(blocks[1]) != 0 || blocks[2][0] != 0x02 || blocks[2][1] != 0 || len(blocks[2]) != 512 {
		t.Errorf("erase prepare carries %d bytes, erase unit word 0 = %#x, want none and 0x0002 (user, enhanced)",
			len(blocks[1]), binary.LittleEndian.Uint16(blocks[2]))
	}
}

type deviceFunc func(Command, []byte) error

func (f deviceFunc) Run(c Command, data []byte) error { return f(c, data) }
