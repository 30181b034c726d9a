package nvme

import (
	"errors"
	"strings"
	"testing"
	"unsafe"
)

// TestAdminCmdLayout checks AdminCmd against struct nvme_admin_cmd of
// <linux/nvme_ioctl.h>: 72 bytes, each field at the header's offset.
func TestAdminCmdLayout(t *testing.T) {
	var c AdminCmd
	if s := unsafe.Sizeof(c); s != 72 {
		t.Fatalf("size %d, want 72", s)
	}
	for _, f := range []struct {
		name     string
		got, off uintptr
	}{
		{"opcode", unsafe.Offsetof(c.Opcode), 0}, {"flags", unsafe.Offsetof(c.Flags), 1},
		{"nsid", unsafe.Offsetof(c.NSID), 4}, {"cdw2", unsafe.Offsetof(c.Cdw2), 8},
		{"metadata", unsafe.Offsetof(c.Metadata), 16}, {"addr", unsafe.Offsetof(c.Addr), 24},
		{"metadata_len", unsafe.Offsetof(c.MetadataLen), 32}, {"data_len", unsafe.Offsetof(c.DataLen), 36},
		{"cdw10", unsafe.Offsetof(c.Cdw10), 40}, {"cdw15", unsafe.Offsetof(c.Cdw15), 60},
		{"timeout_ms", unsafe.Offsetof(c.TimeoutMs), 64}, {"result", unsafe.Offsetof(c.Result), 68},
	} {
		if f.got != f.off {
			t.Errorf("%s at %d, want %d", f.name, f.got, f.off)
		}
	}
	// _IOWR('N', 0x41, 72 bytes): direction 3 in bits 31:30, size in 29:16.
	if want := uint32(3<<30 | 72<<16 | 'N'<<8 | 0x41); ioctlAdminCmd != want {
		t.Errorf("NVME_IOCTL_ADMIN_CMD %#x, want %#x", ioctlAdminCmd, want)
	}
}

// identifyPage is a 4 KiB Identify page with bytes set at the spec's
// offsets.
func identifyPage(set map[int][]byte) []byte {
	b := make([]byte, identifySize)
	for off, v := range set {
		copy(b[off:], v)
	}
	return b
}

func TestParseController(t *testing.T) {
	for _, tc := range []struct {
		name string
		page []byte
		want Controller
	}{
		{"format, crypto, all namespaces, sanitize block", identifyPage(map[int][]byte{
			4: []byte("SN0042              "), 24: []byte("QEMU NVMe Ctrl                          "),
			256: {0x02, 0x00}, 328: {0x02, 0, 0, 0}, 524: {0x05}}),
			Controller{Serial: "SN0042", Model: "QEMU NVMe Ctrl", FormatNVM: true, CryptoErase: true, FormatAllNamespaces: true,
				SanitizeBlockErase: true}},
		// OACS bit 0 is Security Send/Receive, bit 3 Namespace Management:
		// neither is Format NVM.
		{"no format", identifyPage(map[int][]byte{256: {0x09, 0x00}, 524: {0x04}, 328: {0x01, 0, 0, 0}}),
			Controller{CryptoErase: true, SanitizeCryptoErase: true}},
	} {
		got, err := ParseController(tc.page)
		if err != nil {
			t.Fatal(err)
		}
		if *got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, *got, tc.want)
		}
	}
	if _, err := ParseController(make([]byte, 100)); err == nil {
		t.Error("a short page parsed")
	}
}

func TestParseNamespace(t *testing.T) {
	// FLBAS 0x31: format 1 (bits 3:0), extended metadata (bit 4), upper
	// format bits 6:5 = 01; DPS 0x09: PI type 1, PI in the first bytes.
	ns, err := ParseNamespace(identifyPage(map[int][]byte{26: {0x31}, 29: {0x09}}))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Namespace{LBAF: 0x11, ExtendedMetadata: true, PI: 1, PIFirst: true}); *ns != want {
		t.Errorf("%+v, want %+v", *ns, want)
	}
}

// TestFormatCmd: Command Dword 10 of Format NVM is LBAF[3:0], MSET[4],
// PI[7:5], PIL[8], SES[11:9], LBAFU[13:12].
func TestFormatCmd(t *testing.T) {
	for _, tc := range []struct {
		ns   Namespace
		ses  SecureErase
		want uint32
	}{
		{Namespace{}, UserDataErase, 0x0200},
		{Namespace{}, CryptographicErase, 0x0400},
		{Namespace{LBAF: 0x12, ExtendedMetadata: true, PI: 1, PIFirst: true}, CryptographicErase, 0x1532},
		{Namespace{LBAF: 3}, NoSecureErase, 0x0003},
	} {
		c := FormatCmd(7, &tc.ns, tc.ses)
		if c.Opcode != 0x80 || c.NSID != 7 || c.Cdw10 != tc.want || c.TimeoutMs == 0 {
			t.Errorf("%+v SES %d: opcode %#x nsid %d cdw10 %#x timeout %d, want 0x80, 7, %#x, a timeout",
				tc.ns, tc.ses, c.Opcode, c.NSID, c.Cdw10, c.TimeoutMs, tc.want)
		}
	}
}

