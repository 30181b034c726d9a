package hardware

import (
	"testing"
)

// TestInventoryBeyondGhw covers the facts the inventory reads itself where
// ghw would report them otherwise, on fake trees of one CPU, no disk and no
// NIC, plus what each case adds.
func TestInventoryBeyondGhw(t *testing.T) {
	const nic = "devices/pci0000:00/0000:00:03.0"
	tests := []struct {
		name  string
		setup func(*tree)
		ok    func(*InventoryData) bool
	}{
		{"a NIC with a random MAC keeps it", func(tr *tree) {
			tr.set(nic+"/net/eth0", map[string]string{"address": "52:54:00:12:34:56", "addr_assign_type": "1", "device": "->" + nic})
			tr.set("class/net", map[string]string{"eth0": "->" + nic + "/net/eth0"})
		}, func(inv *InventoryData) bool {
			return len(inv.Interfaces) == 1 && inv.Interfaces[0].MACAddress == "52:54:00:12:34:56"
		}},
		{"a virtio NIC's device is named as IPA names it", func(tr *tree) {
			tr.set(nic+"/virtio0/net/eth0", map[string]string{"address": "52:54:00:12:34:56", "device": "->" + nic + "/virtio0"})
			tr.set("class/net", map[string]string{"eth0": "->" + nic + "/virtio0/net/eth0"})
		}, func(inv *InventoryData) bool {
			return len(inv.Interfaces) == 1 && deref(inv.Interfaces[0].PCIAddress) == "virtio0"
		}},
		{"no DMI is empty strings, not ghw's unknown", func(*tree) {}, func(inv *InventoryData) bool {
			return inv.SystemVendor == SystemVendor{}
		}},
		{"an md volume on spinning disks is rotational", func(tr *tree) {
			tr.disk("devices/virtual/block/md0", map[string]string{"dev": "9:0", "size": "2048", "md/level": "raid1", "queue/rotational": "1"})
		}, func(inv *InventoryData) bool {
			return len(inv.Disks) == 1 && inv.Disks[0].Rotational
		}},
		{"installed memory unknown is null", func(*tree) {}, func(inv *InventoryData) bool {
			return inv.Memory.PhysicalMB == nil && inv.Memory.Total == 1024<<10
		}},
		{"installed memory from the online memory blocks", func(tr *tree) {
			tr.set("devices/system/memory", map[string]string{"block_size_bytes": "8000000",
				"memory0/state": "online", "memory1/state": "online", "memory2/state": "offline"})
		}, func(inv *InventoryData) bool {
			return mb(inv.Memory.PhysicalMB) == "256"
		}},
		{"offline CPUs count, as in lscpu", func(tr *tree) {
			tr.set("devices/system/cpu", map[string]string{"present": "0-1", "cpu1/online": "0"})
		}, func(inv *InventoryData) bool {
			return inv.CPU.Count == 2 && inv.CPU.SocketCount == 1 && inv.CPU.ModelName == "Test CPU"
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTree(t)
			tr.set("", map[string]string{"block/": "", "class/net/": "",
				"devices/system/cpu/cpu0/topology/physical_package_id": "0"})
			tr.set("proc", map[string]string{"cpuinfo": "processor\t: 0\nmodel name\t: Test CPU\n\n", "meminfo": "MemTotal: 1024 kB\n"})
			tc.setup(tr)
			inv, err := Inventory(InventoryOptions{Root: Root{Sys: tr.root, Proc: tr.path("proc"), Dev: tr.path("dev")}, Hostname: "h", SkipBMC: true})
			if err != nil {
				t.Fatal(err)
			}
			if !tc.ok(inv) {
				t.Errorf("inventory: interfaces %+v, disks %+v, cpu %+v, memory total %d physical_mb %s, system_vendor %+v",
					inv.Interfaces, inv.Disks, inv.CPU, inv.Memory.Total, mb(inv.Memory.PhysicalMB), inv.SystemVendor)
			}
		})
	}
}
