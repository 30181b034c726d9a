// Package blockdev is the one block-device layer of the packages that write
// whole devices (image writing, erasure, burn-in): the exclusive O_DIRECT
// open with its geometry, flushing and ioctls, the partition re-read, and
// what the kernel says about a device before anything writes to it: its
// sysfs entry, holders (md, device-mapper, bcache), read-only flag and
// mounts in mountinfo. The sysfs root and the mountinfo path are parameters
// so tests can use fake trees.
package blockdev

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ErrNoEntry: sysfs has no entry for the device (it is not a block device,
// or the kernel has dropped it).
var ErrNoEntry = errors.New("no sysfs entry")

// Device is the sysfs view of a block device.
type Device struct {
	Dir   string // resolved <sysfs>/devices/…/block/<disk>[/<partition>]
	Disk  string // the whole disk's directory: Dir, or its parent for a partition
	Nodes []Node // the device first, then its partitions (none when it is one)
}

// Node is the device or one of its partitions.
type Node struct {
	Name string // kernel name: sda, sda1, nvme0n1p2
	Dev  string // "major:minor"
	Dir  string
}

// ByName looks the device up by kernel name in <sysfs>/class/block.
func ByName(sysfs, name string) (*Device, error) {
	return lookup(filepath.Join(sysfs, "class", "block", name), name)
}

// ByNumber looks the device up by number in <sysfs>/dev/block.
func ByNumber(sysfs string, major, minor uint32) (*Device, error) {
	id := fmt.Sprintf("%d:%d", major, minor)
	return lookup(filepath.Join(sysfs, "dev", "block", id), "block device "+id)
}

func lookup(link, what string) (*Device, error) {
	dir, err := filepath.EvalSymlinks(link)
	if err != nil {
		return nil, fmt.Errorf("%w for %s: %w", ErrNoEntry, what, err)
	}
	d := &Device{Dir: dir, Disk: dir}
	self, err := readNode(dir)
	if err != nil {
		return nil, err
	}
	d.Nodes = append(d.Nodes, self)
	if isPartition(dir) {
		d.Disk = filepath.Dir(dir)
		return d, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		sub := filepath.Join(dir, e.Name())
		if !isPartition(sub) {
			continue
		}
		n, err := readNode(sub)
		if err != nil {
			return nil, err
		}
		d.Nodes = append(d.Nodes, n)
	}
	return d, nil
}

func readNode(dir string) (Node, error) {
	dev, err := os.ReadFile(filepath.Join(dir, "dev"))
	if err != nil {
		return Node{}, err
	}
	return Node{Name: filepath.Base(dir), Dev: strings.TrimSpace(string(dev)), Dir: dir}, nil
}

func isPartition(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "partition"))
	return err == nil
}

// Holders lists the devices sysfs shows holding n (md127, dm-0), sorted.
// A missing holders directory means none. On a read error it returns what
// it could read with the error.
func (n Node) Holders() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(n.Dir, "holders"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names, err
}

// ReadOnly reports whether the kernel marks the device of sysfs directory
// dir (a Device's Dir or Disk) read-only.
func ReadOnly(dir string) bool {
	ro, _ := os.ReadFile(filepath.Join(dir, "ro"))
	return strings.TrimSpace(string(ro)) == "1"
}
