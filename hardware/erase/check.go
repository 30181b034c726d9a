package erase

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
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

// sysDev is the sysfs view of a block device: the device itself, then its
// partitions (none when the device is itself a partition).
type sysDev struct {
	path  string // the device path, symlinks resolved
	dir   string // resolved /sys/…/block/<name>[/<part>]
	disk  string // the whole disk's directory (dir, or its parent for a partition)
	nodes []sysNode
}

type sysNode struct {
	name string // kernel name: sda, sda1, nvme0n1p2
	dev  string // "major:minor"
	dir  string
}

func lookupSys(o *Options, path string) (*sysDev, error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, err
	}
	name := filepath.Base(real)
	dir, err := filepath.EvalSymlinks(filepath.Join(o.sysfs(), "class", "block", name))
	if err != nil {
		return nil, fmt.Errorf("%s: %w: no sysfs entry for %s", path, ErrNotBlockDevice, name)
	}
	s := &sysDev{path: real, dir: dir, disk: dir}
	self, err := readNode(dir)
	if err != nil {
		return nil, err
	}
	s.nodes = append(s.nodes, self)
	if exists(filepath.Join(dir, "partition")) {
		s.disk = filepath.Dir(dir)
		return s, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		sub := filepath.Join(dir, e.Name())
		if !exists(filepath.Join(sub, "partition")) {
			continue
		}
		n, err := readNode(sub)
		if err != nil {
			return nil, err
		}
		s.nodes = append(s.nodes, n)
	}
	return s, nil
}

func readNode(dir string) (sysNode, error) {
	dev, err := os.ReadFile(filepath.Join(dir, "dev"))
	if err != nil {
		return sysNode{}, err
	}
	return sysNode{name: filepath.Base(dir), dev: strings.TrimSpace(string(dev)), dir: dir}, nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func readTrim(p string) string {
	b, _ := os.ReadFile(p)
	return strings.TrimSpace(string(b))
}

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
func (s *sysDev) virtualMedia(o *Options, dev Device) string {
	if target, err := filepath.EvalSymlinks(filepath.Join(o.devRoot(), "disk", "by-label", "ir-vfd-dev")); err == nil {
		for _, n := range s.nodes {
			if filepath.Base(target) == n.name {
				return "labelled ir-vfd-dev"
			}
		}
	}
	ids := []string{dev.Vendor, dev.Model,
		readTrim(filepath.Join(s.disk, "device", "vendor")), readTrim(filepath.Join(s.disk, "device", "model"))}
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
func (s *sysDev) holders(dev Device) [][2]string {
	var out [][2]string
	for _, h := range dev.Holders {
		out = append(out, [2]string{s.nodes[0].name, filepath.Base(h)})
	}
	for _, n := range s.nodes {
		entries, _ := os.ReadDir(filepath.Join(n.dir, "holders"))
		for _, e := range entries {
			if !slices.Contains(out, [2]string{n.name, e.Name()}) {
				out = append(out, [2]string{n.name, e.Name()})
			}
		}
	}
	return out
}

func (s *sysDev) readOnly() bool {
	return readTrim(filepath.Join(s.dir, "ro")) == "1" || readTrim(filepath.Join(s.disk, "ro")) == "1"
}

// checkMounts returns ErrMounted naming the first mounted node. A mount
// matches by major:minor, or by its /dev source for filesystems that report
// an anonymous device number (btrfs).
func (s *sysDev) checkMounts(mountInfo string) error {
	f, err := os.Open(mountInfo)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// proc(5): id parent major:minor root mountpoint opts… - fstype source superopts
		fields := strings.Fields(sc.Text())
		sep := slices.Index(fields, "-")
		if len(fields) < 5 || sep < 0 || sep+2 >= len(fields) {
			continue
		}
		point, source := unescape(fields[4]), unescape(fields[sep+2])
		srcName := ""
		if strings.HasPrefix(source, "/dev/") {
			srcName = filepath.Base(source)
			if p, err := filepath.EvalSymlinks(source); err == nil {
				srcName = filepath.Base(p)
			}
		}
		for _, n := range s.nodes {
			if fields[2] == n.dev || srcName == n.name {
				return fmt.Errorf("%w: %s on %s", ErrMounted, n.name, point)
			}
		}
	}
	return sc.Err()
}

// unescape undoes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
