package uefi

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// unhex reads space-separated hex bytes.
func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The bytes below follow the UEFI spec's layouts field by field: they are
// what the firmware reads, not what this package happens to produce.
const (
	// EFI_LOAD_OPTION header: Attributes = LOAD_OPTION_ACTIVE,
	// FilePathListLength = 42 + 48 + 4 = 94.
	goldenHeader = "01 00 00 00  5e 00"
	// Description "ironic1", UCS-2 with its NUL.
	goldenDescription = "69 00 72 00 6f 00 6e 00 69 00 63 00 31 00 00 00"
	// Hard Drive Media Device Path: type 4, subtype 1, length 42;
	// partition 1, start LBA 0x800, size 0x100000 blocks, signature
	// 0fc63daf-8483-4772-8e79-3d69d8477de4 in GPT byte order, format
	// GPT (2), signature type GUID (2).
	goldenHD = "04 01 2a 00  01 00 00 00  00 08 00 00 00 00 00 00  00 00 10 00 00 00 00 00" +
		"  af 3d c6 0f 83 84 72 47 8e 79 3d 69 d8 47 7d e4  02 02"
	// File Path Media Device Path: type 4, subtype 4, length 4 + 22*2;
	// \EFI\BOOT\BOOTX64.EFI in UCS-2 with its NUL.
	goldenFile = "04 04 30 00  5c 00 45 00 46 00 49 00 5c 00 42 00 4f 00 4f 00 54 00 5c 00" +
		" 42 00 4f 00 4f 00 54 00 58 00 36 00 34 00 2e 00 45 00 46 00 49 00 00 00"
	// End Entire Device Path.
	goldenEnd = "7f ff 04 00"
)

func goldenOption() *LoadOption {
	return &LoadOption{Attributes: LoadOptionActive, Description: "ironic1", FilePaths: []DevicePath{{
		GPTHardDrive(1, 0x800, 0x100000, MustParseGUID("0fc63daf-8483-4772-8e79-3d69d8477de4")),
		FilePath(`\EFI\BOOT\BOOTX64.EFI`),
	}}}
}

func TestLoadOptionGolden(t *testing.T) {
	want := unhex(t, goldenHeader+goldenDescription+goldenHD+goldenFile+goldenEnd)
	got, err := goldenOption().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("encoded\n%x\nwant\n%x", got, want)
	}
	o, err := ParseLoadOption(want)
	if err != nil {
		t.Fatal(err)
	}
	if !o.Active() || o.Description != "ironic1" || len(o.OptionalData) != 0 {
		t.Errorf("decoded %+v", o)
	}
	const text = `HD(1,GPT,0fc63daf-8483-4772-8e79-3d69d8477de4,0x800,0x100000)/File(\EFI\BOOT\BOOTX64.EFI)`
	if s := o.PathString(); s != text {
		t.Errorf("path text %s\nwant      %s", s, text)
	}
}

func TestMBRHardDriveGolden(t *testing.T) {
	// Partition 2, start 0x800, size 0x1000; disk signature 0x1234abcd in
	// the first four signature bytes (little-endian), format MBR (1),
	// signature type MBR (1).
	want := unhex(t, "04 01 2a 00  02 00 00 00  00 08 00 00 00 00 00 00  00 10 00 00 00 00 00 00"+
		"  cd ab 34 12 00 00 00 00 00 00 00 00 00 00 00 00  01 01"+goldenEnd)
	p := DevicePath{MBRHardDrive(2, 0x800, 0x1000, 0x1234abcd)}
	if got := p.appendTo(nil); !bytes.Equal(got, want) {
		t.Errorf("encoded\n%x\nwant\n%x", got, want)
	}
	if s := p.String(); s != "HD(2,MBR,0x1234abcd,0x800,0x1000)" {
		t.Errorf("text %s", s)
	}
}

func TestLoadOptionRoundTrip(t *testing.T) {
	o := goldenOption()
	o.Attributes = 0x109 // active, hidden, category app
	o.Description = "Debian GNU/Linux — ünïcode"
	o.FilePaths[0] = append(o.FilePaths[0], Node{Type: typeEnd, SubType: subEndInstance}, FilePath(`\EFI\debian\grubx64.efi`))
	o.FilePaths = append(o.FilePaths, DevicePath{{Type: 0x10, SubType: 3, Data: []byte{1, 2, 3}}})
	o.OptionalData = []byte("RC\x00\x01")
	b, err := o.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseLoadOption(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, o) {
		t.Errorf("round trip\n%+v\nwant\n%+v", got, o)
	}
	want := `HD(1,GPT,0fc63daf-8483-4772-8e79-3d69d8477de4,0x800,0x100000)/File(\EFI\BOOT\BOOTX64.EFI),` +
		`File(\EFI\debian\grubx64.efi),Path(16,3,010203)`
	if s := got.PathString(); s != want {
		t.Errorf("text %s\nwant %s", s, want)
	}
}

