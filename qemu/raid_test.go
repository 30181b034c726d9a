package qemu

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/goipa/goipa/tstest/fakeironic"
)

func logicalDisk(level, name string, sizeGB any, root bool, serials ...string) map[string]any {
	var pd []any
	for _, s := range serials {
		pd = append(pd, map[string]any{"serial": s})
	}
	return map[string]any{"raid_level": level, "size_gb": sizeGB, "controller": "software",
		"volume_name": name, "is_root_volume": root, "physical_disks": pd}
}

// runStep runs one in-band step the way the conductor does and waits for it.
func runStep(ctx context.Context, t *testing.T, c *fakeironic.Conductor, kind string, step fakeironic.Step) {
	t.Helper()
	steps, err := c.GetSteps(ctx, kind)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExecuteStep(ctx, kind, step, steps.HardwareManagerVersion); err != nil {
		t.Fatal(err)
	}
	c.PollInterval = 2 * time.Second
	if _, err := c.WaitStep(ctx, kind, step); err != nil {
		t.Fatalf("%s step %s: %v", kind, step.Step, err)
	}
}

// TestSoftwareRAID: raid.apply_configuration builds RAID-1 (the root) and
// RAID-0 over two disks, write_image deploys onto the RAID-1, and after
// power off both mirror halves hold the image; a third disk is untouched.
// A second boot runs raid.delete_configuration, which leaves no md
// superblock and no partition table behind.
func TestSoftwareRAID(t *testing.T) {
	kernel, initrd := Images(t)
	target := map[string]any{"logical_disks": []any{
		logicalDisk("1", "root", 1, true, "raid-a", "raid-b"),
		logicalDisk("0", "data", "MAX", false, "raid-a", "raid-b"),
	}}
	l := newLab(t, nil)
	l.ironic.UpdateNode(l.node.UUID, func(n *fakeironic.Node) { n.TargetRAIDConfig = target })
	img := DiskImage(48<<20, 7)
	url, sum := l.publish(t, "disk.raw", img)
	a, b, other := SparseDisk(t, 3<<30), SparseDisk(t, 3<<30), SparseDisk(t, 64<<20)
	os.WriteFile(other, bytes.Repeat([]byte("keep me "), 1<<20), 0o644)
	before := FileSHA256(t, other)
	disks := []Disk{{Path: a, Serial: "raid-a"}, {Path: b, Serial: "raid-b"}, {Path: other, Serial: "other"}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	vm := Start(t, Options{Kernel: kernel, Initrd: initrd, MemMB: 384, Append: l.append(), Advertise: true, GuestFwds: l.fwds, Disks: disks})
	c := l.conductor(ctx, t)
	runStep(ctx, t, c, "deploy", fakeironic.Step{Interface: "raid", Step: "apply_configuration",
		Args: map[string]any{"raid_config": target, "delete_existing": true}})
	c.Close()
	if _, err := l.ironic.Deploy(ctx, l.node.UUID, fakeironic.ImageInfo{URLs: []string{url}, DiskFormat: "raw",
		OSHashAlgo: "sha256", OSHashValue: sum}, fakeironic.DeployOptions{PowerOff: true}); err != nil {
		t.Fatalf("deploy onto the RAID-1: %v", err)
	}
	if err := vm.Wait(time.Minute); err != nil {
		t.Fatalf("VM did not power off: %v", err)
	}
	for _, disk := range []string{a, b} {
		ms := MDMembers(t, disk)
		levels := map[string]int32{}
		for _, m := range ms {
			levels[m.Name] = m.Level
			if m.Level == 1 && !bytes.Equal(ReadAt(t, disk, m.Start+m.DataOffset, len(img)), img) {
				t.Errorf("%s: the RAID-1 member does not hold the image", disk)
			}
		}
		if levels["any:root"] != 1 || levels["any:data"] != 0 {
			t.Errorf("%s: md members %+v, want any:root RAID-1 and any:data RAID-0", disk, ms)
		}
	}
	if FileSHA256(t, other) != before {
		t.Error("the disk outside the RAID config changed")
	}

	// Clean: delete_configuration in a fresh ramdisk.
	l.ironic.UpdateNode(l.node.UUID, func(n *fakeironic.Node) { n.ProvisionState = "clean wait" })
	l.ironic.WipeAgentInfo(l.node.UUID)
	vm = Start(t, Options{Kernel: kernel, Initrd: initrd, MemMB: 384, Append: l.append(), Advertise: true, GuestFwds: l.fwds, Disks: disks})
	c = l.conductor(ctx, t)
	defer c.Close()
	runStep(ctx, t, c, "clean", fakeironic.Step{Interface: "raid", Step: "delete_configuration"})
	vm.Kill()
	for _, disk := range []string{a, b} {
		if ms := MDMembers(t, disk); len(ms) != 0 {
			t.Errorf("%s: md members left after delete_configuration: %+v", disk, ms)
		}
		if head := ReadAt(t, disk, 0, 1<<20); !bytes.Equal(head, make([]byte, 1<<20)) {
			t.Errorf("%s: partition table left after delete_configuration", disk)
		}
	}
	if FileSHA256(t, other) != before {
		t.Error("the disk outside the RAID config changed")
	}
}

// TestRAIDLevels: for RAID-0, RAID-1+0, RAID-5 and RAID-6 over four disks,
// apply_configuration builds the root volume, write_image deploys onto it,
// and after power off the array's data, read back from the member disks
// with md's striping undone on the host, is the image.
func TestRAIDLevels(t *testing.T) {
	kernel, initrd := Images(t)
	img := DiskImage(48<<20, 7)
	for _, level := range []string{"0", "1+0", "5", "6"} {
		t.Run("raid"+level, func(t *testing.T) {
			target := map[string]any{"logical_disks": []any{logicalDisk(level, "root", 1, true, "d0", "d1", "d2", "d3")}}
			l := newLab(t, nil)
			l.ironic.UpdateNode(l.node.UUID, func(n *fakeironic.Node) { n.TargetRAIDConfig = target })
			url, sum := l.publish(t, "disk.raw", img)
			var disks []Disk
			for i := range 4 {
				disks = append(disks, Disk{Path: SparseDisk(t, 2<<30), Serial: fmt.Sprintf("d%d", i)})
			}
			vm := Start(t, Options{Kernel: kernel, Initrd: initrd, MemMB: 384, Append: l.append(), Advertise: true, GuestFwds: l.fwds, Disks: disks})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			c := l.conductor(ctx, t)
			runStep(ctx, t, c, "deploy", fakeironic.Step{Interface: "raid", Step: "apply_configuration",
				Args: map[string]any{"raid_config": target}})
			c.Close()
			if _, err := l.ironic.Deploy(ctx, l.node.UUID, fakeironic.ImageInfo{URLs: []string{url}, DiskFormat: "raw",
				OSHashAlgo: "sha256", OSHashValue: sum}, fakeironic.DeployOptions{PowerOff: true}); err != nil {
				t.Fatalf("deploy onto RAID-%s: %v", level, err)
			}
			if err := vm.Wait(time.Minute); err != nil {
				t.Fatalf("VM did not power off: %v", err)
			}
			var members []MDMember
			for _, d := range disks {
				members = append(members, MDMembers(t, d.Path)...)
			}
			wantLevel := map[string]int32{"0": 0, "1+0": 10, "5": 5, "6": 6}[level]
			if len(members) != 4 {
				t.Fatalf("%d md members, want 4: %+v", len(members), members)
			}
			for _, m := range members {
				if m.Level != wantLevel || m.Name != "any:root" {
					t.Fatalf("member %+v, want level %d named any:root", m, wantLevel)
				}
			}
			if !bytes.Equal(ReadArray(t, members, len(img)), img) {
				t.Errorf("RAID-%s array data read from the members is not the image", level)
			}
		})
	}
}
