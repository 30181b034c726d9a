package erase

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/goipa/goipa/internal/blockdev"
)

// Check reports why dev must not be erased, or nil. The error wraps one of
// ErrVirtualMedia, ErrRAIDMember, ErrReadOnly, ErrMounted, ErrHeld or
// ErrProtected, checked in that order, and names what was found. The state
// is read from sysfs and mountinfo, for the device and all its partitions.
func Check(dev Device, opts Options) error {
	s, err := lookupSys(&opts, dev.Path)
	if err != nil {
		return err
	}
	if why := s.virtualMedia(&opts, dev); why != "" {
		return fmt.Errorf("%s: %w (%s)", dev.Path, ErrVirtualMedia, why)
	}
	holders := s.holders(dev)
	for _, h := range holders {
		if strings.HasPrefix(h[1], "md") {
			return fmt.Errorf("%s: %w: %s is part of %s", dev.Path, ErrRAIDMember, h[0], h[1])
		}
	}
	if dev.ReadOnly || s.readOnly() {
		return fmt.Errorf("%s: %w", dev.Path, ErrReadOnly)
	}
	if err := s.checkMounts(opts.mountInfo()); err != nil {
		return fmt.Errorf("%s: %w", dev.Path, err)
	}
	if len(holders) > 0 {
		return fmt.Errorf("%s: %w: %s is held by %s", dev.Path, ErrHeld, holders[0][0], holders[0][1])
	}
	if opts.AllowSpecialFilesystems {
		return nil
	}
	return guard(dev.Path)
}

// skippable reports whether a Check error is one IPA skips the device for
// instead of failing the step.
func skippable(err error, readOnlyToo bool) bool {
	return errors.Is(err, ErrVirtualMedia) || errors.Is(err, ErrRAIDMember) ||
		readOnlyToo && errors.Is(err, ErrReadOnly)
}

// sysDev is the sysfs view of the device and its partitions.
type sysDev struct{ *blockdev.Device }

func lookupSys(o *Options, path string) (sysDev, error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return sysDev{}, err
	}
	name := filepath.Base(real)
	d, err := blockdev.ByName(o.sysfs(), name)
	if errors.Is(err, blockdev.ErrNoEntry) {
		return sysDev{}, fmt.Errorf("%s: %w: no sysfs entry for %s", path, ErrNotBlockDevice, name)
	}
	if err != nil {
		return sysDev{}, err
	}
	return sysDev{d}, nil
}

func readTrim(p string) string {
	b, _ := os.ReadFile(p)
	return strings.TrimSpace(string(b))
}

// unescape undoes the octal escapes of /proc/self/mounts, for pstoreMount.
func unescape(s string) string { return blockdev.Unescape(s) }

// virtualMediaModels are model (or vendor) substrings BMCs give the
// virtual drives they attach over USB: Supermicro/ATEN and AMI "Virtual
// CDROM"/"Virtual Floppy"/"Virtual HDisk", Dell iDRAC "Virtual CD"/"Virtual
// Floppy", HPE iLO "Virtual DVD-ROM"/"Virtual USB Key", Cisco CIMC
// "vKVM-Mapped vDVD/vHDD/vFDD", OpenBMC "Virtual Media". "Virtual disk"
// alone is not one: VMware names its ordinary disks so.
var virtualMediaModels = []string{
	"virtual cd", "virtual dvd", "virtual floppy", "virtual hdisk", "virtual hdd",
	"virtual usb", "virtual media", "vkvm-mapped",
}

// virtualMedia returns why the device counts as BMC virtual media: IPA's
// check (the device, or one of its partitions, is what
// /dev/disk/by-label/ir-vfd-dev points to), or a known virtual drive model.
func (s sysDev) virtualMedia(o *Options, dev Device) string {
	if target, err := filepath.EvalSymlinks(filepath.Join(o.devRoot(), "disk", "by-label", "ir-vfd-dev")); err == nil {
		for _, n := range s.Nodes {
			if filepath.Base(target) == n.Name {
				return "labelled ir-vfd-dev"
			}
		}
	}
	ids := []string{dev.Vendor, dev.Model,
		readTrim(filepath.Join(s.Disk, "device", "vendor")), readTrim(filepath.Join(s.Disk, "device", "model"))}
	for _, id := range ids {
		low := strings.ToLower(id)
		for _, m := range virtualMediaModels {
			if strings.Contains(low, m) {
				return fmt.Sprintf("model %q", id)
			}
		}
	}
	return ""
}

// holders returns [node, holder] pairs: the listing's holders of the
// device, then what sysfs shows holding the device or its partitions.
func (s sysDev) holders(dev Device) [][2]string {
	var out [][2]string
	for _, h := range dev.Holders {
		out = append(out, [2]string{s.Nodes[0].Name, filepath.Base(h)})
	}
	for _, n := range s.Nodes {
		names, _ := n.Holders() // unreadable: only what could be read counts
		for _, h := range names {
			if !slices.Contains(out, [2]string{n.Name, h}) {
				out = append(out, [2]string{n.Name, h})
			}
		}
	}
	return out
}

func (s sysDev) readOnly() bool {
	return blockdev.ReadOnly(s.Dir) || blockdev.ReadOnly(s.Disk)
}

// checkMounts returns ErrMounted naming the first mounted node.
func (s sysDev) checkMounts(mountInfo string) error {
	mounts, err := blockdev.ReadMounts(mountInfo)
	if n, m, ok := s.Mounted(mounts); ok {
		return fmt.Errorf("%w: %s on %s", ErrMounted, n.Name, m.Point)
	}
	return err
}
