package hardware

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// diskFacts are hardware-detect's diskinfo facts for the sd, hd, vd and
// nvme disks: size in GB (10^9), the device's identity, queue settings and
// SCSI cache mode. SMART data (smartctl) and /dev/disk/by-id names (udev)
// are left out.
func diskFacts(r Root) []HWFact {
	h := &hwFacts{category: "disk"}
	type disk struct {
		name string
		gb   int64
	}
	var disks []disk
	for _, name := range listNames(r.sys("block")) {
		if !(len(name) > 1 && name[1] == 'd' && strings.ContainsRune("shv", rune(name[0]))) && !strings.HasPrefix(name, "nvme") {
			continue
		}
		sectors, _ := readInt(r.sys("block", name, "size"))
		if gb := sectors * 512 / 1000000000; gb > 0 {
			disks = append(disks, disk{name, gb})
		}
	}
	slices.SortFunc(disks, func(a, b disk) int { return strings.Compare(a.name, b.name) })
	h.add("logical", "count", strconv.Itoa(len(disks)))
	for _, d := range disks {
		dir := r.sys("block", d.name)
		h.add(d.name, "size", strconv.FormatInt(d.gb, 10))
		for _, attr := range []string{"device/vendor", "device/model", "device/rev", "queue/optimal_io_size",
			"queue/physical_block_size", "queue/rotational", "queue/nr_requests"} {
			if attr == "device/rev" && !exists(filepath.Join(dir, attr)) {
				attr = "device/revision"
			}
			if v, ok := readFirstLine(filepath.Join(dir, attr)); ok {
				h.add(d.name, filepath.Base(attr), v)
			}
		}
		if s, ok := readString(filepath.Join(dir, "queue/scheduler")); ok {
			if m := schedulerRE.FindStringSubmatch(s); m != nil {
				h.add(d.name, "scheduler", m[1])
			}
		}
		if !strings.HasPrefix(d.name, "nvme") {
			diskCache(h, d.name, dir)
		}
	}
	return h.facts
}

var schedulerRE = regexp.MustCompile(`\[(.*?)\]`)

// diskCache reports sd's cache_type as the write cache enable and read
// cache disable bits.
func diskCache(h *hwFacts, name, dir string) {
	addr := linkBase(filepath.Join(dir, "device"))
	if addr == nil {
		return
	}
	mode, ok := readString(filepath.Join(dir, "device/scsi_disk", *addr, "cache_type"))
	if !ok {
		return
	}
	wce, rcd := "1", "0"
	switch {
	case mode == "write through":
		wce = "0"
	case mode == "none":
		wce, rcd = "0", "1"
	case strings.Contains(mode, "daft"):
		rcd = "1"
	}
	h.add(name, "Write Cache Enable", wce)
	h.add(name, "Read Cache Disable", rcd)
}

// readFirstLine returns a file's first line without surrounding blanks;
// an empty line is a value, as hardware-detect reports it.
func readFirstLine(path string) (string, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(line), true
}
