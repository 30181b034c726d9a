package erase

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/goipa/goipa/hardware/ata"
	"github.com/goipa/goipa/hardware/nvme"
)

// nvmeDrive fakes an NVMe controller: Identify pages built at the Base
// Specification's offsets, and a record of the Format NVM commands sent.
type nvmeDrive struct {
	oacs, fna byte
	sanicap   byte
	formatErr error
	formats   []uint32 // Format NVM's CDW10, in order
}

func (d *nvmeDrive) NamespaceID() (uint32, error) { return 1, nil }

func (d *nvmeDrive) Admin(c *nvme.AdminCmd, data []byte) error {
	switch {
	case c.Opcode == nvme.OpIdentify && c.Cdw10 == 1: // controller
		data[256], data[524], data[328] = d.oacs, d.fna, d.sanicap // OACS, FNA, SANICAP
	case c.Opcode == nvme.OpSanitize:
		d.formats = append(d.formats, 0x8400|c.Cdw10) // recorded apart from formats by the 0x84 mark
	case c.Opcode == nvme.OpGetLogPage:
		data[2] = 1 // SSTAT: completed
	case c.Opcode == nvme.OpIdentify && c.Cdw10 == 0: // namespace
		data[26] = 0x01 // FLBAS: LBA format 1 in use
	case c.Opcode == nvme.OpFormatNVM:
		d.formats = append(d.formats, c.Cdw10)
		return d.formatErr
	default:
		return fmt.Errorf("unexpected opcode %#x", c.Opcode)
	}
	return nil
}

func TestNVMeErase(t *testing.T) {
	t.Parallel()
	const dev = "/dev/nvme0n1"
	tests := []struct {
		name    string
		drive   nvmeDrive
		method  Method
		formats []uint32 // CDW10: LBA format 1 kept, SES in bits 11:9
		errText string
	}{
		{"crypto erase", nvmeDrive{oacs: 0x02, fna: 0x04}, MethodNVMeCrypto, []uint32{0x0401}, ""},
		{"user-data erase", nvmeDrive{oacs: 0x02, fna: 0x00}, MethodNVMeUserData, []uint32{0x0201}, ""},
		{"no Format NVM, sanitize crypto erase", nvmeDrive{oacs: 0x01, sanicap: 0x03}, MethodNVMeSanitizeCrypto, []uint32{0x8404}, ""},
		{"no Format NVM, sanitize block erase", nvmeDrive{oacs: 0x01, sanicap: 0x02}, MethodNVMeSanitizeBlock, []uint32{0x8402}, ""},
		{"neither", nvmeDrive{oacs: 0x01, fna: 0x04}, "", nil, "neither Format NVM nor Sanitize"},
		{"format fails", nvmeDrive{oacs: 0x02, fna: 0x04, formatErr: fmt.Errorf("%w: status 0x10a (invalid format)", nvme.ErrStatus)},
			"", []uint32{0x0401}, "invalid format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			drive := tt.drive
			var begun []Method
			o := Options{Logger: quiet}
			m, err := nvmeErase(&o, &drive, dev, func(m Method) { begun = append(begun, m) })
			if tt.errText == "" {
				if err != nil || m != tt.method {
					t.Fatalf("nvmeErase = %q, %v; want %q", m, err, tt.method)
				}
				if !slices.Equal(begun, []Method{tt.method}) {
					t.Errorf("progress began with %v, want %v", begun, tt.method)
				}
			} else if !errors.Is(err, ErrSecureErase) || !strings.Contains(err.Error(), tt.errText) || !strings.Contains(err.Error(), dev) {
				t.Fatalf("nvmeErase = %q, %v; want ErrSecureErase with %q", m, err, tt.errText)
			}
			if !slices.Equal(drive.formats, tt.formats) {
				t.Errorf("Format NVM CDW10 %#x, want %#x", drive.formats, tt.formats)
			}
		})
	}
}

// ataDrive fakes a SATA drive's security feature set (ACS-3 7.47-7.51):
// IDENTIFY reports its state in words 82 and 128, the SECURITY commands
// change it as a drive would.
type ataDrive struct {
	supported, enhanced, frozen bool
	enabled, locked             bool
	password                    []byte // the user password, when enabled
	noSAT                       bool   // the path passes no ATA commands
	eraseFails, staysEnabled    bool
	erased                      string // "", "normal" or "enhanced"
	log                         []string
}

