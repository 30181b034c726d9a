package hardware

import (
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// transport is lsblk's TRAN column, worked out as util-linux does: from the
// SCSI host's transport class for SCSI disks, from the name otherwise.
func transport(r Root, name, dir string, hctl *string) *string {
	if hctl != nil {
		host, _, _ := strings.Cut(*hctl, ":")
		hostIs := func(class string) bool { return exists(r.sys("class", class+"_host", "host"+host)) }
		real, _ := filepath.EvalSymlinks(dir)
		switch {
		case hostIs("spi"):
			return ptr("spi")
		case hostIs("fc"):
			if sym, _ := readString(r.sys("class/fc_host", "host"+host, "symbolic_name")); strings.Contains(sym, " over ") {
				return ptr("fcoe")
			}
			return ptr("fc")
		case hostIs("sas") || exists(filepath.Join(dir, "device/sas_device")):
			return ptr("sas")
		case exists(filepath.Join(dir, "device/ieee1394_id")):
			return ptr("sbp")
		case hostIs("iscsi"):
			return ptr("iscsi")
		case strings.Contains(real, "/usb"):
			return ptr("usb")
		case hostIs("scsi"):
			proc, _ := readString(r.sys("class/scsi_host", "host"+host, "proc_name"))
			switch {
			case strings.HasPrefix(proc, "ahci"), strings.HasPrefix(proc, "sata"):
				return ptr("sata")
			case strings.Contains(proc, "ata"):
				return ptr("ata")
			}
			return nil
		}
	}
	switch {
	case strings.HasPrefix(name, "nvme"):
		return ptr("nvme")
	case strings.HasPrefix(name, "vd"):
		return ptr("virtio")
	case strings.HasPrefix(name, "mmcblk"):
		return ptr("mmc")
	}
	return nil
}

var pciAddr = regexp.MustCompile(`^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$`)

// pathID computes the name udev's path_id gives a disk under
// /dev/disk/by-path, for the common attachments (NVMe, virtio-blk, AHCI,
// direct SAS, plain SCSI); "" for the others (USB, iSCSI, FC, expanders).
func pathID(r Root, name, dir string, hctl *string) string {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return ""
	}
	parts := strings.Split(real, "/")
	pci := -1
	for i, p := range parts {
		if pciAddr.MatchString(p) {
			pci = i
		}
	}
	if pci < 0 {
		return ""
	}
	prefix := "pci-" + parts[pci]
	below := parts[pci+1:]
	switch {
	case strings.HasPrefix(name, "nvme"):
		if nsid, ok := readString(filepath.Join(dir, "nsid")); ok {
			return prefix + "-nvme-" + nsid
		}
		return ""
	case strings.HasPrefix(name, "vd"):
		return prefix
	case hctl == nil:
		return ""
	}
	h := strings.Split(*hctl, ":")
	if len(h) != 4 {
		return ""
	}
	for _, p := range below {
		switch {
		case strings.HasPrefix(p, "ata"):
			if port, ok := readString(r.sys("class/ata_port", p, "port_no")); ok {
				return prefix + "-ata-" + port
			}
			return ""
		case strings.HasPrefix(p, "end_device-"):
			if addr, ok := readString(r.sys("class/sas_device", p, "sas_address")); ok {
				return prefix + "-sas-" + addr + "-lun-" + h[3]
			}
			return ""
		case strings.HasPrefix(p, "usb"), strings.HasPrefix(p, "session"), strings.HasPrefix(p, "rport-"), strings.HasPrefix(p, "expander-"):
			return ""
		}
	}
	// path_id numbers SCSI hosts from the first host of their parent.
	hostDir := ""
	for i, p := range below {
		if p == "host"+h[0] {
			hostDir = strings.Join(append(parts[:pci+1:pci+1], below[:i]...), "/")
		}
	}
	if hostDir == "" {
		return ""
	}
	first := -1
	for _, n := range listNames(hostDir) {
		if k, ok := hostNumber(n); ok && (first < 0 || k < first) {
			first = k
		}
	}
	host, ok := hostNumber("host" + h[0])
	if !ok || first < 0 {
		return ""
	}
	return prefix + "-scsi-" + strconv.Itoa(host-first) + ":" + h[1] + ":" + h[2] + ":" + h[3]
}

func hostNumber(name string) (int, bool) {
	s, ok := strings.CutPrefix(name, "host")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}
