package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goipa/goipa/e2e/ironiclab"
	"github.com/goipa/goipa/qemu"
)

// TestRealIronicInspection inspects a node in-band: on 21.4 through
// ironic-inspector (21.4 has no built-in /v1/continue_inspection), on 35
// through Ironic's own agent inspect interface. The ramdisk posts its
// inventory, which must find the node by its MAC, pick the root disk by
// the node's hint and set the node's properties, after which Ironic moves
// the node to manageable.
func TestRealIronicInspection(t *testing.T) {
	forEachRelease(t, testRealIronicInspection)
}

func testRealIronicInspection(t *testing.T, rel ironiclab.Release) {
	w := newWorld(t, ironiclab.Options{Release: rel, Inspector: true})
	target, other := qemu.SparseDisk(t, 2<<30), qemu.SparseDisk(t, 8<<30)
	m := w.enroll(t, ironiclab.NodeSpec{InspectInterface: w.lab.InspectInterface, RootDevice: map[string]any{"serial": "target"}},
		[]qemu.Disk{{Path: other, Serial: "other"}, {Path: target, Serial: "target"}})
	if rel == ironiclab.Ironic35 {
		// Metal3's inspection line (metal3-io/ironic-image inspector.ipxe
		// with its defaults, extra-hardware among the collectors).
		m.vm.Append += " " + metal3Line
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if _, err := m.provision(ctx, map[string]any{"target": "manage"}, "manageable"); err != nil {
		t.Fatal(err)
	}
	props := m.inspect(ctx)
	if rel == ironiclab.Ironic35 {
		checkExtraHardware(ctx, t, w.lab, m.node.UUID)
	}
	// Enrolled with cpus 1, memory_mb 1024, local_gb 8; the VM has 384 MiB
	// and the hinted disk 2 GiB (the inspector reports one GiB less).
	// The inspector writes them as strings or numbers, depending on the hook.
	num := func(k string) float64 {
		f, _ := strconv.ParseFloat(fmt.Sprint(props[k]), 64)
		return f
	}
	if mem := num("memory_mb"); mem < 256 || mem > 384 {
		t.Errorf("memory_mb = %v, want the VM's (≤ 384)", props["memory_mb"])
	}
	if num("local_gb") != 1 {
		t.Errorf("local_gb = %v, want 1 (the 2 GiB disk the root device hint names)", props["local_gb"])
	}
	if props["cpu_arch"] != "x86_64" {
		t.Errorf("cpu_arch = %v", props["cpu_arch"])
	}
	var ports struct {
		Ports []struct {
			Address string `json:"address"`
		} `json:"ports"`
	}
	if err := w.lab.Do(ctx, "GET", "/v1/ports?node="+m.node.UUID, nil, &ports); err != nil {
		t.Fatal(err)
	}
	if len(ports.Ports) != 1 || !strings.EqualFold(ports.Ports[0].Address, m.vm.MAC) {
		t.Errorf("ports after inspection: %+v, want the one for %s", ports.Ports, m.vm.MAC)
	}
}

// metal3Line is what Metal3 adds to the inspection ramdisk's kernel line.
const metal3Line = "ipa-inspection-collectors=default,extra-hardware,logs ipa-enable-vlan-interfaces=all " +
	"ipa-inspection-dhcp-all-interfaces=1 ipa-collect-lldp=1"

// checkExtraHardware reads the node's inspection data as Ironic 35 stored
// it: its extra-hardware hook (strict) turned the ramdisk's data into
// plugin_data.extra, with the facts inspection rules read.
func checkExtraHardware(ctx context.Context, t *testing.T, lab *ironiclab.Lab, uuid string) {
	t.Helper()
	var got struct {
		Inventory  map[string]any `json:"inventory"`
		PluginData struct {
			Extra map[string]map[string]map[string]any `json:"extra"`
			Data  any                                  `json:"data"`
			Error any                                  `json:"error"`
		} `json:"plugin_data"`
	}
	if err := lab.Inventory(ctx, uuid, &got); err != nil {
		t.Fatal(err)
	}
	x := got.PluginData.Extra
	if got.PluginData.Data != nil || got.PluginData.Error != nil {
		t.Errorf("plugin_data keeps data %v or error %v", got.PluginData.Data != nil, got.PluginData.Error)
	}
	for _, k := range [][3]string{{"cpu", "logical", "number"}, {"memory", "total", "size"}, {"system", "product", "name"},
		{"system", "kernel", "version"}} {
		if x[k[0]][k[1]][k[2]] == nil {
			t.Errorf("plugin_data.extra lacks %s/%s/%s (extra: %v)", k[0], k[1], k[2], x)
		}
	}
	if len(x["disk"]) == 0 || len(x["network"]) == 0 {
		t.Errorf("plugin_data.extra has no disk or network facts: %v", x)
	}
}
