package hardware

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/u-root/u-root/pkg/smbios"
)

// DMIFields is one SMBIOS structure as IPA's dmi-decode collector turns
// dmidecode's text into a dict: each "Name: value" line is a string, a
// "Name:" line followed by indented lines is a []string, and "Handle" is
// the block's first line. The field names are dmidecode's, which vary with
// the SMBIOS version, so the shape is a map.
type DMIFields map[string]any

// DMI is the "dmi" key of the inspection data. BIOS, CPU and Memory are
// IPA's (dmidecode -t bios -t processor -t memory); System, Baseboard and
// Chassis are goipa's, in the same form, for rules that match on them.
type DMI struct {
	BIOS DMIFields   `json:"bios"`
	CPU  []DMIFields `json:"cpu"`
	// Memory is the first Physical Memory Array (without its Handle),
	// "Number Of Devices" summed over all arrays (an int), and "devices":
	// the Memory Devices.
	Memory    DMIFields `json:"memory"`
	System    DMIFields `json:"system"`
	Baseboard DMIFields `json:"baseboard"`
	Chassis   DMIFields `json:"chassis"`
}

// ErrNoSMBIOS means the firmware publishes no SMBIOS tables (many ARM
// boards, some VMs).
var ErrNoSMBIOS = errors.New("no SMBIOS tables")

