package hardware

import (
	"encoding/json"
	"reflect"
	"testing"
)

// extraServer adds to server() what hardware-detect reads beyond the
// inventory: core ids, a NUMA node, the kernel, the disks' queues.
func extraServer(t *testing.T) Root {
	tr := server(t)
	tr.set("devices/system/cpu", map[string]string{
		"cpu0/topology/core_id": "0", "cpu1/topology/core_id": "1", "cpu2/topology/core_id": "0", "cpu3/topology/core_id": "1",
		"cpu0/cpufreq/cpuinfo_min_freq": "800000", "cpufreq/policy0/scaling_governor": "performance",
	})
	tr.set("devices/system/node/node0", map[string]string{"cpulist": "0-3\n", "cpumap": "0000000f\n"})
	tr.set("class/dmi/id", map[string]string{"product_uuid": "4c4c4544-0042-3510-8056-b4c04f4a3332\n",
		"board_name": "0H28RR", "board_serial": ".ABC1234.CN7016"})
	tr.set("block/sda", map[string]string{"queue/scheduler": "[mq-deadline] none\n", "queue/nr_requests": "64\n",
		"device/rev": "CC43\n", "device/scsi_disk/0:0:0:0/cache_type": "write back\n"})
	tr.set("proc", map[string]string{
		"cpuinfo": "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\nmodel name\t: Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz\nstepping\t: 4\ncpu MHz\t\t: 2100.000\nflags\t\t: fpu vme sse2\n\n" +
			"processor\t: 1\nvendor_id\t: x\n\nprocessor\t: 2\nvendor_id\t: x\n\nprocessor\t: 3\nvendor_id\t: x\n",
		"sys/kernel/osrelease": "6.1.0-28-amd64\n",
		"cmdline":              "ipa-inspection-collectors=default,extra-hardware,logs BOOTIF=01-3c-fd-fe-aa-bb-cc\n",
	})
	return Root{Sys: tr.root, Proc: tr.path("proc"), Dev: tr.path("dev")}
}

func TestExtraHardware(t *testing.T) {
	b, err := json.Marshal(ExtraHardware(extraServer(t)))
	if err != nil {
		t.Fatal(err)
	}
	// The shape Ironic's extra-hardware hook accepts: a list of
	// [category, item, key, value] lists.
	var data [][]any
	if err := json.Unmarshal(b, &data); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	facts := map[[3]string]any{}
	for _, f := range data {
		if len(f) != 4 {
			t.Fatalf("fact %v: want 4 items", f)
		}
		var k [3]string
		for i := range k {
			s, ok := f[i].(string)
			if !ok {
				t.Fatalf("fact %v: item %d is not a string", f, i)
			}
			k[i] = s
		}
		switch f[3].(type) {
		case string, float64:
		default:
			t.Errorf("fact %v: value is %T", f, f[3])
		}
		facts[k] = f[3]
	}
	for _, tc := range []struct {
		category, item, key string
		want                any // nil: absent
	}{
		{"disk", "logical", "count", "6"},
		{"disk", "sda", "size", "1000"},
		{"disk", "sda", "vendor", "ATA"},
		{"disk", "sda", "model", "ST1000DM003-1CH1"},
		{"disk", "sda", "rev", "CC43"},
		{"disk", "sda", "rotational", "1"},
		{"disk", "sda", "scheduler", "mq-deadline"},
		{"disk", "sda", "Write Cache Enable", "1"},
		{"disk", "sda", "Read Cache Disable", "0"},
		{"disk", "nvme0n1", "model", "Samsung SSD 970 EVO Plus 1TB"},
		{"disk", "nvme0n1", "Write Cache Enable", nil},
		{"disk", "vda", "size", "21"},
		{"disk", "md0", "size", nil},
		{"disk", "dm-0", "size", nil},
		{"system", "product", "name", "PowerEdge R640"},
		{"system", "product", "vendor", "Dell Inc."},
		{"system", "product", "serial", "ABC1234"},
		{"system", "product", "uuid", "4C4C4544-0042-3510-8056-B4C04F4A3332"},
		{"system", "motherboard", "name", "0H28RR"},
		{"system", "kernel", "version", "6.1.0-28-amd64"},
		{"system", "kernel", "cmdline", "ipa-inspection-collectors=default,extra-hardware,logs BOOTIF=01-3c-fd-fe-aa-bb-cc"},
		{"firmware", "bios", "version", "2.17.1"},
		{"firmware", "bios", "date", "03/14/2023"},
		{"firmware", "bios", "vendor", "Dell Inc."},
		{"memory", "total", "size", "34359738368"},
		{"memory", "bank:0", "size", "17179869184"},
		{"memory", "bank:1", "size", "17179869184"},
		{"memory", "banks", "count", "2"},
		{"network", "eno1", "serial", "3c:fd:fe:aa:bb:cc"},
		{"network", "eno1", "businfo", "pci@0000:18:00.0"},
		{"network", "eno1", "link", "yes"},
		{"network", "eno1", "driver", "i40e"},
		{"network", "eno1", "speed", "10Gbit/s"},
		{"network", "eno1", "size", "10000000000"},
		{"network", "bond0", "serial", nil},
		{"network", "eno1.100", "serial", nil},
		{"cpu", "physical", "number", 2.0},
		{"cpu", "logical", "number", 4.0},
		{"cpu", "physical_0", "vendor", "GenuineIntel"},
		{"cpu", "physical_0", "product", "Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz"},
		{"cpu", "physical_0", "cores", 2.0},
		{"cpu", "physical_0", "threads", 2.0},
		{"cpu", "physical_0", "threads_per_core", 1.0},
		{"cpu", "physical_0", "family", 6.0},
		{"cpu", "physical_0", "model", 85.0},
		{"cpu", "physical_0", "max_Mhz", 3400.0},
		{"cpu", "physical_0", "min_Mhz", 800.0},
		{"cpu", "physical_0", "flags", "fpu vme sse2"},
		{"cpu", "physical_1", "cores", 2.0},
		{"cpu", "logical_0", "governor", "performance"},
		{"numa", "nodes", "count", 1.0},
		{"numa", "node_0", "cpu_count", 4.0},
		{"numa", "node_0", "cpu_mask", "0x0000000f"},
		{"ipmi", "lan", "ip-address", nil},
	} {
		if got := facts[[3]string{tc.category, tc.item, tc.key}]; got != tc.want {
			t.Errorf("%s/%s/%s = %#v, want %#v", tc.category, tc.item, tc.key, got, tc.want)
		}
	}
}

