package disk

import (
	"fmt"

	"github.com/goipa/goipa/internal/blockdev"
)

// sysDevice is a block device's sysfs view: the device itself plus, for a
// whole disk, its partitions.
type sysDevice struct {
	*blockdev.Device
	dir string // Device.Dir, which Open keeps
}

// lookupSysDevice resolves <root>/dev/block/<major>:<minor>.
func lookupSysDevice(root string, major, minor uint32) (*sysDevice, error) {
	d, err := blockdev.ByNumber(root, major, minor)
	if err != nil {
		return nil, err
	}
	return &sysDevice{Device: d, dir: d.Dir}, nil
}

// checkUnused returns ErrReadOnly, ErrHeld or ErrMounted when the device or
// any of its partitions is read-only, has holders (md, dm) or is mounted.
func (s *sysDevice) checkUnused(mountInfo string) error {
	if blockdev.ReadOnly(s.Dir) {
		return ErrReadOnly
	}
	for _, n := range s.Nodes {
		holders, err := n.Holders()
		if err != nil {
			return err
		}
		if len(holders) > 0 {
			return fmt.Errorf("%w: %s is held by %s", ErrHeld, n.Name, holders[0])
		}
	}
	mounts, err := blockdev.ReadMounts(mountInfo)
	if err != nil {
		return err
	}
	if n, m, ok := s.Mounted(mounts); ok {
		return fmt.Errorf("%w: %s on %s", ErrMounted, n.Name, m.Point)
	}
	return nil
}
