package hardware

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/u-root/u-root/pkg/smbios"
)

// HWFact is one fact of python-hardware's hardware-detect, which IPA's
// extra-hardware collector sends as the "data" key and Ironic's
// extra-hardware hook turns into extra[category][item][key] = value.
// Value is a string, except for the CPU counts and ids (int) and
// frequencies (float64), as hardware-detect types them.
type HWFact struct {
	Category, Item, Key string
	Value               any
}

// MarshalJSON writes the fact as hardware-detect does: a 4-item list.
func (f HWFact) MarshalJSON() ([]byte, error) {
	return json.Marshal([]any{f.Category, f.Item, f.Key, f.Value})
}

// hwFacts collects facts of one category.
type hwFacts struct {
	category string
	facts    []HWFact
}

func (h *hwFacts) add(item, key string, value any) {
	h.facts = append(h.facts, HWFact{h.category, item, key, value})
}

// addString adds a string fact unless it is empty, as hardware-detect
// leaves out what lshw or sysfs does not report.
func (h *hwFacts) addString(item, key, value string) {
	if value != "" {
		h.add(item, key, value)
	}
}

// ExtraHardware gathers hardware-detect's facts from sysfs, procfs, SMBIOS
// and the BMC, in hardware-detect's order: disks, system (product,
// motherboard, firmware, memory, network, CPUs, kernel), IPMI. Left out are
// the facts that need tools a few-MB ramdisk has not (smartctl, ethtool
// offloads, lldptool, RAID controller CLIs, ipmitool sdr, benchmarks) and
// lshw's names from the PCI and USB id databases.
func ExtraHardware(r Root) []HWFact {
	var out []HWFact
	out = append(out, diskFacts(r)...)
	sys, firmware := systemFacts(r)
	nets := networkFacts(r)
	fixBadSerial(sys, nets)
	out = append(out, sys.facts...)
	out = append(out, firmware...)
	out = append(out, memoryFacts(r)...)
	out = append(out, nets...)
	out = append(out, cpuFacts(r)...)
	out = append(out, kernelFacts(r)...)
	return append(out, ipmiFacts(r)...)
}

// systemFacts reads the product, the motherboard and the BIOS from DMI.
func systemFacts(r Root) (*hwFacts, []HWFact) {
	h := &hwFacts{category: "system"}
	dmi := func(f string) string { s, _ := readString(r.sys("class/dmi/id", f)); return s }
	h.addString("product", "serial", dmi("product_serial"))
	h.addString("product", "name", dmi("product_name"))
	h.addString("product", "vendor", dmi("sys_vendor"))
	h.addString("product", "version", dmi("product_version"))
	h.addString("product", "uuid", strings.ToUpper(dmi("product_uuid"))) // as dmidecode prints it
	h.addString("motherboard", "name", dmi("board_name"))
	h.addString("motherboard", "vendor", dmi("board_vendor"))
	h.addString("motherboard", "version", dmi("board_version"))
	h.addString("motherboard", "serial", dmi("board_serial"))
	fw := &hwFacts{category: "firmware"}
	fw.addString("bios", "version", dmi("bios_version"))
	fw.addString("bios", "date", dmi("bios_date"))
	fw.addString("bios", "vendor", dmi("bios_vendor"))
	return h, fw.facts
}

// fixBadSerial replaces the fake serials some vendors (Tyan, Supermicro)
// ship with the UUID, the motherboard's serial or the first MAC, as
// hardware-detect does.
func fixBadSerial(sys *hwFacts, nets []HWFact) {
	value := func(item, key string) string {
		for _, f := range sys.facts {
			if f.Item == item && f.Key == key {
				return f.Value.(string)
			}
		}
		return ""
	}
	serial := value("product", "serial")
	if serial != "0123456789" && serial != "0000000000" {
		return
	}
	repl := cmp.Or(value("product", "uuid"), value("motherboard", "serial"))
	for _, f := range nets {
		if repl == "" && f.Key == "serial" {
			repl = strings.ReplaceAll(f.Value.(string), ":", "")
		}
	}
	if repl == "" {
		return
	}
	for i, f := range sys.facts {
		if f.Item == "product" && f.Key == "serial" {
			sys.facts = append(sys.facts[:i], sys.facts[i+1:]...)
			break
		}
	}
	sys.add("product", "serial", repl)
}

