package hardware

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// PCIDevice is one entry of the pci-devices inspection collector.
type PCIDevice struct {
	VendorID   string `json:"vendor_id"`
	ProductID  string `json:"product_id"`
	Class      string `json:"class"`
	Revision   string `json:"revision"`
	Bus        string `json:"bus"`
	NUMANodeID *int   `json:"numa_node_id"`
}

// PCIDevices lists /sys/bus/pci/devices as IPA's pci-devices collector:
// ids without the 0x prefix, the class as six hex digits.
func PCIDevices(r Root) ([]PCIDevice, error) {
	dir := r.sys("bus/pci/devices")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := []PCIDevice{}
	for _, e := range ents {
		read := func(f string) string {
			s, _ := readString(filepath.Join(dir, e.Name(), f))
			return strings.TrimPrefix(s, "0x")
		}
		d := PCIDevice{VendorID: read("vendor"), ProductID: read("device"), Class: read("class"),
			Revision: read("revision"), Bus: e.Name()}
		if n, err := strconv.Atoi(read("numa_node")); err == nil && n >= 0 {
			d.NUMANodeID = &n
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Bus < out[j].Bus })
	return out, nil
}
