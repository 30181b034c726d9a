package hardware

import (
	"encoding/json"
	"errors"
	"testing"
)

// numaServer is a two-node machine with two cores of two threads per node,
// a PCI NIC on node 1 and a virtio NIC whose PCI function is on node 0.
func numaServer(t *testing.T) *tree {
	tr := newTree(t)
	for cpu, core := range []string{"0", "1", "0", "1", "0", "1", "0", "1"} {
		node := "node0"
		if cpu%4 >= 2 {
			node = "node1"
		}
		c := "devices/system/cpu/cpu" + string(rune('0'+cpu))
		tr.set(c, map[string]string{"topology/core_id": core + "\n"})
		tr.set("devices/system/node/"+node, map[string]string{"cpu" + string(rune('0'+cpu)): "->" + c})
	}
	tr.set("devices/system/node", map[string]string{
		"node0/meminfo": "Node 0 MemTotal:       16314396 kB\nNode 0 MemFree:        1 kB\n",
		"node1/meminfo": "Node 1 MemTotal:       16 GB\n",
		"node0/cpulist": "0-1,4-5\n", "node0/cpumap": "00000033\n", "online": "0-1\n",
	})
	nic := "devices/pci0000:00/0000:18:00.0"
	virtio := "devices/pci0000:00/0000:00:03.0"
	tr.set(nic, map[string]string{"numa_node": "1\n"})
	tr.set(virtio, map[string]string{"numa_node": "0\n", "virtio0/": ""})
	tr.set("devices/virtual/net/bond0", map[string]string{"bonding/": ""})
	tr.set("class/net", map[string]string{
		"eno1/device": "->" + nic, "eth0/device": "->" + virtio + "/virtio0", "bond0": "->devices/virtual/net/bond0",
	})
	return tr
}

func TestNUMA(t *testing.T) {
	got, err := NUMA(Root{Sys: numaServer(t).root})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(got)
	want := `{"ram":[{"numa_node":0,"size_kb":16314396},{"numa_node":1,"size_kb":16777216}],` +
		`"cpus":[{"cpu":0,"numa_node":0,"thread_siblings":[0,4]},{"cpu":1,"numa_node":0,"thread_siblings":[1,5]},` +
		`{"cpu":0,"numa_node":1,"thread_siblings":[2,6]},{"cpu":1,"numa_node":1,"thread_siblings":[3,7]}],` +
		`"nics":[{"name":"eno1","numa_node":1},{"name":"eth0","numa_node":0}]}`
	if string(b) != want {
		t.Errorf("numa_topology =\n%s\nwant\n%s", b, want)
	}
}

func TestNUMAErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*tree)
		want   error
	}{
		{"no node directory", func(tr *tree) { tr.root = t.TempDir() }, ErrNoNUMA},
		{"no MemTotal", func(tr *tree) { tr.set("devices/system/node/node1", map[string]string{"meminfo": "x\n"}) }, ErrNUMAFormat},
		{"no core_id", func(tr *tree) {
			tr.set("devices/system/node/node2", map[string]string{"cpu9/": "", "meminfo": "Node 2 MemTotal: 1 kB\n"})
		}, ErrNUMAFormat},
		{"NIC without node", func(tr *tree) { tr.set("class/net/eth1", map[string]string{"device/": ""}) }, ErrNUMAFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := numaServer(t)
			tc.mutate(tr)
			if _, err := NUMA(Root{Sys: tr.root}); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}