// memoryFacts reports the DIMMs SMBIOS lists as lshw names them: bank:N,
// or bank:A:N when there are several memory arrays.
func memoryFacts(r Root) []HWFact {
	h := &hwFacts{category: "memory"}
	info, err := SMBIOS(r)
	if err != nil {
		if !errors.Is(err, ErrNoSMBIOS) {
			r.log().Warn("extra-hardware: reading SMBIOS", "error", err)
		}
		return nil
	}
	devs, _ := info.GetMemoryDevices()
	arrays := map[uint16]int{} // array handle → index, in table order
	for _, d := range devs {
		if _, ok := arrays[d.PhysicalMemoryArrayHandle]; !ok {
			arrays[d.PhysicalMemoryArrayHandle] = len(arrays)
		}
	}
	var total uint64
	banks := &hwFacts{category: "memory"}
	perArray := map[uint16]int{}
	for _, d := range devs {
		item := "bank:" + strconv.Itoa(perArray[d.PhysicalMemoryArrayHandle])
		if len(arrays) > 1 {
			item = fmt.Sprintf("bank:%d:%d", arrays[d.PhysicalMemoryArrayHandle], perArray[d.PhysicalMemoryArrayHandle])
		}
		perArray[d.PhysicalMemoryArrayHandle]++
		size := d.GetSizeBytes()
		if d.Size == 0xffff { // unknown
			size = 0
		}
		total += size
		if size > 0 {
			banks.add(item, "size", strconv.FormatUint(size, 10))
		}
		if d.Speed != 0 && d.Speed != 0xffff {
			banks.add(item, "clock", strconv.FormatUint(uint64(d.Speed)*1000000, 10))
		}
		banks.add(item, "description", dimmDescription(d, size > 0))
		for _, kv := range [][2]string{{"vendor", d.Manufacturer}, {"product", d.PartNumber},
			{"serial", d.SerialNumber}, {"slot", d.DeviceLocator}} {
			if kv[1] != "Not Specified" {
				banks.addString(item, kv[0], strings.TrimSpace(kv[1]))
			}
		}
	}
	if total > 0 {
		h.add("total", "size", strconv.FormatUint(total, 10))
	}
	h.facts = append(h.facts, banks.facts...)
	if len(devs) > 0 {
		h.add("banks", "count", strconv.Itoa(len(devs)))
	}
	return h.facts
}

// dimmDescription approximates lshw's: "DIMM DDR4 Synchronous Registered
// (Buffered) 2666 MHz (0.4 ns)", "[empty]" for an empty slot.
func dimmDescription(d *smbios.MemoryDevice, installed bool) string {
	var words []string
	for _, w := range []string{d.FormFactor.String(), d.Type.String(), d.TypeDetail.String()} {
		// Unnamed values print as "0x0" or "<OUT OF SPEC>".
		if w != "" && w != "Other" && w != "Unknown" && w != "None" && !strings.HasPrefix(w, "0x") && !strings.HasPrefix(w, "<") {
			words = append(words, w)
		}
	}
	if d.Speed != 0 && d.Speed != 0xffff {
		words = append(words, fmt.Sprintf("%d MHz (%.1f ns)", d.Speed, 1000/float64(d.Speed)))
	}
	if !installed {
		words = append(words, "[empty]")
	}
	return strings.Join(words, " ")
}

// kernelFacts are uname's release and machine and the command line.
func kernelFacts(r Root) []HWFact {
	h := &hwFacts{category: "system"}
	release, _ := readString(r.proc("sys/kernel/osrelease"))
	h.addString("kernel", "version", release)
	h.addString("kernel", "arch", architecture())
	cmdline, _ := readString(r.proc("cmdline"))
	h.addString("kernel", "cmdline", cmdline)
	return h.facts
}