func (d *ataDrive) Run(c ata.Command, data []byte) error {
	name := map[uint8]string{0xec: "identify", 0xf1: "set-password", 0xf2: "unlock", 0xf3: "erase-prepare", 0xf4: "erase-unit"}[c.Command]
	pw := func() []byte { return bytes.TrimRight(data[2:34], "\x00") }
	if len(data) >= 34 && name != "identify" {
		name += " " + string(pw())
	}
	d.log = append(d.log, strings.TrimSpace(name))
	refused := fmt.Errorf("%w: command %#x aborted", ata.ErrCommand, c.Command)
	switch c.Command {
	case 0xec:
		if d.noSAT {
			return fmt.Errorf("%w: sense key 0x5", ata.ErrCommand)
		}
		var w128 uint16
		for i, b := range []bool{d.supported, d.enabled, d.locked, d.frozen, false, d.enhanced} {
			if b {
				w128 |= 1 << i
			}
		}
		w82 := uint16(0)
		if d.supported {
			w82 = 1 << 1
		}
		binary.LittleEndian.PutUint16(data[2*82:], w82)
		binary.LittleEndian.PutUint16(data[2*128:], w128)
		binary.LittleEndian.PutUint16(data[2*89:], 5) // 10 minutes
	case 0xf1:
		if d.frozen || d.locked {
			return refused
		}
		d.enabled, d.password = true, pw()
	case 0xf2:
		if !bytes.Equal(pw(), d.password) {
			return refused
		}
		d.locked = false
	case 0xf3:
	case 0xf4:
		if !d.enabled || !bytes.Equal(pw(), d.password) || d.eraseFails {
			d.locked = d.enabled // an aborted erase leaves an enabled drive locked
			return refused
		}
		d.erased = "normal"
		if data[0]&0x02 != 0 {
			d.erased = "enhanced"
		}
		if !d.staysEnabled {
			d.enabled, d.password = false, nil
		}
	}
	return nil
}

func TestATAErase(t *testing.T) {
	t.Parallel()
	const dev = "/dev/sda"
	ready := ataDrive{supported: true, enhanced: true}
	locked := ataDrive{supported: true, enhanced: true, enabled: true, locked: true, password: nil}
	tests := []struct {
		name      string
		drive     ataDrive
		method    Method
		supported bool
		erased    string
		log       []string
		errText   string
	}{
		{"enhanced erase", ready, MethodATAEnhanced, true, "enhanced",
			[]string{"identify", "set-password", "erase-prepare", "erase-unit", "identify"}, ""},
		{"normal erase when enhanced is not supported", ataDrive{supported: true}, MethodATA, true, "normal",
			[]string{"identify", "set-password", "erase-prepare", "erase-unit", "identify"}, ""},
		{"a drive locked by a failed run is unlocked first", locked, MethodATAEnhanced, true, "enhanced",
			[]string{"identify", "unlock", "identify", "erase-prepare", "erase-unit", "identify"}, ""},
		{"a drive locked by old hdparm's literal NULL", ataDrive{supported: true, enabled: true, locked: true, password: []byte("NULL")},
			MethodATA, true, "normal", []string{"identify", "unlock", "unlock NULL", "identify", "erase-prepare", "erase-unit NULL", "identify"}, ""},
		{"unknown password", ataDrive{supported: true, enabled: true, locked: true, password: []byte("secret")}, "", true, "",
			[]string{"identify", "unlock", "unlock NULL", "identify"}, "locked with an unknown security password"},
		{"frozen", ataDrive{supported: true, frozen: true}, "", true, "", []string{"identify"}, "frozen"},
		{"erase fails and the locked drive is unlocked again", ataDrive{supported: true, enhanced: true, eraseFails: true}, "", true, "",
			[]string{"identify", "set-password", "erase-prepare", "erase-unit", "unlock", "identify"}, "aborted"},
		{"still enabled after the erase", ataDrive{supported: true, enhanced: true, staysEnabled: true}, "", true, "enhanced",
			[]string{"identify", "set-password", "erase-prepare", "erase-unit", "identify"}, "still enabled"},
		{"no ATA security", ataDrive{}, "", false, "", []string{"identify"}, ""},
		{"SAS disk or bridge without ATA pass-through", ataDrive{supported: true, noSAT: true}, "", false, "", []string{"identify"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := tt.drive
			var begun []Method
			m, ok, err := ataErase(&Options{Logger: quiet}, &d, dev, func(m Method) { begun = append(begun, m) })
			if ok != tt.supported {
				t.Errorf("ok = %v, want %v", ok, tt.supported)
			}
			switch {
			case tt.errText == "" && (err != nil || m != tt.method):
				t.Errorf("ataErase = %q, %v; want %q", m, err, tt.method)
			case tt.errText != "" && (!errors.Is(err, ErrSecureErase) || !strings.Contains(err.Error(), tt.errText) || !strings.Contains(err.Error(), dev)):
				t.Errorf("ataErase = %q, %v; want ErrSecureErase with %q", m, err, tt.errText)
			}
			if d.erased != tt.erased {
				t.Errorf("drive erased %q, want %q", d.erased, tt.erased)
			}
			if !slices.Equal(d.log, tt.log) {
				t.Errorf("commands %q, want %q", d.log, tt.log)
			}
			if tt.errText == "" && tt.method != "" && !slices.Equal(begun, []Method{tt.method}) {
				t.Errorf("progress began with %v, want %v", begun, tt.method)
			}
		})
	}
}
