package hardware

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// CPUInfo reports what IPA takes from lscpu, from the same sources lscpu
// reads: /proc/cpuinfo and /sys/devices/system/cpu.
func CPUInfo(r Root) (CPU, error) {
	f, err := os.Open(r.proc("cpuinfo"))
	if err != nil {
		return CPU{}, fmt.Errorf("reading cpuinfo: %w", err)
	}
	defer f.Close()
	first := map[string]string{} // the first processor's fields
	processors, packages := 0, map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		switch k {
		case "processor":
			processors++
		case "physical id":
			packages[v] = true
		}
		if _, seen := first[k]; !seen {
			first[k] = v
		}
	}
	if err := sc.Err(); err != nil {
		return CPU{}, fmt.Errorf("reading cpuinfo: %w", err)
	}

	cpu := CPU{ModelName: first["model name"], Architecture: architecture(), Flags: []string{}}
	if flags := cmpOr(first["flags"], first["features"]); flags != "" {
		cpu.Flags = strings.Fields(flags)
	}
	// lscpu's "CPU max MHz", else the current "cpu MHz".
	if khz, ok := readInt(r.sys("devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")); ok {
		cpu.Frequency = strconv.FormatFloat(float64(khz)/1000, 'f', 4, 64)
	} else {
		cpu.Frequency = first["cpu mhz"]
	}
	cpu.Count = processors
	if present, ok := readString(r.sys("devices/system/cpu/present")); ok {
		if n := cpuListLen(present); n > 0 {
			cpu.Count = n
		}
	}
	// Socket(s): distinct physical packages, from sysfs topology when
	// there is one (ARM has no "physical id" in cpuinfo).
	ids, _ := filepath.Glob(r.sys("devices/system/cpu/cpu[0-9]*/topology/physical_package_id"))
	if len(ids) > 0 {
		packages = map[string]bool{}
		for _, p := range ids {
			if s, ok := readString(p); ok {
				packages[s] = true
			}
		}
	}
	cpu.SocketCount = len(packages)
	if cpu.SocketCount == 0 && cpu.Count > 0 {
		cpu.SocketCount = 1
	}
	return cpu, nil
}

// cpuListLen counts the CPUs in a kernel CPU list such as "0-3,8-11".
func cpuListLen(list string) int {
	n := 0
	for _, part := range strings.Split(list, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return 0
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return 0
			}
		}
		n += b - a + 1
	}
	return n
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
