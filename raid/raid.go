package raid

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/goipa/goipa/raid/mdadm"
)

// ErrNoRootVolume: every logical disk says is_root_volume false.
var ErrNoRootVolume = errors.New("no software RAID root volume")

// Manager builds and deletes software RAID on the machine's disks.
type Manager struct {
	MD    *mdadm.Tool
	Disks []Device // every candidate disk of the machine, in inventory order
	Match Matcher  // device hints for physical_disks
	UEFI  bool     // target boot mode: an ESP mirror instead of a BIOS boot partition
	// Partitions makes the kernel see a holder's new partitions; by default
	// BLKPG ioctls (KernelPartitions).
	Partitions func(Device, []Partition) error
	// Log hears what the manager does to disks; nil discards it.
	Log *slog.Logger
}

func (m *Manager) log() *slog.Logger {
	if m.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return m.Log
}

// CreateOptions tune Create.
type CreateOptions struct {
	// DeleteExisting (apply_configuration's delete_existing) removes every
	// software RAID first and wipes holders that are still not clean;
	// without it, unclean holders are refused.
	DeleteExisting bool
	// Wait returns only after the initial resyncs have finished.
	Wait bool
}

// Volume is one created array.
type Volume struct {
	Name        string // md name
	Device      string // /dev/md/<name>
	Level       string
	Members     []string
	LogicalDisk int // -1 for the ESP
}

// Result is what Create built.
type Result struct {
	Volumes []Volume // ESP (UEFI) first, then logical disks in config order
	Holders []string
	root    int
	config  *Config
}

// RootVolume is the md device write_image targets.
func (r *Result) RootVolume() (string, error) {
	if r.root < 0 {
		return "", ErrNoRootVolume
	}
	return r.Volumes[r.root].Device, nil
}

// RaidConfig is the step result Ironic records as node.raid_config.
func (r *Result) RaidConfig() map[string]any { return r.config.RaidConfig() }

func (m *Manager) setPartitions(d Device, parts []Partition) error {
	if m.Partitions != nil {
		return m.Partitions(d, parts)
	}
	return KernelPartitions{SysDir: m.MD.SysDir}.Set(d, parts)
}

// Create builds the configuration (create_configuration, and
// apply_configuration after Plan has accepted it).
func (m *Manager) Create(ctx context.Context, c *Config, o CreateOptions) (*Result, error) {
	l, err := Plan(c, m.Disks, m.Match, m.UEFI)
	if err != nil {
		return nil, err
	}
	if o.DeleteExisting {
		if err := m.Delete(ctx); err != nil {
			return nil, err
		}
	}
	for _, h := range l.Holders {
		reason, err := m.unclean(ctx, h.Device)
		if err != nil {
			return nil, err
		}
		if reason == "" {
			continue
		}
		if !o.DeleteExisting {
			return nil, fmt.Errorf("%w: %s %s; run delete_configuration or erase_devices_metadata first, or apply_configuration with delete_existing", ErrNotClean, h.Path, reason)
		}
		m.log().Info("raid: wiping disk before use", "disk", h.Path, "reason", reason)
		if err := m.MD.ZeroSuperblock(ctx, h.Path); err != nil {
			return nil, err
		}
	}

	res := &Result{root: l.Root, config: c}
	for _, h := range l.Holders {
		m.log().Info("raid: partitioning", "disk", h.Path, "partitions", len(h.Partitions))
		if err := writeGPT(h); err != nil {
			return nil, err
		}
		if err := m.setPartitions(h.Device, h.Partitions); err != nil {
			return nil, err
		}
		res.Holders = append(res.Holders, h.Path)
	}
	for _, a := range l.Arrays {
		m.log().Info("raid: creating", "array", a.String())
		if err := m.MD.Create(ctx, mdadm.CreateOptions{Device: a.Name, Level: a.Level, Name: a.Name, Metadata: a.Metadata, Members: a.Members}); err != nil {
			return nil, err
		}
		if err := m.check(ctx, a); err != nil {
			return nil, err
		}
		res.Volumes = append(res.Volumes, Volume{Name: a.Name, Device: m.MD.Path(a.Name), Level: a.Level, Members: a.Members, LogicalDisk: a.LogicalDisk})
	}
	if o.Wait {
		for _, v := range res.Volumes {
			if err := m.MD.WaitSync(ctx, v.Device); err != nil {
				return nil, err
			}
		}
	}
	return res, nil
}

// unclean says why d cannot be used as is ("" when it can).
func (m *Manager) unclean(ctx context.Context, d Device) (string, error) {
	pt, err := hasPartitionTable(d)
	if err != nil {
		return "", err
	}
	if pt {
		return "has a partition table", nil
	}
	_, err = m.MD.Examine(ctx, d.Path)
	switch {
	case err == nil:
		return "holds an md superblock", nil
	case errors.Is(err, mdadm.ErrNoSuperblock):
		return "", nil
	}
	return "", err
}