func TestParseLoadOptionRejects(t *testing.T) {
	desc := goldenHeader[:12] // attributes only
	for _, tc := range []struct{ name, hex string }{
		{"too short", "01 00 00 00 04"},
		{"unterminated description", desc + " 04 00  41 00 42 00"},
		{"path list past the end", desc + " 08 00  41 00 00 00" + goldenEnd},
		{"node shorter than its header", desc + " 04 00  00 00  04 01 02 00"},
		{"node past the list", desc + " 04 00  00 00  04 04 08 00"},
		{"no end node", desc + " 08 00  00 00  04 04 06 00 41 00  7f"},
		{"missing end after a node", desc + " 06 00  00 00  04 04 06 00 41 00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if o, err := ParseLoadOption(unhex(t, tc.hex)); !errors.Is(err, ErrBadLoadOption) {
				t.Errorf("got %+v, %v; want ErrBadLoadOption", o, err)
			}
		})
	}
}

func TestNodeText(t *testing.T) {
	guid := unhex(t, "c9 bd b8 7c eb f8 34 4f aa ea 3e e4 af 65 16 a1") // 7cb8bdc9-f8eb-4f34-aaea-3ee4af6516a1
	mac := append(unhex(t, "52 54 00 12 34 56"), make([]byte, 26)...)
	for _, tc := range []struct {
		node Node
		want string
	}{
		{Node{typeACPI, subACPI, unhex(t, "d0 41 03 0a  00 00 00 00")}, "PciRoot(0x0)"},
		{Node{typeACPI, subACPI, unhex(t, "d0 41 08 0a  01 00 00 00")}, "PcieRoot(0x1)"},
		{Node{typeACPI, subACPI, unhex(t, "d0 41 01 05  00 00 00 00")}, "Acpi(PNP0501,0x0)"},
		{Node{typeHardware, subPCI, []byte{0x1, 0x1f}}, "Pci(0x1f,0x1)"},
		{Node{typeMessaging, subMAC, append(mac, 1)}, "MAC(525400123456,1)"},
		{Node{typeMedia, subFvVol, guid}, "FvVol(7cb8bdc9-f8eb-4f34-aaea-3ee4af6516a1)"},
		{Node{typeMedia, subFvFile, guid}, "FvFile(7cb8bdc9-f8eb-4f34-aaea-3ee4af6516a1)"},
		{Node{typeHardware, subVendorHW, guid}, "VenHw(7cb8bdc9-f8eb-4f34-aaea-3ee4af6516a1)"},
		{Node{typeMessaging, subVendorMsg, append(guid, 0xab)}, "VenMsg(7cb8bdc9-f8eb-4f34-aaea-3ee4af6516a1,ab)"},
		{Node{typeMessaging, 0x0c, []byte{0, 0}}, "Msg(12,0000)"},
		{Node{typeMedia, 0x02, []byte{9}}, "MediaPath(2,09)"},
		{Node{typeMedia, subHardDrive, []byte{1}}, "MediaPath(1,01)"}, // truncated HD
		{Node{typeBBS, 1, nil}, "BbsPath(1,)"},
		{Node{typeHardware, subPCI, nil}, "HardwarePath(1,)"},
	} {
		if got := tc.node.String(); got != tc.want {
			t.Errorf("%x/%x %x: %s, want %s", tc.node.Type, tc.node.SubType, tc.node.Data, got, tc.want)
		}
	}
}

func TestGUID(t *testing.T) {
	const s = "8be4df61-93ca-11d2-aa0d-00e098032b8c"
	g, err := ParseGUID(strings.ToUpper(s))
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, "61 df e4 8b ca 93 d2 11 aa 0d 00 e0 98 03 2b 8c"); !bytes.Equal(g[:], want) {
		t.Errorf("bytes %x, want %x", g[:], want)
	}
	if g.String() != s {
		t.Errorf("text %s", g)
	}
	for _, bad := range []string{"", "8be4df61-93ca-11d2-aa0d-00e098032b8", "8be4df6193ca-11d2-aa0d-00e098032b8c0", "8be4df61-93ca-11d2-aa0d-00e098032bxx"} {
		if _, err := ParseGUID(bad); !errors.Is(err, ErrBadGUID) {
			t.Errorf("ParseGUID(%q) = %v", bad, err)
		}
	}
}
