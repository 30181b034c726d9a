// Package raid builds and removes Ironic's software RAID (controller
// "software") with go-diskfs partition tables and mdadm, in a ramdisk
// without udev: the target_raid_config is checked completely before any
// disk is written, each holder disk gets a GPT with one partition per
// logical disk (after the ESP or BIOS boot partition), and the n-th
// partitions become the n-th md array.
package raid

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
)

// ErrInvalidConfig wraps every refusal of a target_raid_config.
var ErrInvalidConfig = errors.New("invalid target_raid_config")

// ESPName is the md name of the mirrored EFI system partition.
const ESPName = "esp"

// minDisks is the smallest member count of each level.
var minDisks = map[string]int{"0": 2, "1": 2, "1+0": 4, "5": 3, "6": 4}

// LogicalDisk is one entry of target_raid_config.logical_disks.
type LogicalDisk struct {
	SizeGB        int64 // 0 when Max
	Max           bool  // size_gb "MAX": the rest of the holder disks
	Level         string
	PhysicalDisks []map[string]any // device hints, one disk each
	VolumeName    string           // the md name; "md<index>" when not given
	IsRootVolume  *bool
}

// Config is a checked target_raid_config.
type Config struct {
	LogicalDisks []LogicalDisk
	raw          map[string]any
}

// volume names become /dev/md/<name> and any:<name> in a 32-byte field.
var validName = regexp.MustCompile(`^[A-Za-z0-9_.+-]{1,28}$`)

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, a...))
}

// ParseConfig checks a target_raid_config as decoded from JSON. Rules that
// depend on the machine's disks are checked by Plan.
func ParseConfig(raw map[string]any) (*Config, error) {
	list, ok := raw["logical_disks"].([]any)
	if !ok || len(list) == 0 {
		return nil, invalid("logical_disks must be a non-empty list")
	}
	c := &Config{raw: raw}
	names := map[string]int{}
	maxAt, rootAt := -1, -1
	for i, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, invalid("logical disk %d: not an object", i)
		}
		ld, err := parseLogicalDisk(i, m)
		if err != nil {
			return nil, err
		}
		if ld.Max {
			if maxAt >= 0 {
				return nil, invalid("logical disk %d: size_gb MAX, but logical disk %d already takes the rest of the disks", i, maxAt)
			}
			maxAt = i
		}
		if ld.IsRootVolume != nil && *ld.IsRootVolume {
			if rootAt >= 0 {
				return nil, invalid("logical disk %d: is_root_volume, but logical disk %d is already the root volume", i, rootAt)
			}
			rootAt = i
		}
		if j, dup := names[ld.VolumeName]; dup {
			return nil, invalid("logical disk %d: volume_name %q is already used by logical disk %d", i, ld.VolumeName, j)
		}
		names[ld.VolumeName] = i
		c.LogicalDisks = append(c.LogicalDisks, ld)
	}
	return c, nil
}

func parseLogicalDisk(i int, m map[string]any) (LogicalDisk, error) {
	var ld LogicalDisk
	if ctl, _ := m["controller"].(string); ctl != "software" {
		return ld, invalid(`logical disk %d: controller is %s, only "software" RAID is built by the agent`, i, show(m["controller"]))
	}
	level, ok := m["raid_level"].(string)
	if !ok {
		return ld, invalid("logical disk %d: raid_level %s is not a string", i, show(m["raid_level"]))
	}
	if _, ok := minDisks[level]; !ok {
		return ld, invalid(`logical disk %d: raid_level %q is not supported for software RAID (use "0", "1", "1+0", "5" or "6")`, i, level)
	}
	ld.Level = level

	switch v := m["size_gb"].(type) {
	case string:
		if v != "MAX" {
			return ld, invalid(`logical disk %d: size_gb %q is neither a number nor "MAX"`, i, v)
		}
		ld.Max = true
	case float64, json.Number, int, int64:
		n, err := wholeNumber(v)
		if err != nil || n <= 0 {
			return ld, invalid("logical disk %d: size_gb %s must be a positive whole number of GiB", i, show(v))
		}
		ld.SizeGB = n
	default:
		return ld, invalid("logical disk %d: size_gb is %s, want a number of GiB or \"MAX\"", i, show(v))
	}

	if v, ok := m["physical_disks"]; ok && v != nil {
		list, ok := v.([]any)
		if !ok {
			return ld, invalid("logical disk %d: physical_disks must be a list of device hints", i)
		}
		for j, h := range list {
			hint, ok := h.(map[string]any)
			if !ok || len(hint) == 0 {
				return ld, invalid("logical disk %d: physical_disks[%d] is not a device hint object", i, j)
			}
			ld.PhysicalDisks = append(ld.PhysicalDisks, hint)
		}
		if n := minDisks[level]; len(list) < n {
			return ld, invalid("logical disk %d: RAID-%s needs at least %d disks, physical_disks names %d", i, level, n, len(list))
		}
	}

	ld.VolumeName = "md" + strconv.Itoa(i)
	if v, ok := m["volume_name"]; ok && v != nil {
		name, ok := v.(string)
		if !ok || !validName.MatchString(name) {
			return ld, invalid("logical disk %d: volume_name %s must be 1-28 letters, digits or _.+-", i, show(v))
		}
		ld.VolumeName = name
	}
	if ld.VolumeName == ESPName {
		return ld, invalid("logical disk %d: volume_name %q is reserved for the mirrored EFI system partition", i, ESPName)
	}
	if v, ok := m["is_root_volume"]; ok && v != nil {
		b, ok := v.(bool)
		if !ok {
			return ld, invalid("logical disk %d: is_root_volume %s is not a boolean", i, show(v))
		}
		ld.IsRootVolume = &b
	}
	return ld, nil
}

func wholeNumber(v any) (int64, error) {
	switch n := v.(type) {
	case int:
		return int64(n), nil
	case int64:
		return n, nil
	case json.Number:
		return n.Int64()
	case float64:
		if n != math.Trunc(n) || n > math.MaxInt32 {
			return 0, errors.New("not a whole number")
		}
		return int64(n), nil
	}
	return 0, errors.New("not a number")
}

func show(v any) string {
	if v == nil {
		return "missing"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// Root returns the index of the root volume: the one marked
// is_root_volume, else the first not marked false; -1 when every logical
// disk says is_root_volume false.
func (c *Config) Root() int {
	for i, ld := range c.LogicalDisks {
		if ld.IsRootVolume != nil && *ld.IsRootVolume {
			return i
		}
	}
	for i, ld := range c.LogicalDisks {
		if ld.IsRootVolume == nil {
			return i
		}
	}
	return -1
}

// RaidConfig is what the agent returns from create_configuration and
// apply_configuration: as IPA, the target_raid_config itself, which
// Ironic's raid.update_raid_info stores as node.raid_config.
func (c *Config) RaidConfig() map[string]any { return c.raw }
