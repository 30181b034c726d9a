package hardware

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// NUMATopology is IPA's numa_topology inspection data.
type NUMATopology struct {
	RAM  []NUMARAM `json:"ram"`
	CPUs []NUMACPU `json:"cpus"`
	NICs []NUMANIC `json:"nics"`
}

// NUMARAM is the memory of one node.
type NUMARAM struct {
	NUMANode int   `json:"numa_node"`
	SizeKB   int64 `json:"size_kb"`
}

// NUMACPU is one physical core: its core_id, its node and the logical CPUs
// (threads) on it.
type NUMACPU struct {
	CPU            int   `json:"cpu"`
	NUMANode       int   `json:"numa_node"`
	ThreadSiblings []int `json:"thread_siblings"`
}

// NUMANIC is the node a NIC's device is attached to (-1: none).
type NUMANIC struct {
	Name     string `json:"name"`
	NUMANode int    `json:"numa_node"`
}

var (
	// ErrNoNUMA means sysfs has no node directory (a kernel without
	// CONFIG_NUMA); IPA then leaves numa_topology out.
	ErrNoNUMA = errors.New("no NUMA node directory")
	// ErrNUMAFormat is IPA's IncompatibleNumaFormatError: some node, CPU or
	// NIC could not be read, and IPA then leaves numa_topology out.
	ErrNUMAFormat = errors.New("incompatible NUMA data")
)

// NUMA reads /sys/devices/system/node and /sys/class/net as IPA's
// numa-topology collector does.
func NUMA(r Root) (*NUMATopology, error) {
	dir := r.sys("devices/system/node")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoNUMA, err)
	}
	var nodes []int
	for _, e := range ents {
		if id, ok := strings.CutPrefix(e.Name(), "node"); ok && e.IsDir() {
			n, err := strconv.Atoi(id)
			if err != nil {
				return nil, fmt.Errorf("%w: node id of %s: %w", ErrNUMAFormat, e.Name(), err)
			}
			nodes = append(nodes, n)
		}
	}
	slices.Sort(nodes)
	t := &NUMATopology{RAM: []NUMARAM{}, CPUs: []NUMACPU{}, NICs: []NUMANIC{}}
	for _, n := range nodes {
		nd := filepath.Join(dir, "node"+strconv.Itoa(n))
		kb, err := nodeMemKB(nd)
		if err != nil {
			return nil, err
		}
		t.RAM = append(t.RAM, NUMARAM{NUMANode: n, SizeKB: kb})
		cpus, err := nodeCores(nd, n)
		if err != nil {
			return nil, err
		}
		t.CPUs = append(t.CPUs, cpus...)
	}
	if t.NICs, err = nicNodes(r); err != nil {
		return nil, err
	}
	return t, nil
}

// nodeMemKB reads "Node N MemTotal: X kB" from the node's meminfo.
func nodeMemKB(nodeDir string) (int64, error) {
	f, err := os.Open(filepath.Join(nodeDir, "meminfo"))
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrNUMAFormat, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		_, v, ok := strings.Cut(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		num, unit, _ := strings.Cut(strings.TrimSpace(v), " ")
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: %s MemTotal %q", ErrNUMAFormat, nodeDir, v)
		}
		// The units IPA's converter knows, in kB.
		switch strings.TrimSpace(unit) {
		case "kB", "KB":
		case "MB":
			n <<= 10
		case "GB":
			n <<= 20
		default:
			return 0, fmt.Errorf("%w: %s MemTotal unit %q", ErrNUMAFormat, nodeDir, unit)
		}
		return n, nil
	}
	return 0, fmt.Errorf("%w: no MemTotal for %s", ErrNUMAFormat, nodeDir)
}

// nodeCores groups the node's logical CPUs by core_id.
func nodeCores(nodeDir string, node int) ([]NUMACPU, error) {
	ents, err := os.ReadDir(nodeDir)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNUMAFormat, err)
	}
	var cores []NUMACPU
	for _, e := range ents {
		id, ok := strings.CutPrefix(e.Name(), "cpu")
		if !ok || !dirExists(filepath.Join(nodeDir, e.Name())) { // skips cpumap, cpulist
			continue
		}
		thread, err := strconv.Atoi(id)
		if err != nil {
			return nil, fmt.Errorf("%w: %s/%s", ErrNUMAFormat, nodeDir, e.Name())
		}
		core, ok := readInt(filepath.Join(nodeDir, e.Name(), "topology/core_id"))
		if !ok {
			return nil, fmt.Errorf("%w: no core_id for %s/%s", ErrNUMAFormat, nodeDir, e.Name())
		}
		i := slices.IndexFunc(cores, func(c NUMACPU) bool { return c.CPU == int(core) })
		if i < 0 {
			cores = append(cores, NUMACPU{CPU: int(core), NUMANode: node})
			i = len(cores) - 1
		}
		cores[i].ThreadSiblings = append(cores[i].ThreadSiblings, thread)
	}
	for _, c := range cores {
		slices.Sort(c.ThreadSiblings)
	}
	slices.SortFunc(cores, func(a, b NUMACPU) int { return cmp.Compare(a.CPU, b.CPU) })
	return cores, nil
}

// nicNodes reports each /sys/class/net entry that has a device. A virtio
// NIC's device has no numa_node (IPA then drops the whole topology); its
// PCI function, one level up, has.
func nicNodes(r Root) ([]NUMANIC, error) {
	dir := r.sys("class/net")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNUMAFormat, err)
	}
	nics := []NUMANIC{}
	for _, e := range ents {
		dev := filepath.Join(dir, e.Name(), "device")
		if !dirExists(dev) {
			continue
		}
		n, ok := readInt(filepath.Join(dev, "numa_node"))
		if real, err := filepath.EvalSymlinks(dev); !ok && err == nil {
			n, ok = readInt(filepath.Join(filepath.Dir(real), "numa_node"))
		}
		if !ok {
			return nil, fmt.Errorf("%w: no numa_node for NIC %s", ErrNUMAFormat, e.Name())
		}
		nics = append(nics, NUMANIC{Name: e.Name(), NUMANode: int(n)})
	}
	return nics, nil
}
