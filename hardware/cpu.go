package hardware

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/jaypipes/ghw"
)

// CPUInfo reports what IPA takes from lscpu. ghw reads the processors:
// model, flags and physical packages. It counts only online CPUs and has
// no frequency, so those come from the files lscpu reads: "CPU(s)" is the
// present CPUs, offline ones included.
func CPUInfo(r Root) (CPU, error) {
	info, err := ghw.CPU(r.ghw())
	if err != nil {
		return CPU{}, fmt.Errorf("reading cpus: %w", err)
	}
	cpu := CPU{
		Architecture: architecture(),
		Flags:        []string{},
		Frequency:    frequency(r),
		Count:        int(info.TotalHardwareThreads),
		SocketCount:  len(info.Processors),
	}
	if len(info.Processors) > 0 {
		p := info.Processors[0]
		cpu.ModelName = p.Model
		if len(p.Capabilities) > 0 {
			cpu.Flags = p.Capabilities
		}
	}
	if present, ok := readString(r.sys("devices/system/cpu/present")); ok {
		if n := cpuListLen(present); n > 0 {
			cpu.Count = n
		}
	}
	if cpu.SocketCount == 0 && cpu.Count > 0 {
		cpu.SocketCount = 1
	}
	return cpu, nil
}

// frequency is lscpu's "CPU max MHz", else the current "cpu MHz" of the
// first processor.
func frequency(r Root) string {
	if khz, ok := readInt(r.sys("devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")); ok {
		return strconv.FormatFloat(float64(khz)/1000, 'f', 4, 64)
	}
	f, err := os.Open(r.proc("cpuinfo"))
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.EqualFold(strings.TrimSpace(k), "cpu MHz") {
			return strings.TrimSpace(v)
		}
	}
	return ""
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
