// Package machine acts on the node the agent runs on: flush caches, power off,
// reboot. Only the ramdisk's agent touches the real machine; an agent started
// on a developer's host exits instead, so no test can power off the host.
package machine

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Machine is what the standby and system commands need from the node.
type Machine interface {
	// Sync flushes file system and block device caches to the disks.
	Sync(ctx context.Context) error
	PowerOff(ctx context.Context) error
	Reboot(ctx context.Context) error
}

// Ramdisk is the node itself, for an agent running as the ramdisk's uinit.
type Ramdisk struct {
	Log *slog.Logger
}

// Sync does what IPA's full_sync does: sync, drop the page cache, and flush
// every disk's buffers, so bytes written are on the media before power off.
func (r Ramdisk) Sync(context.Context) error {
	unix.Sync()
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0); err != nil {
		r.Log.Warn("dropping caches", "error", err)
	}
	for _, dev := range disks("/sys/block") {
		f, err := os.Open(dev)
		if err != nil {
			continue
		}
		if err := unix.IoctlSetInt(int(f.Fd()), unix.BLKFLSBUF, 0); err != nil {
			r.Log.Warn("flushing buffers", "device", dev, "error", err)
		}
		f.Close()
	}
	return nil
}

// PowerOff syncs and powers the machine off.
func (r Ramdisk) PowerOff(ctx context.Context) error {
	r.freezeResync()
	_ = r.Sync(ctx)
	r.Log.Info("powering off")
	return unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
}

// Reboot syncs and restarts the machine.
func (r Ramdisk) Reboot(ctx context.Context) error {
	r.freezeResync()
	_ = r.Sync(ctx)
	r.Log.Info("rebooting")
	return unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
}

// freezeResync stops md resyncs before power goes: the kernel's reboot path
// waits for a running resync thread, which a RAID-5/6 parity resync can keep
// busy for minutes. md resumes the resync from its superblock on next boot.
func (r Ramdisk) freezeResync() {
	paths, _ := filepath.Glob("/sys/block/md*/md/sync_action")
	for _, p := range paths {
		if err := os.WriteFile(p, []byte("frozen"), 0); err != nil {
			r.Log.Warn("freezing md resync", "array", p, "error", err)
		}
	}
}

// disks lists /dev paths of the block devices in sysfs, without loop, ram and
// zram devices, which have nothing to flush to.
func disks(sysBlock string) []string {
	ents, _ := os.ReadDir(sysBlock)
	var out []string
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, "loop") || strings.HasPrefix(n, "ram") || strings.HasPrefix(n, "zram") {
			continue
		}
		out = append(out, filepath.Join("/dev", n))
	}
	return out
}

// Host is a developer's machine: power commands end the agent process
// instead of touching the machine, as a power cut would end the ramdisk.
type Host struct {
	Log *slog.Logger
	// Exit stops the agent (normally: cancel its context).
	Exit func()
}

// Sync flushes file systems only.
func (h Host) Sync(context.Context) error {
	unix.Sync()
	return nil
}

// PowerOff ends the agent.
func (h Host) PowerOff(context.Context) error {
	h.Log.Warn("not running as the ramdisk's agent: exiting instead of powering off")
	h.Exit()
	return nil
}

// Reboot ends the agent.
func (h Host) Reboot(context.Context) error {
	h.Log.Warn("not running as the ramdisk's agent: exiting instead of rebooting")
	h.Exit()
	return nil
}

// Lockdown does what IPA's system.lockdown does on the node: take every NIC
// down so nothing can reach the agent any more, then wait for the power cut.
func (r Ramdisk) Lockdown() {
	links, err := netlink.LinkList()
	if err != nil {
		r.Log.Error("lockdown: listing NICs", "error", err)
	}
	for _, l := range links {
		if err := netlink.LinkSetDown(l); err != nil {
			r.Log.Error("lockdown: taking NIC down", "nic", l.Attrs().Name, "error", err)
		}
	}
	r.Log.Warn("locked down: all NICs are down")
	select {}
}