func TestFixBadSerial(t *testing.T) {
	for _, tc := range []struct {
		name string
		sys  []HWFact
		nets []HWFact
		want string
	}{
		{"real serial kept", []HWFact{{"system", "product", "serial", "ABC1234"}, {"system", "product", "uuid", "U"}}, nil, "ABC1234"},
		{"uuid first", []HWFact{{"system", "product", "serial", "0123456789"}, {"system", "product", "uuid", "U"}}, nil, "U"},
		{"then the motherboard", []HWFact{{"system", "product", "serial", "0000000000"}, {"system", "motherboard", "serial", "M"}}, nil, "M"},
		{"then the first MAC", []HWFact{{"system", "product", "serial", "0000000000"}},
			[]HWFact{{"network", "eno1", "serial", "3c:fd:fe:aa:bb:cc"}}, "3cfdfeaabbcc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sys := &hwFacts{category: "system", facts: tc.sys}
			fixBadSerial(sys, tc.nets)
			var serials []any
			for _, f := range sys.facts {
				if f.Item == "product" && f.Key == "serial" {
					serials = append(serials, f.Value)
				}
			}
			if len(serials) != 1 || serials[0] != tc.want {
				t.Errorf("serials = %v, want [%s]", serials, tc.want)
			}
		})
	}
}

func TestMemoryFacts(t *testing.T) {
	tr := newTree(t)
	entry, table := serverSMBIOS(t)
	tr.set("firmware/dmi/tables", map[string]string{"smbios_entry_point": entry, "DMI": table})
	got := memoryFacts(Root{Sys: tr.root})
	want := []HWFact{
		{"memory", "total", "size", "17179869184"},
		{"memory", "bank:0", "size", "17179869184"},
		{"memory", "bank:0", "clock", "2666000000"},
		{"memory", "bank:0", "description", "DIMM DDR4 Synchronous Registered (Buffered) 2666 MHz (0.4 ns)"},
		{"memory", "bank:0", "vendor", "Hynix"},
		{"memory", "bank:0", "product", "HMA82GR7AFR8N-VK"},
		{"memory", "bank:0", "serial", "AB12CD34"},
		{"memory", "bank:0", "slot", "DIMM_A1"},
		{"memory", "bank:1", "description", "DIMM DDR4 Synchronous Registered (Buffered) [empty]"},
		{"memory", "bank:1", "slot", "DIMM_A2"},
		{"memory", "banks", "count", "2"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("memory facts =\n%v\nwant\n%v", got, want)
	}
}

func TestLANFacts(t *testing.T) {
	lan := fakeLAN{
		{2, lanIPAddress}: {0, 0x11, 10, 0, 0, 5}, {2, lanIPSource}: {0, 0x11, 0x02},
		{2, lanSubnetMask}: {0, 0x11, 255, 255, 255, 0}, {2, lanMACAddress}: {0, 0x11, 0x3c, 0xfd, 0xfe, 1, 2, 3},
		{2, lanDefaultGateway}: {0, 0x11, 10, 0, 0, 1},
	}
	want := []HWFact{
		{"ipmi", "lan", "ip-address-source", "DHCP Address"},
		{"ipmi", "lan", "ip-address", "10.0.0.5"},
		{"ipmi", "lan", "subnet-mask", "255.255.255.0"},
		{"ipmi", "lan", "mac-address", "3c:fd:fe:01:02:03"},
		{"ipmi", "lan", "default-gateway-ip", "10.0.0.1"},
	}
	if got := lanFacts(lan); !reflect.DeepEqual(got, want) {
		t.Errorf("lanFacts =\n%v\nwant\n%v", got, want)
	}
	if got := lanFacts(fakeLAN{}); got != nil {
		t.Errorf("without a LAN channel: %v", got)
	}
}
