package hardware

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
)

// ErrDeviceNotFound means no device qualifies as the root device.
var ErrDeviceNotFound = errors.New("no suitable device was found for deployment")

// MinRootSize is the smallest disk picked without hints, as IPA's
// guess_root_disk.
const MinRootSize = 4 << 30

// SelectOptions are what besides hints decides the root device.
type SelectOptions struct {
	// Skip are the node's properties.skip_block_devices hints (SkipList):
	// matching devices are never picked.
	Skip []Hints
	// RootVolume is the md device the target RAID configuration marks
	// is_root_volume: true; it wins over hints, as in IPA.
	RootVolume string
	// NotRoot are RAID volumes marked is_root_volume: false; neither they
	// nor their member partitions and disks are picked.
	NotRoot []string
}

// SelectRootDevice picks the device to deploy on, as IPA's
// get_os_install_device: the RAID root volume if there is one, else the
// first device matching every hint, else (no hints) the smallest device of
// at least 4 GiB, ties broken by name.
func SelectRootDevice(devices []BlockDevice, h Hints, opts SelectOptions) (BlockDevice, error) {
	if opts.RootVolume != "" {
		for _, d := range devices {
			if d.Name == opts.RootVolume {
				return d, nil
			}
		}
		return BlockDevice{}, fmt.Errorf("%w: RAID root volume %s is not among the block devices", ErrDeviceNotFound, opts.RootVolume)
	}
	devices = WithoutSkipped(devices, opts.Skip)
	excluded := map[string]bool{}
	for _, name := range opts.NotRoot {
		excluded[name] = true
		for _, d := range devices {
			if d.Name == name {
				for _, n := range append(slices.Clone(d.Slaves), d.Disks...) {
					excluded[n] = true
				}
			}
		}
	}
	devices = slices.DeleteFunc(slices.Clone(devices), func(d BlockDevice) bool { return excluded[d.Name] })

	if h.Empty() {
		sorted := slices.SortedStableFunc(slices.Values(devices), func(a, b BlockDevice) int {
			return cmp.Or(cmp.Compare(a.Size, b.Size), cmp.Compare(a.Name, b.Name))
		})
		for _, d := range sorted {
			if d.Size >= MinRootSize {
				return d, nil
			}
		}
		return BlockDevice{}, fmt.Errorf("%w: root device hints were not provided and all found block devices are smaller than %dB", ErrDeviceNotFound, int64(MinRootSize))
	}
	if m := MatchHints(devices, h); len(m) > 0 {
		return m[0], nil
	}
	return BlockDevice{}, fmt.Errorf("%w using these hints %s", ErrDeviceNotFound, h)
}

// WithoutSkipped drops the devices any skip hint matches.
func WithoutSkipped(devices []BlockDevice, skip []Hints) []BlockDevice {
	if len(skip) == 0 {
		return devices
	}
	return slices.DeleteFunc(slices.Clone(devices), func(d BlockDevice) bool {
		return slices.ContainsFunc(skip, func(h Hints) bool { return !h.Empty() && h.Match(d) })
	})
}

// RootDeviceHints returns a node's root device hints:
// instance_info.root_device when set, else properties.root_device.
func RootDeviceHints(instanceInfo, properties map[string]any) (Hints, error) {
	for _, s := range []struct {
		name string
		m    map[string]any
	}{{"instance_info", instanceInfo}, {"properties", properties}} {
		section := s.name
		switch rd := s.m["root_device"].(type) {
		case nil:
		case map[string]any:
			if len(rd) > 0 {
				return ParseHints(rd)
			}
		default:
			return Hints{}, fmt.Errorf("%w: %s.root_device is %T, not an object", ErrInvalidHints, section, rd)
		}
	}
	return Hints{}, nil
}

// SkipList reads properties.skip_block_devices: hint dicts excluding disks,
// and the volume_name entries naming RAID volumes to keep.
func SkipList(props map[string]any) (disks []Hints, volumes []string, err error) {
	list, ok := props["skip_block_devices"].([]any)
	if !ok && props["skip_block_devices"] != nil {
		return nil, nil, fmt.Errorf("%w: properties.skip_block_devices is not a list", ErrInvalidHints)
	}
	for i, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, nil, fmt.Errorf("%w: skip_block_devices[%d] is not an object", ErrInvalidHints, i)
		}
		if v, ok := m["volume_name"]; ok {
			name, ok := v.(string)
			if !ok {
				return nil, nil, fmt.Errorf("%w: skip_block_devices[%d].volume_name is not a string", ErrInvalidHints, i)
			}
			volumes = append(volumes, name)
			continue
		}
		h, err := ParseHints(m)
		if err != nil {
			return nil, nil, fmt.Errorf("skip_block_devices[%d]: %w", i, err)
		}
		disks = append(disks, h)
	}
	return disks, volumes, nil
}
