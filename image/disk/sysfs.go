package disk

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// sysDevice is a block device's sysfs view: the device itself plus, for a
// whole disk, its partitions.
type sysDevice struct {
	dir   string    // resolved /sys/.../block/<name>
	nodes []sysNode // the device first, then its partitions
}

type sysNode struct {
	name string // kernel name: sda, sda1, nvme0n1p2
	dev  string // "major:minor"
	dir  string
}

// lookupSysDevice resolves <root>/dev/block/<major>:<minor>.
func lookupSysDevice(root string, major, minor uint32) (*sysDevice, error) {
	link := filepath.Join(root, "dev", "block", fmt.Sprintf("%d:%d", major, minor))
	dir, err := filepath.EvalSymlinks(link)
	if err != nil {
		return nil, fmt.Errorf("sysfs entry for block device %d:%d: %w", major, minor, err)
	}
	s := &sysDevice{dir: dir}
	self, err := readNode(dir)
	if err != nil {
		return nil, err
	}
	s.nodes = append(s.nodes, self)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		sub := filepath.Join(dir, e.Name())
		if _, err := os.Stat(filepath.Join(sub, "partition")); err != nil {
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

// checkUnused returns ErrReadOnly, ErrHeld or ErrMounted when the device or
// any of its partitions is read-only, has holders (md, dm) or is mounted.
func (s *sysDevice) checkUnused(mountInfo string) error {
	if ro, _ := os.ReadFile(filepath.Join(s.nodes[0].dir, "ro")); strings.TrimSpace(string(ro)) == "1" {
		return ErrReadOnly
	}
	for _, n := range s.nodes {
		holders, err := os.ReadDir(filepath.Join(n.dir, "holders"))
		if err != nil && !os.IsNotExist(err) {
			return err
		}
		if len(holders) > 0 {
			return fmt.Errorf("%w: %s is held by %s", ErrHeld, n.name, holders[0].Name())
		}
	}
	mounts, err := readMounts(mountInfo)
	if err != nil {
		return err
	}
	for _, m := range mounts {
		for _, n := range s.nodes {
			if m.dev == n.dev || m.sourceName() == n.name {
				return fmt.Errorf("%w: %s on %s", ErrMounted, n.name, m.point)
			}
		}
	}
	return nil
}

type mount struct {
	dev    string // "major:minor" (anonymous 0:N for btrfs and friends)
	point  string
	source string
}

// sourceName is the kernel name of a /dev source, following symlinks such as
// /dev/disk/by-uuid/…; it catches filesystems whose mountinfo major:minor is
// an anonymous device (btrfs).
func (m mount) sourceName() string {
	if !strings.HasPrefix(m.source, "/dev/") {
		return ""
	}
	if p, err := filepath.EvalSymlinks(m.source); err == nil {
		return filepath.Base(p)
	}
	return filepath.Base(m.source)
}

// readMounts parses /proc/self/mountinfo (proc(5)).
func readMounts(path string) ([]mount, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []mount
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if len(fields) < 5 || sep < 0 || sep+2 >= len(fields) {
			continue
		}
		out = append(out, mount{dev: fields[2], point: unescapeMount(fields[4]), source: unescapeMount(fields[sep+2])})
	}
	return out, sc.Err()
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
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
