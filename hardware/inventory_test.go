package hardware

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/baremetal/inventory"
	"github.com/u-root/u-root/pkg/smbios"
)

// server adds to machine() the NICs, CPUs, memory and firmware of a
// two-socket UEFI server with 2 × 16 GiB DIMMs.
func server(t *testing.T) *tree {
	tr := machine(t)
	nic := "devices/pci0000:00/0000:00:02.0/0000:18:00.0"
	tr.set(nic, map[string]string{"vendor": "0x8086", "device": "0x1572", "driver": "->bus/pci/drivers/i40e"})
	tr.set("bus/pci/drivers", map[string]string{"i40e/": ""})
	tr.set(nic+"/net/eno1", map[string]string{"address": "3c:fd:fe:aa:bb:cc\n", "carrier": "1", "speed": "10000", "device": "->" + nic})
	tr.set("devices/virtual/net/bond0", map[string]string{"address": "3c:fd:fe:aa:bb:cd", "carrier": "0", "bonding/": ""})
	tr.set("devices/virtual/net/eno1.100", map[string]string{"address": "3c:fd:fe:aa:bb:cc", "carrier": "1"})
	tr.set("devices/virtual/net/lo", map[string]string{"address": "00:00:00:00:00:00"})
	tr.set("devices/virtual/net/vnet0", map[string]string{"address": "fa:16:3e:00:00:01", "device": "->" + nic})
	tr.set("class/net", map[string]string{
		"eno1": "->" + nic + "/net/eno1", "bond0": "->devices/virtual/net/bond0",
		"eno1.100": "->devices/virtual/net/eno1.100", "lo": "->devices/virtual/net/lo", "vnet0": "->devices/virtual/net/vnet0",
	})
	tr.set("devices/system/cpu", map[string]string{
		"present": "0-3\n", "cpu0/cpufreq/cpuinfo_max_freq": "3400000",
		"cpu0/topology/physical_package_id": "0", "cpu1/topology/physical_package_id": "0",
		"cpu2/topology/physical_package_id": "1", "cpu3/topology/physical_package_id": "1",
	})
	tr.set("class/dmi/id", map[string]string{
		"product_name": "PowerEdge R640\n", "product_serial": "ABC1234", "sys_vendor": "Dell Inc.",
		"bios_vendor": "Dell Inc.", "bios_version": "2.17.1", "bios_date": "03/14/2023",
	})
	tr.set("firmware", map[string]string{"efi/": ""})
	entry, table := smbiosDIMMs(t, 16384, 16384)
	tr.set("firmware/dmi/tables", map[string]string{"smbios_entry_point": entry, "DMI": table})
	tr.set("proc", map[string]string{
		"cpuinfo": "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz\ncpu MHz\t\t: 2100.000\nflags\t\t: fpu vme sse2\n\n" +
			"processor\t: 1\nmodel name\t: x\nflags\t\t: other\n\nprocessor\t: 2\nmodel name\t: x\nflags\t\t: other\n\nprocessor\t: 3\nmodel name\t: x\nflags\t\t: other\n\n",
		"meminfo": "MemTotal:       32768000 kB\nMemFree:        1000 kB\n",
	})
	return tr
}

