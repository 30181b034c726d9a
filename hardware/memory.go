package hardware

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/u-root/u-root/pkg/smbios"
)

// MemoryInfo reports the memory the kernel manages (MemTotal, as psutil)
// and the memory installed: the SMBIOS memory devices' sizes summed, else
// the memory blocks sysfs lists, else null.
func MemoryInfo(r Root) (Memory, error) {
	total, err := memTotal(r.proc("meminfo"))
	if err != nil {
		return Memory{}, err
	}
	m := Memory{Total: total}
	if mb := smbiosMB(r); mb > 0 {
		m.PhysicalMB = &mb
	} else if mb := memoryBlocksMB(r); mb > 0 {
		m.PhysicalMB = &mb
	}
	return m, nil
}

func memTotal(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("reading meminfo: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("meminfo MemTotal %q: %w", rest, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("meminfo has no MemTotal")
}

func smbiosMB(r Root) int {
	entry, err1 := os.ReadFile(r.sys("firmware/dmi/tables/smbios_entry_point"))
	table, err2 := os.ReadFile(r.sys("firmware/dmi/tables/DMI"))
	if err1 != nil || err2 != nil {
		return 0
	}
	info, err := smbios.ParseInfo(entry, table)
	if err != nil {
		return 0
	}
	devs, err := info.GetMemoryDevices()
	if err != nil {
		return 0
	}
	var bytes uint64
	for _, d := range devs {
		if d.Size != 0xffff { // unknown size
			bytes += d.GetSizeBytes()
		}
	}
	return int(bytes >> 20)
}

func memoryBlocksMB(r Root) int {
	size, ok := readString(r.sys("devices/system/memory/block_size_bytes"))
	if !ok {
		return 0
	}
	bs, err := strconv.ParseInt(size, 16, 64)
	if err != nil {
		return 0
	}
	blocks, _ := filepath.Glob(r.sys("devices/system/memory/memory[0-9]*"))
	return int(int64(len(blocks)) * bs >> 20)
}
