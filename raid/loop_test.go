package raid

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/goipa/goipa/internal/runner"
	"github.com/goipa/goipa/raid/mdadm"
	"github.com/goipa/goipa/tstest/looptest"
)

// loopDisk attaches a sparse file as a loop device with partition support
// (see looptest.Attach). Only devices this test attached are ever written.
func loopDisk(t *testing.T, size int64) Device {
	t.Helper()
	dev, _ := looptest.New(t, size)
	return Device{Path: dev, Size: size, LogicalSectorSize: 512}
}

func sysInt(t *testing.T, p string) int64 {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestLoopPartitions writes a layout with go-diskfs and hands it to the
// kernel with BLKPG, then removes it as Delete does.
func TestLoopPartitions(t *testing.T) {
	d := loopDisk(t, 2*GiB)
	c, err := ParseConfig(decode(t, `{"logical_disks": [{"size_gb": 1, "raid_level": "1", "controller": "software"}, {"size_gb": "MAX", "raid_level": "0", "controller": "software"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	// One disk stands for two: Plan needs two per level, the layout is the same.
	d2 := d
	d2.Path += "-twin"
	l, err := Plan(c, []Device{d, d2}, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	h := l.Holders[0]
	if err := writeGPT(h); err != nil {
		t.Fatal(err)
	}
	k := KernelPartitions{SysDir: "/sys"}
	if err := k.Set(d, h.Partitions); err != nil {
		t.Fatal(err)
	}
	name := filepath.Base(d.Path)
	for _, p := range h.Partitions {
		sys := filepath.Join("/sys/class/block", name, filepath.Base(p.Path))
		if got := sysInt(t, filepath.Join(sys, "start")) * 512; got != p.Start {
			t.Errorf("%s starts at %d, want %d", p.Path, got, p.Start)
		}
		if got := sysInt(t, filepath.Join(sys, "size")) * 512; got != p.Size {
			t.Errorf("%s has %d bytes, want %d", p.Path, got, p.Size)
		}
		if _, err := os.Stat(p.Path); err != nil {
			t.Errorf("no device node: %v", err)
		}
	}
	if pt, err := hasPartitionTable(d); err != nil || !pt {
		t.Errorf("partition table not seen on %s: %v", d.Path, err)
	}

	// Setting the same layout again replaces, not duplicates.
	if err := k.Set(d, h.Partitions); err != nil {
		t.Fatalf("second Set: %v", err)
	}
	if err := wipeTable(d); err != nil {
		t.Fatal(err)
	}
	if err := k.Set(d, nil); err != nil {
		t.Fatal(err)
	}
	if got := k.known(d.Path); len(got) != 0 {
		t.Errorf("kernel still has partitions %v", got)
	}
	if pt, _ := hasPartitionTable(d); pt {
		t.Error("partition table survived the wipe")
	}
}

// TestLoopRAID builds and deletes a RAID-1 on two loop devices with the
// real mdadm, where the kernel has the md driver.
func TestLoopRAID(t *testing.T) {
	if _, err := os.Stat("/proc/mdstat"); err != nil {
		t.Skip("kernel without the md driver (no /proc/mdstat); covered by the QEMU tests")
	}
	md := mdadm.New(runner.Exec{})
	// Delete stops every array on the machine: never run beside real ones.
	if arrays, err := md.Arrays(); err != nil || len(arrays) > 0 {
		t.Skipf("this machine runs md arrays (%v); not touching them", err)
	}
	disks := []Device{loopDisk(t, 2*GiB), loopDisk(t, 2*GiB)}
	m := &Manager{MD: md, Disks: disks, UEFI: true}
	c, err := ParseConfig(decode(t, `{"logical_disks": [{"size_gb": 1, "raid_level": "1", "controller": "software", "volume_name": "goipa-test"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	res, err := m.Create(ctx, c, CreateOptions{Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Delete(ctx) })
	if root, err := res.RootVolume(); err != nil || root != "/dev/md/goipa-test" {
		t.Errorf("root %q, %v", root, err)
	}
	if err := m.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	for _, d := range disks {
		if _, err := m.MD.Examine(ctx, d.Path); err == nil {
			t.Errorf("%s still has a superblock", d.Path)
		}
	}
}
