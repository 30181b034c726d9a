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
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if _, err := m.provision(ctx, map[string]any{"target": "manage"}, "manageable"); err != nil {
		t.Fatal(err)
	}
	props := m.inspect(ctx)
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