// fakeDevice answers Identify with pages and records commands.
type fakeDevice struct {
	nsid    uint32
	pages   map[uint32][]byte // by CNS
	fail    map[uint8]error   // by opcode
	history []AdminCmd
}

func (f *fakeDevice) NamespaceID() (uint32, error) { return f.nsid, nil }

func (f *fakeDevice) Admin(c *AdminCmd, data []byte) error {
	f.history = append(f.history, *c)
	if err := f.fail[c.Opcode]; err != nil {
		return err
	}
	if c.Opcode == OpIdentify {
		copy(data, f.pages[c.Cdw10&0xff])
	}
	return nil
}

func TestFormat(t *testing.T) {
	d := &fakeDevice{nsid: 1, pages: map[uint32][]byte{cnsNamespace: identifyPage(map[int][]byte{26: {0x02}})}}
	if err := Format(d, UserDataErase); err != nil {
		t.Fatal(err)
	}
	if len(d.history) != 2 {
		t.Fatalf("%d commands, want Identify Namespace and Format NVM", len(d.history))
	}
	id, f := d.history[0], d.history[1]
	if id.Opcode != OpIdentify || id.Cdw10 != cnsNamespace || id.NSID != 1 || id.DataLen != 4096 {
		t.Errorf("first command %+v, want Identify Namespace 1", id)
	}
	if f.Opcode != OpFormatNVM || f.NSID != 1 || f.Cdw10 != 0x0202 {
		t.Errorf("format %+v, want namespace 1, cdw10 0x202 (format 2 kept, SES 1)", f)
	}

	d = &fakeDevice{nsid: 1, pages: map[uint32][]byte{cnsNamespace: identifyPage(nil)},
		fail: map[uint8]error{OpFormatNVM: errors.New("status 0x10a")}}
	if err := Format(d, CryptographicErase); err == nil || !strings.Contains(err.Error(), "SES 2") {
		t.Errorf("a failing format: %v", err)
	}
}

func TestStatusText(t *testing.T) {
	if s := statusText(0x010a); s != "invalid format" {
		t.Errorf("0x10a: %q", s)
	}
	if s := statusText(0x0002); s != "invalid field in command" {
		t.Errorf("0x2: %q", s)
	}
}

// TestSanitize: Sanitize's CDW10 carries SANACT in bits 2:0; Get Log Page
// asks for log 0x81 with 127 as the dword count less one (512 bytes), and
// SSTAT in bytes 2-3 of the page says when it is done.
func TestSanitize(t *testing.T) {
	if c := SanitizeCmd(SanitizeCryptoErase); c.Opcode != 0x84 || c.Cdw10 != 0x4 || c.NSID != 0 {
		t.Errorf("sanitize %+v, want opcode 0x84, cdw10 4, nsid 0", c)
	}
	if c := SanitizeLogCmd(); c.Opcode != 0x02 || c.Cdw10 != 0x007f0081 || c.DataLen != 512 {
		t.Errorf("log %+v, want opcode 0x02, cdw10 0x7f0081, 512 bytes", c)
	}
	for _, tc := range []struct {
		name     string
		statuses []uint16 // SSTAT the log returns, in order
		want     error
	}{
		{"in progress, then done", []uint16{2, 2, 1}, nil},
		{"done without deallocation", []uint16{4}, nil},
		{"failed", []uint16{2, 3}, ErrSanitizeFailed},
	} {
		i, polls := 0, 0
		var progress []float64
		d := &logDevice{fn: func(c *AdminCmd, data []byte) error {
			if c.Opcode == OpGetLogPage {
				polls++
				data[0], data[1] = 0x00, 0x80 // SPROG 32768: half done
				data[2], data[3] = byte(tc.statuses[i]), 0
				i++
			}
			return nil
		}}
		err := Sanitize(d, SanitizeBlockErase, 0, func(p float64) { progress = append(progress, p) })
		if !errors.Is(err, tc.want) && err != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		if polls != len(tc.statuses) {
			t.Errorf("%s: %d polls, want %d", tc.name, polls, len(tc.statuses))
		}
		for _, p := range progress {
			if p != 0.5 {
				t.Errorf("%s: progress %v, want 0.5", tc.name, p)
			}
		}
	}
}

type logDevice struct {
	fn func(*AdminCmd, []byte) error
}

func (d *logDevice) NamespaceID() (uint32, error)         { return 1, nil }
func (d *logDevice) Admin(c *AdminCmd, data []byte) error { return d.fn(c, data) }
