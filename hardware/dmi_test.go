package hardware

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/u-root/u-root/pkg/smbios"
)

// smbiosStruct encodes one SMBIOS structure: the formatted area (type,
// length and handle are filled in) followed by its strings.
func smbiosStruct(typ byte, handle uint16, formatted []byte, strs ...string) []byte {
	f := append([]byte{typ, byte(4 + len(formatted)), byte(handle), byte(handle >> 8)}, formatted...)
	for _, s := range strs {
		f = append(append(f, s...), 0)
	}
	if len(strs) == 0 {
		f = append(f, 0)
	}
	return append(f, 0)
}

// le encodes little-endian words, dwords and qwords.
func le(v any) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, v)
	return b.Bytes()
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// serverSMBIOS is an SMBIOS 3 table of a one-socket server with a memory
// array of two slots, one holding a 16 GiB DIMM.
func serverSMBIOS(t *testing.T) (entry, table string) {
	t.Helper()
	e, err := (&smbios.Entry64{Anchor: [5]byte{'_', 'S', 'M', '3', '_'}, Length: 0x18, SMBIOSMajorVersion: 3}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	const pci, upgradeable = 1 << 7, 1 << 11
	tables := [][]byte{
		smbiosStruct(0, 0x0000, cat([]byte{1, 2}, le(uint16(0xe800)), []byte{3, 0}, le(uint64(pci|upgradeable)),
			[]byte{0x01, 0x0c, 2, 17, 0xff, 0xff}), "Dell Inc.", "2.17.1", "03/14/2023"),
		smbiosStruct(1, 0x0100, cat([]byte{1, 2, 3, 4}, bytes.Repeat([]byte{0x44}, 16), []byte{6, 5, 6}),
			"Dell Inc.", "PowerEdge R640", "Not Specified", "ABC1234", "SKU=0716", "PowerEdge"),
		smbiosStruct(2, 0x0200, cat([]byte{1, 2, 3, 4, 0, 0x09, 0}, le(uint16(0x0300)), []byte{0x0a, 0}),
			"Dell Inc.", "0H28RR", "A01", ".ABC1234.CN7016"),
		smbiosStruct(3, 0x0300, cat([]byte{1, 0x17, 0, 2, 0, 3, 3, 3, 3}, le(uint32(0)), []byte{2, 2, 0, 0}),
			"Dell Inc.", "ABC1234"),
		smbiosStruct(4, 0x0400, cat([]byte{1, 3, 0xb3, 2}, le(uint64(0xbfebfbff00050654)), []byte{3, 0x8c},
			le(uint16(100)), le(uint16(4000)), le(uint16(2100)), []byte{0x41, 0x01},
			le(uint16(0xffff)), le(uint16(0xffff)), le(uint16(0xffff)), []byte{0, 0, 0, 16, 16, 32}, le(uint16(0x04))),
			"CPU1", "Intel", "Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz"),
		smbiosStruct(16, 0x1000, cat([]byte{3, 3, 6}, le(uint32(64<<20)), le(uint16(0xfffe)), le(uint16(2)), le(uint64(0)))),
		dimm(0x1100, 16384, "DIMM_A1", "Hynix", "AB12CD34", "HMA82GR7AFR8N-VK"),
		dimm(0x1101, 0, "DIMM_A2", "", "", ""),
		{127, 4, 0xff, 0xfe, 0, 0},
	}
	return string(e), string(bytes.Join(tables, nil))
}

// dimm is a Memory Device (type 17, SMBIOS 2.6 length) in array 0x1000.
func dimm(handle, mib uint16, locator, vendor, serial, part string) []byte {
	strs := []string{locator, "P0_Node0_Channel0_Dimm0"}
	idx := func(s string) byte {
		if s == "" {
			return 0
		}
		strs = append(strs, s)
		return byte(len(strs))
	}
	speed := uint16(2666)
	if mib == 0 {
		speed = 0
	}
	f := cat(le(uint16(0x1000)), le(uint16(0xfffe)), le(uint16(72)), le(uint16(64)), le(mib),
		[]byte{0x09, 0, 1, 2, 0x1a}, le(uint16(0x2080)), le(speed), []byte{idx(vendor), idx(serial), 0, idx(part), 0})
	return smbiosStruct(17, handle, f, strs...)
}

// serverDMI decodes serverSMBIOS.
func serverDMI(t *testing.T) DMI {
	t.Helper()
	tr := newTree(t)
	entry, table := serverSMBIOS(t)
	tr.set("firmware/dmi/tables", map[string]string{"smbios_entry_point": entry, "DMI": table})
	d, err := DMIDecode(Root{Sys: tr.root})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDMIDecode(t *testing.T) {
	d := serverDMI(t)
	for _, tc := range []struct {
		fields DMIFields
		key    string
		want   any
	}{
		{d.BIOS, "Handle", "Handle 0x0000, DMI type 0, 24 bytes"},
		{d.BIOS, "Vendor", "Dell Inc."},
		{d.BIOS, "Version", "2.17.1"},
		{d.BIOS, "Release Date", "03/14/2023"},
		{d.BIOS, "BIOS Revision", "2.17"},
		{d.System, "Product Name", "PowerEdge R640"},
		{d.System, "Serial Number", "ABC1234"},
		{d.Baseboard, "Product Name", "0H28RR"},
		{d.Chassis, "Type", "Rack Mount Chassis"},
		{d.CPU[0], "Socket Designation", "CPU1"},
		{d.CPU[0], "Version", "Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz"},
		{d.CPU[0], "Max Speed", "4000 MHz"},
		{d.CPU[0], "Core Count", "16"},
		{d.CPU[0], "Thread Count", "32"},
		{d.Memory, "Error Correction Type", "Multi-bit ECC"},
		{d.Memory, "Maximum Capacity", "64 GB"},
		{d.Memory, "Number Of Devices", 2},
		{d.Memory, "Handle", nil},
	} {
		if got := tc.fields[tc.key]; !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s = %#v, want %#v", tc.key, got, tc.want)
		}
	}
	if c, _ := d.BIOS["Characteristics"].([]string); !strings.Contains(strings.Join(c, "|"), "PCI is supported") {
		t.Errorf("BIOS Characteristics = %#v, want a list with PCI is supported", d.BIOS["Characteristics"])
	}
	if f, _ := d.CPU[0]["Flags"].([]string); len(f) == 0 {
		t.Errorf("CPU Flags = %#v, want the CPUID flags as a list", d.CPU[0]["Flags"])
	}
	devs := d.Memory["devices"].([]DMIFields)
	if len(devs) != 2 || devs[0]["Size"] != "16 GB" || devs[0]["Locator"] != "DIMM_A1" ||
		devs[0]["Part Number"] != "HMA82GR7AFR8N-VK" || devs[1]["Size"] != "No Module Installed" ||
		!strings.HasPrefix(devs[0]["Handle"].(string), "Handle 0x1100, DMI type 17") {
		t.Errorf("memory devices = %#v", devs)
	}
}

// TestDMIDecodeJSON checks the JSON shape IPA sends: bios an object, cpu
// a list of objects, memory an object with an int count and a list of
// devices.
func TestDMIDecodeJSON(t *testing.T) {
	d := serverDMI(t)
	b, _ := json.Marshal(d)
	var got struct {
		BIOS   map[string]any   `json:"bios"`
		CPU    []map[string]any `json:"cpu"`
		Memory struct {
			Count   int              `json:"Number Of Devices"`
			Devices []map[string]any `json:"devices"`
		} `json:"memory"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if got.BIOS["Vendor"] != "Dell Inc." || len(got.CPU) != 1 || got.Memory.Count != 2 || len(got.Memory.Devices) != 2 {
		t.Errorf("dmi = %s", b)
	}
}

func TestDMIDecodeWithoutSMBIOS(t *testing.T) {
	d, err := DMIDecode(Root{Sys: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(d)
	if want := `{"bios":{},"cpu":[],"memory":{"devices":[]},"system":{},"baseboard":{},"chassis":{}}`; string(b) != want {
		t.Errorf("dmi = %s, want %s", b, want)
	}
}

// TestDMIDecodeMatchesDmidecode feeds the same tables to dmidecode
// (--from-dump) and arranges its text as IPA does: goipa's rendering must
// give the same dict.
func TestDMIDecodeMatchesDmidecode(t *testing.T) {
	if _, err := exec.LookPath("dmidecode"); err != nil {
		t.Skip("dmidecode is not installed")
	}
	entry, table := serverSMBIOS(t)
	dump := filepath.Join(t.TempDir(), "dmi.bin")
	if err := os.WriteFile(dump, dmidecodeDump(entry, table), 0o644); err != nil {
		t.Fatal(err)
	}
	var blocks []dmiBlock
	for _, types := range [][]string{{"bios", "processor", "memory"}, {"system", "baseboard", "chassis"}} {
		args := []string{"--from-dump", dump}
		for _, typ := range types {
			args = append(args, "-t", typ)
		}
		out, err := exec.Command("dmidecode", args...).Output()
		if err != nil {
			t.Fatalf("dmidecode %v: %v", args, err)
		}
		for _, b := range strings.Split(string(out), "\n\n") {
			var typ smbios.TableType
			if _, err := fmt.Sscanf(b, "Handle 0x%x, DMI type %d,", new(int), &typ); err == nil {
				blocks = append(blocks, dmiBlock{typ, b})
			}
		}
	}
	want, got := decodeDMI(blocks), serverDMI(t)
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", " ")
		w, _ := json.MarshalIndent(want, "", " ")
		t.Errorf("DMIDecode =\n%s\ndmidecode gives\n%s", g, w)
	}
}

// dmidecodeDump lays the tables out as dmidecode --dump-bin does: the
// SMBIOS 3 entry point at 0, pointing at the table at 0x20.
func dmidecodeDump(entry, table string) []byte {
	e := []byte(entry)
	binary.LittleEndian.PutUint32(e[0x0c:], uint32(len(table)))
	binary.LittleEndian.PutUint64(e[0x10:], 0x20)
	e[5] = 0
	var sum byte
	for _, b := range e[:e[6]] {
		sum += b
	}
	e[5] = -sum
	dump := make([]byte, 0x20, 0x20+len(table))
	copy(dump, e)
	return append(dump, table...)
}

// A structure u-root cannot parse is left out; the others are reported.
func TestDMIDecodeSkipsMalformed(t *testing.T) {
	e, err := (&smbios.Entry64{Anchor: [5]byte{'_', 'S', 'M', '3', '_'}, Length: 0x18, SMBIOSMajorVersion: 3}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	table := cat(
		smbiosStruct(4, 0x0400, []byte{1, 3, 0xb3}, "CPU1"), // shorter than any processor structure
		smbiosStruct(0, 0x0000, cat([]byte{1, 2, 0, 0, 3, 0}, le(uint64(0)), []byte{0, 0}), "V", "1.0", "01/01/2024"),
		[]byte{127, 4, 0xff, 0xfe, 0, 0},
	)
	tr := newTree(t)
	tr.set("firmware/dmi/tables", map[string]string{"smbios_entry_point": string(e), "DMI": string(table)})
	d, err := DMIDecode(Root{Sys: tr.root})
	if err != nil || len(d.CPU) != 0 || d.BIOS["Version"] != "1.0" {
		t.Errorf("DMIDecode = %+v, %v; want the BIOS only", d, err)
	}
}