// check re-adds members mdadm left out (IPA saw this happen) and makes
// sure the array holds the size asked for.
func (m *Manager) check(ctx context.Context, a Array) error {
	d, err := m.MD.Detail(ctx, a.Name)
	if err != nil {
		return err
	}
	for _, want := range a.Members {
		if !slices.ContainsFunc(d.Members, func(got mdadm.Member) bool { return got.Dev == want }) {
			m.log().Warn("raid: member missing after create, adding", "array", a.Name, "member", want)
			if err := m.MD.Add(ctx, a.Name, want); err != nil {
				return err
			}
		}
	}
	if a.Size == 0 {
		return nil
	}
	size, err := m.MD.Size(a.Name)
	if err != nil {
		return err
	}
	if size < a.Size {
		return fmt.Errorf("/dev/md/%s: %d MiB, smaller than the %d GiB asked for", a.Name, size/MiB, a.Size/GiB)
	}
	return nil
}

// Delete removes every software RAID (delete_configuration): arrays are
// assembled so none is missed, stopped, their superblocks zeroed on members
// and holder disks, and the holders' partition tables wiped. Afterwards
// mdadm --examine finds no superblock on any of them. Disks without md
// metadata are not touched.
func (m *Manager) Delete(ctx context.Context) error {
	if err := m.MD.AssembleScan(ctx); err != nil {
		return err
	}
	arrays, err := m.MD.Arrays()
	if err != nil {
		return err
	}
	members := map[string]bool{}
	for _, a := range arrays {
		dev := filepath.Join(m.MD.DevDir, a.Name)
		m.log().Info("raid: stopping", "array", dev)
		if err := m.MD.Stop(ctx, dev); err != nil {
			return err
		}
		for _, c := range a.Devices {
			members[filepath.Join(m.MD.DevDir, c.Name)] = true
		}
	}
	// Members that never assembled (a lone half of a mirror, say) still
	// carry superblocks: examine every partition of every disk.
	holders := map[string]bool{}
	for _, d := range m.Disks {
		for _, p := range append(m.partitionsOf(d), d.Path) {
			if members[p] {
				holders[d.Path] = true
				continue
			}
			_, err := m.MD.Examine(ctx, p)
			if err == nil {
				members[p], holders[d.Path] = true, true
			} else if !errors.Is(err, mdadm.ErrNoSuperblock) {
				return err
			}
		}
	}
	for _, d := range m.Disks {
		if !holders[d.Path] {
			continue
		}
		devs := []string{d.Path}
		for _, p := range m.partitionsOf(d) {
			if members[p] {
				devs = append(devs, p)
			}
		}
		if err := m.MD.ZeroSuperblock(ctx, devs...); err != nil {
			return err
		}
		m.log().Info("raid: wiping holder", "disk", d.Path)
		if err := wipeTable(d); err != nil {
			return err
		}
		if err := m.setPartitions(d, nil); err != nil {
			return err
		}
		for _, p := range devs {
			if _, err := os.Stat(p); err != nil {
				continue // partition gone with the table
			}
			if _, err := m.MD.Examine(ctx, p); !errors.Is(err, mdadm.ErrNoSuperblock) {
				return fmt.Errorf("%s still holds an md superblock after delete: %v", p, err)
			}
		}
	}
	return nil
}

// partitionsOf lists the kernel's partitions of d as device paths.
func (m *Manager) partitionsOf(d Device) []string {
	var out []string
	for _, n := range (KernelPartitions{SysDir: m.MD.SysDir}).known(d.Path) {
		out = append(out, PartitionPath(d.Path, n))
	}
	slices.Sort(out)
	return out
}

// RootVolume finds the root volume of a configuration built in an earlier
// boot (cleaning, then deploy): its arrays are assembled and the one named
// by the root logical disk's volume_name is returned.
func (m *Manager) RootVolume(ctx context.Context, c *Config) (string, error) {
	i := c.Root()
	if i < 0 {
		return "", ErrNoRootVolume
	}
	if err := m.MD.AssembleScan(ctx); err != nil {
		return "", err
	}
	name := c.LogicalDisks[i].VolumeName
	d, err := m.MD.Detail(ctx, name)
	if err != nil {
		return "", fmt.Errorf("root volume %q: %w", name, err)
	}
	if !strings.HasSuffix(d.Name, ":"+name) && d.Name != name {
		return "", fmt.Errorf("root volume %q: /dev/md/%s is array %q", name, name, d.Name)
	}
	return m.MD.Path(name), nil
}

// PartitionRef is one partition by disk and number, as a UEFI boot entry
// names it (HD(Number,…) on Disk).
type PartitionRef struct {
	Disk   string
	Number int
}

// ESPMembers lists the partitions mirroring the ESP, one boot entry each.
func (m *Manager) ESPMembers(ctx context.Context) ([]PartitionRef, error) {
	d, err := m.MD.Detail(ctx, ESPName)
	if err != nil {
		return nil, err
	}
	var refs []PartitionRef
	for _, mem := range d.Members {
		ref, err := m.partitionRef(mem.Dev)
		if err != nil {
			return nil, err
		}
		refs = append(refs, ref)
	}
	return refs, nil
}

func (m *Manager) partitionRef(part string) (PartitionRef, error) {
	for _, d := range m.Disks {
		for _, n := range (KernelPartitions{SysDir: m.MD.SysDir}).known(d.Path) {
			if PartitionPath(d.Path, n) == part {
				return PartitionRef{Disk: d.Path, Number: n}, nil
			}
		}
	}
	return PartitionRef{}, fmt.Errorf("%s is not a partition of a known disk", part)
}
