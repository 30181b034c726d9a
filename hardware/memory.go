package hardware

import (
	"fmt"
	"os"

	"github.com/jaypipes/ghw"
	"github.com/u-root/u-root/pkg/smbios"
)

// MemoryInfo reports the memory the kernel manages (MemTotal, as psutil)
// and the memory installed, as lshw does: the SMBIOS memory devices' sizes
// summed (ghw reads those only on Windows), else ghw's online memory
// blocks, else null.
func MemoryInfo(r Root) (Memory, error) {
	info, err := ghw.Memory(r.ghw())
	if err != nil {
		return Memory{}, fmt.Errorf("reading memory: %w", err)
	}
	m := Memory{Total: info.TotalUsableBytes}
	switch mb := smbiosMB(r); {
	case mb > 0:
		m.PhysicalMB = &mb
	case info.TotalPhysicalBytes != info.TotalUsableBytes: // ghw's answer when it cannot tell
		m.PhysicalMB = ptr(int(info.TotalPhysicalBytes >> 20))
	}
	return m, nil
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
