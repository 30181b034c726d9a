package hardware

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/jaypipes/ghw/pkg/snapshot"
	ghwtestdata "github.com/jaypipes/ghw/testdata"
)

// unpackSnapshot unpacks one of ghw's real-machine snapshots from the module
// cache. A snapshot holds only what ghw read on that machine; the /sys/block
// and /sys/class/net it may lack are made empty, as on a machine without
// disks or NICs.
func unpackSnapshot(t *testing.T, name string) Root {
	t.Helper()
	dir, err := ghwtestdata.SnapshotsDirectory()
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if err := snapshot.UnpackInto(filepath.Join(dir, name+".tar.gz"), root); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"sys/block", "sys/class/net"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return Root{Sys: filepath.Join(root, "sys"), Proc: filepath.Join(root, "proc"), Dev: filepath.Join(root, "dev")}
}

// TestInventorySnapshots runs the inventory over ghw's snapshots of real
// machines. The expectations are read from the snapshots' files: the
// processors of /proc/cpuinfo and its first model (s390x names the machine
// type), /sys/devices/system/cpu/present when there is one, the physical
// packages, MemTotal, the online memory blocks, /sys/block's sizes (the
// snapshots keep no dm uuid, so no device-mapper device is a multipath one)
// and /sys/class/net. Snapshots keep no MAC: each NIC is given one.
func TestInventorySnapshots(t *testing.T) {
	tests := []struct {
		snapshot      string
		cpus, sockets int
		model         string
		memKB         int64
		physicalMB    int // 0: unknown, null
		disks         string
		nics          string
	}{
		{"linux-amd64-415ee03b8c4d1c4f07ae2e9d8b3d3d6d", 16, 1, "12th Gen Intel(R) Core(TM) i7-1270P", 32542668, 255 * 128,
			"nvme0n1:2000409264", ""},
		{"linux-amd64-61797caf7c0b6bca1725ad7975ed4773", 12, 1, "AMD Ryzen 5 1600 Six-Core Processor", 32777916, 256 * 128,
			"sda:500118192 sdb:1953525168 sdc:976773168", "enp3s0 enp6s0f0 enp6s0f1 enp8s0"},
		{"linux-amd64-8581cf3a529e5d8b97ea876eade2f60d", 24, 2, "Intel(R) Xeon(R) CPU           L5640  @ 2.27GHz", 65921280, 33 * 2048,
			"sda:975699968", ""},
		{"linux-amd64-accel-nvidia", 8, 1, "Intel(R) Xeon(R) CPU E5-2695 v4 @ 2.10GHz", 30601816, 239 * 128,
			"sda:97656256", ""},
		{"linux-amd64-accel", 2, 2, "Intel(R) Xeon(R) Gold 5218R CPU @ 2.10GHz", 2007536, 16 * 128,
			"vda:41943040", ""},
		// CPUs 2 and 3 are offline: present, counted, without a package.
		{"linux-amd64-offlineCPUs", 4, 2, "Intel Xeon Processor (Skylake, IBRS)", 7881912, 0,
			"", ""},
		{"linux-arm64-c288e0776090cd558ef793b2a4e61939", 1, 1, "", 1888980, 16 * 128,
			"nvme0n1:16777216", ""},
		{"linux-s390x-snapshot", 8, 1, "3931", 112832212, 110 * 1024,
			"sda:209715200 sdb:2147483648 sdc:209715200 sdd:2147483648 sde:2147483648 sdf:2147483648 sdg:209715200 sdh:209715200 " +
				"sdi:2147483648 sdj:2147483648 sdk:209715200 sdl:209715200 sdm:2147483648 sdn:2147483648 sdo:209715200 sdp:209715200", ""},
	}
	for _, tc := range tests {
		t.Run(tc.snapshot, func(t *testing.T) {
			r := unpackSnapshot(t, tc.snapshot)
			var wantNICs []string
			for k, name := range strings.Fields(tc.nics) {
				mac := fmt.Sprintf("52:54:00:00:00:%02x", k)
				if err := os.WriteFile(r.sys("class/net", name, "address"), []byte(mac+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				wantNICs = append(wantNICs, name+"="+mac)
			}
			inv, err := Inventory(InventoryOptions{Root: r, Hostname: "snapshot", SkipBMC: true})
			if err != nil {
				t.Fatal(err)
			}
			if inv.CPU.Count != tc.cpus || inv.CPU.SocketCount != tc.sockets || inv.CPU.ModelName != tc.model {
				t.Errorf("cpu = %d CPUs, %d sockets, model %q; want %d, %d, %q",
					inv.CPU.Count, inv.CPU.SocketCount, inv.CPU.ModelName, tc.cpus, tc.sockets, tc.model)
			}
			if inv.Memory.Total != tc.memKB<<10 {
				t.Errorf("memory total = %d, want %d", inv.Memory.Total, tc.memKB<<10)
			}
			if got := mb(inv.Memory.PhysicalMB); got != mb(nonZero(uint64(tc.physicalMB))) {
				t.Errorf("physical_mb = %s, want %d (0: null)", got, tc.physicalMB)
			}
			var disks, nics []string
			for _, d := range inv.Disks {
				disks = append(disks, fmt.Sprintf("%s:%d", strings.TrimPrefix(d.Name, "/dev/"), d.Size/512))
			}
			for _, i := range inv.Interfaces {
				nics = append(nics, i.Name+"="+i.MACAddress)
			}
			if got := strings.Join(disks, " "); got != tc.disks {
				t.Errorf("disks = %s, want %s", got, tc.disks)
			}
			if !reflect.DeepEqual(nics, wantNICs) {
				t.Errorf("interfaces = %v, want %v", nics, wantNICs)
			}
			checkGophercloud(t, inv)
		})
	}
}

// checkGophercloud reads the inventory through gophercloud's types, as
// metal3 does, and finds the CPUs, memory and disks again.
func checkGophercloud(t *testing.T, inv *InventoryData) {
	t.Helper()
	gc := asGophercloud(t, inv)
	if gc.CPU.Count != inv.CPU.Count || int64(gc.Memory.Total) != inv.Memory.Total || len(gc.Disks) != len(inv.Disks) {
		t.Errorf("gophercloud read cpu %+v, memory %+v, %d disks", gc.CPU, gc.Memory, len(gc.Disks))
	}
	for k, d := range gc.Disks {
		if d.Name != inv.Disks[k].Name || d.Size != inv.Disks[k].Size {
			t.Errorf("gophercloud disk %d = %s %d, ours %s %d", k, d.Name, d.Size, inv.Disks[k].Name, inv.Disks[k].Size)
		}
	}
}

// mb shows physical_mb as the wire does.
func mb(n *int) string {
	if n == nil {
		return "null"
	}
	return fmt.Sprint(*n)
}