// smbiosDIMMs encodes SMBIOS 3 tables holding memory devices of the given
// sizes (MiB).
func smbiosDIMMs(t *testing.T, mib ...uint16) (entry, table string) {
	e, err := (&smbios.Entry64{Anchor: [5]byte{'_', 'S', 'M', '3', '_'}, Length: 0x18, SMBIOSMajorVersion: 3}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for i, size := range mib {
		s := make([]byte, 0x15)
		s[0], s[1] = 17, 0x15
		binary.LittleEndian.PutUint16(s[2:], uint16(i))
		binary.LittleEndian.PutUint16(s[0x0c:], size)
		b.Write(append(s, 0, 0))
	}
	b.Write([]byte{127, 4, 0xff, 0xfe, 0, 0})
	return string(e), b.String()
}

func serverInventory(t *testing.T) *InventoryData {
	tr := server(t)
	inv, err := Inventory(InventoryOptions{
		Root:     Root{Sys: tr.root, Proc: tr.path("proc"), Dev: tr.path("dev")},
		BootIf:   "01-3c-fd-fe-aa-bb-cc",
		Hostname: "node-1",
		LLDP:     map[string][]TLV{"eno1": {{Type: 1, Hex: "04885a92ec5459"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func TestInventory(t *testing.T) {
	inv := serverInventory(t)
	s := ptr[string]
	wantIfaces := []Interface{
		{Name: "bond0", MACAddress: "3c:fd:fe:aa:bb:cd"},
		{Name: "eno1", MACAddress: "3c:fd:fe:aa:bb:cc", HasCarrier: true, LLDP: []TLV{{1, "04885a92ec5459"}},
			Vendor: s("0x8086"), Product: s("0x1572"), SpeedMbps: ptr(10000), PCIAddress: s("0000:18:00.0"), Driver: s("i40e")},
		{Name: "eno1.100", MACAddress: "3c:fd:fe:aa:bb:cc", HasCarrier: true},
	}
	if !reflect.DeepEqual(inv.Interfaces, wantIfaces) {
		t.Errorf("interfaces = %+v", inv.Interfaces)
	}
	wantCPU := CPU{ModelName: "Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz", Frequency: "3400.0000", Count: 4,
		Architecture: architecture(), Flags: []string{"fpu", "vme", "sse2"}, SocketCount: 2}
	if !reflect.DeepEqual(inv.CPU, wantCPU) {
		t.Errorf("cpu = %+v", inv.CPU)
	}
	if inv.Memory.Total != 32768000*1024 || inv.Memory.PhysicalMB == nil || *inv.Memory.PhysicalMB != 32768 {
		t.Errorf("memory = %+v", inv.Memory)
	}
	wantVendor := SystemVendor{ProductName: "PowerEdge R640", SerialNumber: "ABC1234", Manufacturer: "Dell Inc.",
		Firmware: Firmware{Vendor: "Dell Inc.", Version: "2.17.1", BuildDate: "03/14/2023"}}
	if inv.SystemVendor != wantVendor {
		t.Errorf("system_vendor = %+v", inv.SystemVendor)
	}
	if inv.Boot.CurrentBootMode != "uefi" || *inv.Boot.PXEInterface != "01-3c-fd-fe-aa-bb-cc" {
		t.Errorf("boot = %+v", inv.Boot)
	}
	if inv.BMCAddress != nil || inv.BMCV6Address != nil || inv.BMCMAC != nil || len(inv.Disks) != 6 || inv.Hostname != "node-1" {
		t.Errorf("inventory = %+v", inv)
	}
}

// TestInventoryJSON checks the wire form: every key IPA sends, nulls where
// IPA sends null, and a string frequency.
func TestInventoryJSON(t *testing.T) {
	b, err := json.Marshal(serverInventory(t))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	keys := func(v any) []string {
		var ks []string
		for k := range v.(map[string]any) {
			ks = append(ks, k)
		}
		return sorted(ks)
	}
	checks := []struct {
		what string
		got  []string
		want []string
	}{
		{"inventory", keys(m), []string{"bmc_address", "bmc_v6address", "boot", "cpu", "disks", "hostname", "interfaces", "memory", "system_vendor"}},
		{"interface", keys(m["interfaces"].([]any)[0]), []string{"biosdevname", "client_id", "driver", "has_carrier", "ipv4_address", "ipv6_address", "lldp", "mac_address", "name", "pci_address", "product", "speed_mbps", "vendor"}},
		{"disk", keys(m["disks"].([]any)[0]), []string{"by_path", "hctl", "logical_sectors", "model", "name", "physical_sectors", "rotational", "serial", "size", "tran", "vendor", "wwn", "wwn_vendor_extension", "wwn_with_extension"}},
		{"cpu", keys(m["cpu"]), []string{"architecture", "count", "flags", "frequency", "model_name", "socket_count"}},
		{"memory", keys(m["memory"]), []string{"physical_mb", "total"}},
		{"boot", keys(m["boot"]), []string{"current_boot_mode", "pxe_interface"}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s keys = %v, want %v", c.what, c.got, c.want)
		}
	}
	if _, ok := m["cpu"].(map[string]any)["frequency"].(string); !ok {
		t.Error("cpu.frequency is not a string")
	}
	if m["bmc_address"] != nil || m["interfaces"].([]any)[0].(map[string]any)["lldp"] != nil {
		t.Error("bmc_address or bond0's lldp is not null")
	}
	if lldp := m["interfaces"].([]any)[1].(map[string]any)["lldp"]; !reflect.DeepEqual(lldp, []any{[]any{1.0, "04885a92ec5459"}}) {
		t.Errorf("eno1 lldp = %v", lldp)
	}
}

// TestInventoryGophercloud reads the inventory as metal3 does, through
// gophercloud's types, and checks nothing is lost or mistyped.
func TestInventoryGophercloud(t *testing.T) {
	inv := serverInventory(t)
	gc := asGophercloud(t, inv)
	if gc.CPU.Frequency != "3400.0000" || gc.CPU.Count != 4 || gc.CPU.Architecture != inv.CPU.Architecture || len(gc.CPU.Flags) != 3 {
		t.Errorf("cpu = %+v", gc.CPU)
	}
	if gc.Memory.PhysicalMb != 32768 || int64(gc.Memory.Total) != inv.Memory.Total {
		t.Errorf("memory = %+v", gc.Memory)
	}
	if gc.Boot.CurrentBootMode != "uefi" || gc.Boot.PXEInterface != "01-3c-fd-fe-aa-bb-cc" || gc.Hostname != "node-1" || gc.BmcAddress != "" {
		t.Errorf("boot/hostname/bmc = %+v %q %q", gc.Boot, gc.Hostname, gc.BmcAddress)
	}
	if gc.SystemVendor.ProductName != "PowerEdge R640" || gc.SystemVendor.Firmware.BuildDate != "03/14/2023" {
		t.Errorf("system_vendor = %+v", gc.SystemVendor)
	}
	eno1 := gc.Interfaces[1]
	if eno1.SpeedMbps != 10000 || eno1.Vendor != "0x8086" || eno1.PCIAddress != "0000:18:00.0" || eno1.MACAddress != "3c:fd:fe:aa:bb:cc" {
		t.Errorf("eno1 = %+v", eno1)
	}
	for k, d := range gc.Disks {
		o := inv.Disks[k]
		if d.Name != o.Name || d.Size != o.Size || d.Rotational != o.Rotational || d.Serial != deref(o.Serial) ||
			d.Wwn != deref(o.WWN) || d.WwnWithExtension != deref(o.WWNWithExtension) || d.WwnVendorExtension != deref(o.WWNVendorExtension) ||
			d.Model != deref(o.Model) || d.Vendor != deref(o.Vendor) || d.Hctl != deref(o.HCTL) || d.ByPath != deref(o.ByPath) {
			t.Errorf("disk %d: gophercloud %+v, ours %s", k, d, dump(o))
		}
	}
	// Back to JSON: what gophercloud re-emits must read the same again.
	again, err := json.Marshal(gc)
	if err != nil {
		t.Fatal(err)
	}
	var gc2 inventory.InventoryType
	if err := json.Unmarshal(again, &gc2); err != nil {
		t.Fatal(err)
	}
	gc2.Compat()
	gc.Compat()
	if !reflect.DeepEqual(gc, gc2) {
		t.Errorf("gophercloud round trip differs:\n%+v\n%+v", gc, gc2)
	}
}

// asGophercloud reads the inventory's JSON through gophercloud's types.
func asGophercloud(t *testing.T, inv *InventoryData) inventory.InventoryType {
	t.Helper()
	b, err := json.Marshal(inv)
	if err != nil {
		t.Fatal(err)
	}
	var gc inventory.InventoryType
	if err := json.Unmarshal(b, &gc); err != nil {
		t.Fatalf("gophercloud cannot read the inventory: %v", err)
	}
	return gc
}

func TestInventoryOnThisMachine(t *testing.T) {
	inv, err := Inventory(InventoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Disks) == 0 || inv.Memory.Total <= 0 || inv.CPU.Count <= 0 || inv.Hostname == "" {
		t.Errorf("implausible inventory of this machine: %+v", inv)
	}
}

type fakeLAN map[[2]byte][]byte

func (f fakeLAN) GetLanConfig(ch, param byte) ([]byte, error) {
	if b, ok := f[[2]byte{ch, param}]; ok {
		return b, nil
	}
	return nil, errors.New("invalid channel")
}

func TestBMCLAN(t *testing.T) {
	tests := []struct {
		name    string
		lan     fakeLAN
		v4, mac string
	}{
		{"unset", fakeLAN{{1, lanIPAddress}: {0, 0x11, 0, 0, 0, 0}}, "0.0.0.0", ""},
		{"second channel", fakeLAN{
			{1, lanIPAddress}: {0, 0x11, 0, 0, 0, 0}, {1, lanMACAddress}: {0, 0x11, 0, 0, 0, 0, 0, 0},
			{2, lanIPAddress}: {0, 0x11, 10, 0, 0, 5}, {2, lanMACAddress}: {0, 0x11, 0x3c, 0xfd, 0xfe, 1, 2, 3},
		}, "10.0.0.5", "3c:fd:fe:01:02:03"},
	}
	for _, tc := range tests {
		v4, mac := bmcLAN(tc.lan)
		if *v4 != tc.v4 || deref(mac) != tc.mac {
			t.Errorf("%s: bmcLAN = %s %s, want %s %s", tc.name, *v4, deref(mac), tc.v4, tc.mac)
		}
	}
}

func TestBMCWithoutIPMIDevice(t *testing.T) {
	if v4, v6, mac := BMC(Root{Dev: t.TempDir()}); v4 != nil || v6 != nil || mac != nil {
		t.Error("BMC reported without /dev/ipmi0")
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