// SMBIOS parses the firmware's tables from sysfs.
func SMBIOS(r Root) (*smbios.Info, error) {
	entry, err := os.ReadFile(r.sys("firmware/dmi/tables/smbios_entry_point"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoSMBIOS
	}
	if err != nil {
		return nil, err
	}
	table, err := os.ReadFile(r.sys("firmware/dmi/tables/DMI"))
	if err != nil {
		return nil, err
	}
	info, err := smbios.ParseInfo(entry, table)
	if err != nil {
		return nil, fmt.Errorf("parsing SMBIOS: %w", err)
	}
	return info, nil
}

// DMIDecode returns IPA's dmi-decode data. Without SMBIOS tables it is the
// empty shape, as IPA gets from dmidecode's "No SMBIOS nor DMI entry point
// found" (which exits 0).
func DMIDecode(r Root) (DMI, error) {
	info, err := SMBIOS(r)
	if errors.Is(err, ErrNoSMBIOS) {
		r.log().Warn("dmi-decode: " + err.Error())
		return emptyDMI(), nil
	}
	if err != nil {
		return emptyDMI(), err
	}
	var blocks []dmiBlock
	for _, t := range info.Tables {
		text, err := dmiText(t)
		if err != nil {
			r.log().Warn("dmi-decode: skipping a malformed structure", "type", t.Type, "handle", t.Handle, "error", err)
		}
		if text != "" {
			blocks = append(blocks, dmiBlock{t.Type, text})
		}
	}
	return decodeDMI(blocks), nil
}

// dmiBlock is one structure as dmidecode prints it.
type dmiBlock struct {
	typ  smbios.TableType
	text string
}

// decodeDMI arranges the blocks as IPA's parse_dmi does.
func decodeDMI(blocks []dmiBlock) DMI {
	d := emptyDMI()
	var arrays, devices []DMIFields
	first := func(f DMIFields, dst *DMIFields) {
		if len(*dst) == 0 {
			*dst = f
		}
	}
	for _, b := range blocks {
		f := parseDMIBlock(b.text)
		switch b.typ {
		case smbios.TableTypeBIOSInfo:
			d.BIOS = f // IPA keeps the last one
		case smbios.TableTypeSystemInfo:
			first(f, &d.System)
		case smbios.TableTypeBaseboardInfo:
			first(f, &d.Baseboard)
		case smbios.TableTypeChassisInfo:
			first(f, &d.Chassis)
		case smbios.TableTypeProcessorInfo:
			d.CPU = append(d.CPU, f)
		case tablePhysicalMemoryArray:
			arrays = append(arrays, f)
		case smbios.TableTypeMemoryDevice:
			devices = append(devices, f)
		}
	}
	if len(arrays) > 0 {
		count := 0
		for _, a := range arrays {
			n, _ := a["Number Of Devices"].(string)
			c, _ := strconv.Atoi(n)
			count += c
		}
		d.Memory = arrays[0]
		delete(d.Memory, "Handle")
		d.Memory["Number Of Devices"] = count
	}
	if devices == nil {
		devices = []DMIFields{}
	}
	d.Memory["devices"] = devices
	return d
}

func emptyDMI() DMI {
	return DMI{BIOS: DMIFields{}, CPU: []DMIFields{}, Memory: DMIFields{"devices": []DMIFields{}},
		System: DMIFields{}, Baseboard: DMIFields{}, Chassis: DMIFields{}}
}

// tablePhysicalMemoryArray is SMBIOS type 16, which u-root does not parse.
const tablePhysicalMemoryArray smbios.TableType = 16

// dmiText renders a table as dmidecode prints it, or "" for the types the
// collector does not report; u-root's formatters follow dmidecode's.
func dmiText(t *smbios.Table) (string, error) {
	switch t.Type {
	case tablePhysicalMemoryArray:
		return memoryArrayText(t), nil
	case smbios.TableTypeBIOSInfo, smbios.TableTypeSystemInfo, smbios.TableTypeBaseboardInfo,
		smbios.TableTypeChassisInfo, smbios.TableTypeProcessorInfo, smbios.TableTypeMemoryDevice:
	default:
		return "", nil
	}
	s, err := smbios.ParseTypedTable(t)
	if err != nil {
		return "", err
	}
	text := s.String()
	// dmidecode stops after Type Detail for an empty slot.
	if size, _ := t.GetWordAt(0x0c); t.Type == smbios.TableTypeMemoryDevice && size == 0 {
		if i := strings.Index(text, "Type Detail:"); i >= 0 {
			if j := strings.IndexByte(text[i:], '\n'); j >= 0 {
				text = text[:i+j]
			}
		}
	}
	return text, nil
}

// parseDMIBlock reads one dmidecode block the way IPA's
// _parse_handle_block does.
func parseDMIBlock(block string) DMIFields {
	f := DMIFields{}
	var list string // the field collecting indented lines, if any
	for _, line := range strings.Split(block, "\n") {
		line = strings.TrimSpace(line)
		switch k, v, ok := strings.Cut(line, ":"); {
		case ok:
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			list = ""
			if v != "" {
				f[k] = v
			} else {
				f[k] = []string{}
				list = k
			}
		case strings.Contains(line, "Handle 0x"):
			f["Handle"] = line
		case list != "" && line != "":
			f[list] = append(f[list].([]string), line)
		}
	}
	return f
}

// memoryArrayText renders a Physical Memory Array (DSP0134 7.17) as
// dmidecode does.
func memoryArrayText(t *smbios.Table) string {
	b := func(off int) byte { v, _ := t.GetByteAt(off); return v }
	w := func(off int) uint16 { v, _ := t.GetWordAt(off); return v }
	lines := []string{
		fmt.Sprintf("Handle 0x%04X, DMI type 16, %d bytes", t.Handle, t.Length),
		"Physical Memory Array",
		"\tLocation: " + enum(b(0x04), "Other", "Unknown", "System Board Or Motherboard", "ISA Add-on Card",
			"EISA Add-on Card", "PCI Add-on Card", "MCA Add-on Card", "PCMCIA Add-on Card",
			"Proprietary Add-on Card", "NuBus"),
		"\tUse: " + enum(b(0x05), "Other", "Unknown", "System Memory", "Video Memory", "Flash Memory",
			"Non-volatile RAM", "Cache Memory"),
		"\tError Correction Type: " + enum(b(0x06), "Other", "Unknown", "None", "Parity",
			"Single-bit ECC", "Multi-bit ECC", "CRC"),
	}
	capacity := "Unknown"
	if kb, err := t.GetDWordAt(0x07); err == nil && kb != 0x80000000 {
		capacity = dmiSize(uint64(kb) << 10)
	} else if raw, err := t.GetBytesAt(0x0f, 8); err == nil {
		capacity = dmiSize(binary.LittleEndian.Uint64(raw))
	}
	handle := fmt.Sprintf("0x%04X", w(0x0b))
	switch w(0x0b) {
	case 0xfffe:
		handle = "Not Provided"
	case 0xffff:
		handle = "No Error"
	}
	lines = append(lines, "\tMaximum Capacity: "+capacity, "\tError Information Handle: "+handle,
		fmt.Sprintf("\tNumber Of Devices: %d", w(0x0d)))
	return strings.Join(lines, "\n")
}

// enum names a 1-based SMBIOS enumeration value.
func enum(v byte, names ...string) string {
	if v == 0 || int(v) > len(names) {
		return "<OUT OF SPEC>"
	}
	return names[v-1]
}

// dmiSize prints a size in the largest unit that divides it, as dmidecode.
func dmiSize(bytes uint64) string {
	units := []string{"bytes", "kB", "MB", "GB", "TB", "PB", "EB"}
	i := 0
	for i < len(units)-1 && bytes >= 1024 && bytes%1024 == 0 {
		bytes /= 1024
		i++
	}
	return fmt.Sprintf("%d %s", bytes, units[i])
}
