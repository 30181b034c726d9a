package hardware

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// cpuFacts are hardware-detect's lscpu facts: the sockets (physical_N),
// the logical CPUs' governors and the NUMA nodes' CPUs. lscpu's cache
// sizes are left out.
func cpuFacts(r Root) []HWFact {
	cpu, err := CPUInfo(r)
	if err != nil {
		r.log().Warn("extra-hardware: reading CPUs", "error", err)
		return nil
	}
	first := cpuinfoFirst(r)
	h := &hwFacts{category: "cpu"}
	h.add("physical", "number", cpu.SocketCount)
	if smt, ok := readString(r.sys("devices/system/cpu/smt/control")); ok {
		h.add("physical", "smt", smt)
	}
	cores := coresPerSocket(r, cpu)
	threads := 1
	if cores > 0 && cpu.SocketCount > 0 {
		threads = max(1, cpu.Count/(cores*cpu.SocketCount))
	}
	boost, hasBoost := readString(r.sys("devices/system/cpu/cpufreq/boost"))
	for p := range cpu.SocketCount {
		item := "physical_" + strconv.Itoa(p)
		if hasBoost {
			h.add(item, "boost", map[bool]string{true: "enabled", false: "disabled"}[boost == "1"])
		}
		h.addString(item, "vendor", first["vendor_id"])
		h.addString(item, "product", cpu.ModelName)
		h.add(item, "cores", cores)
		h.add(item, "threads", threads*cores)
		for _, k := range [][2]string{{"family", "cpu family"}, {"model", "model"}, {"stepping", "stepping"}} {
			if n, err := strconv.ParseInt(first[k[1]], 0, 64); err == nil {
				h.add(item, k[0], int(n))
			}
		}
		h.addString(item, "architecture", cpu.Architecture)
		for _, k := range [][2]string{{"min_Mhz", "cpuinfo_min_freq"}, {"max_Mhz", "cpuinfo_max_freq"}} {
			if khz, ok := readInt(r.sys("devices/system/cpu/cpu0/cpufreq", k[1])); ok {
				h.add(item, k[0], float64(khz)/1000)
			}
		}
		if mhz, err := strconv.ParseFloat(first["cpu mhz"], 64); err == nil {
			h.add(item, "current_Mhz", mhz)
		}
		h.addString(item, "flags", strings.Join(cpu.Flags, " "))
		h.add(item, "threads_per_core", threads)
	}
	h.add("logical", "number", cpu.Count)
	for c := range cpu.Count {
		gov, ok := readString(r.sys("devices/system/cpu/cpufreq", "policy"+strconv.Itoa(c), "scaling_governor"))
		if !ok {
			gov, ok = readString(r.sys("devices/system/cpu", "cpu"+strconv.Itoa(c), "cpufreq/scaling_governor"))
		}
		if ok {
			h.add("logical_"+strconv.Itoa(c), "governor", gov)
		}
	}
	return append(h.facts, numaFacts(r)...)
}

// cpuinfoFirst returns the first processor's /proc/cpuinfo fields, keys
// lower-cased.
func cpuinfoFirst(r Root) map[string]string {
	first := map[string]string{}
	f, err := os.Open(r.proc("cpuinfo"))
	if err != nil {
		return first
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() && sc.Text() != "" {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok {
			first[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
		}
	}
	return first
}

// coresPerSocket counts the distinct cores of the first CPU's package, as
// lscpu's "Core(s) per socket"; without topology, every CPU is a core.
func coresPerSocket(r Root, cpu CPU) int {
	pkgs, _ := filepath.Glob(r.sys("devices/system/cpu/cpu[0-9]*/topology/physical_package_id"))
	cores := map[[2]string]bool{}
	for _, p := range pkgs {
		pkg, _ := readString(p)
		core, ok := readString(filepath.Join(filepath.Dir(p), "core_id"))
		if ok {
			cores[[2]string{pkg, core}] = true
		}
	}
	if len(cores) > 0 && cpu.SocketCount > 0 {
		return len(cores) / cpu.SocketCount
	}
	if cpu.SocketCount > 0 {
		return cpu.Count / cpu.SocketCount
	}
	return cpu.Count
}

// numaFacts are lscpu's NUMA nodes: their count, and per node the number
// of CPUs and their mask (lscpu -x form).
func numaFacts(r Root) []HWFact {
	dir := r.sys("devices/system/node")
	var nodes []int
	for _, name := range listNames(dir) {
		if id, ok := strings.CutPrefix(name, "node"); ok {
			if n, err := strconv.Atoi(id); err == nil {
				nodes = append(nodes, n)
			}
		}
	}
	if len(nodes) == 0 {
		return nil
	}
	h := &hwFacts{category: "numa"}
	h.add("nodes", "count", len(nodes))
	slices.Sort(nodes)
	for _, n := range nodes {
		nd := filepath.Join(dir, "node"+strconv.Itoa(n))
		item := "node_" + strconv.Itoa(n)
		list, _ := readString(filepath.Join(nd, "cpulist"))
		count := 0
		if list != "" {
			count = cpuListLen(list)
		}
		h.add(item, "cpu_count", count)
		if mask, ok := readString(filepath.Join(nd, "cpumap")); ok {
			h.add(item, "cpu_mask", "0x"+strings.ReplaceAll(mask, ",", ""))
		}
	}
	return h.facts
}
