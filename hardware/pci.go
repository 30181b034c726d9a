package hardware

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/jaypipes/ghw"
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

// PCIDevices lists the PCI devices as IPA's pci-devices collector: ids
// without the 0x prefix, the class as six hex digits. ghw reads them from
// the devices' modalias. It knows a device's NUMA node only on a machine
// with several, where IPA reports the kernel's value on any machine, so
// that is read here and ghw skips the topology.
func PCIDevices(r Root) ([]PCIDevice, error) {
	dir := r.sys("bus/pci/devices")
	if _, err := os.Stat(dir); err != nil {
		return nil, err
	}
	info, err := ghw.PCI(ghw.WithDisableTopology()(r.ghw()))
	if err != nil {
		return nil, fmt.Errorf("listing pci devices: %w", err)
	}
	out := []PCIDevice{}
	for _, g := range info.Devices {
		d := PCIDevice{
			VendorID:  g.Vendor.ID,
			ProductID: g.Product.ID,
			Class:     g.Class.ID + g.Subclass.ID + g.ProgrammingInterface.ID,
			Revision:  strings.TrimPrefix(g.Revision, "0x"),
			Bus:       g.Address,
		}
		if s, ok := readString(filepath.Join(dir, g.Address, "numa_node")); ok {
			if n, err := strconv.Atoi(s); err == nil && n >= 0 {
				d.NUMANodeID = &n
			}
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Bus < out[j].Bus })
	return out, nil
}
