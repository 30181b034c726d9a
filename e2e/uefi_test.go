package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goipa/goipa/e2e/ironiclab"
	"github.com/goipa/goipa/qemu"
)

// uefiDiskImage builds a 64 MiB GPT whole-disk image whose only partition
// is an ESP holding kernel (a Linux bzImage, an EFI program through its
// EFI stub) as the removable-media loader \EFI\BOOT\BOOTX64.EFI.
func uefiDiskImage(t *testing.T, kernel string) []byte {
	t.Helper()
	dir := t.TempDir()
	img, esp := filepath.Join(dir, "uefi.raw"), filepath.Join(dir, "esp.fat")
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(64 << 20)
	f.Close()
	run("sgdisk", "-n", "1:2048:+32M", "-t", "1:ef00", "-c", "1:ESP", img)
	run("mkfs.vfat", "-C", "-n", "ESP", esp, "32768") // KiB
	run("mmd", "-i", esp, "::/EFI", "::/EFI/BOOT")
	run("mcopy", "-i", esp, kernel, "::/EFI/BOOT/BOOTX64.EFI")
	fat, err := os.ReadFile(esp)
	if err != nil {
		t.Fatal(err)
	}
	f, err = os.OpenFile(img, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(fat, 1<<20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// enrollUEFI enrolls a boot_mode:uefi node whose ramdisk boots kernel (a
// bzImage: OVMF cannot start a PVH vmlinux) under OVMF, and returns it with
// its NVRAM file, which the deployed disk later boots with.
func (w *world) enrollUEFI(t *testing.T, kernel string, spec ironiclab.NodeSpec, disks []qemu.Disk) (*baremetal, string) {
	t.Helper()
	nvram, err := qemu.NewUEFIVars(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	spec.BootMode = "uefi"
	m := w.enroll(t, spec, disks)
	m.vm.Kernel, m.vm.UEFI, m.vm.UEFIVars = kernel, true, nvram
	return m, nvram
}

// TestRealIronicUEFI deploys a UEFI whole-disk image to a node with
// boot_mode:uefi whose ramdisk runs under OVMF: Ironic then has the agent
// run image.install_bootloader, which must add a boot entry for the
// image's loader to the machine's NVRAM. The machine is then booted from
// the deployed disk with that NVRAM and must start the entry.
func TestRealIronicUEFI(t *testing.T) {
	forEachRelease(t, testRealIronicUEFI)
}

func testRealIronicUEFI(t *testing.T, rel ironiclab.Release) {
	qemu.NeedOVMF(t)
	kernel := qemu.BzImage(t)
	w := newWorld(t, ironiclab.Options{Release: rel})
	img := uefiDiskImage(t, kernel)
	url, sum := w.publish(t, "uefi.raw", img)
	target := qemu.SparseDisk(t, 1<<30)
	m, nvram := w.enrollUEFI(t, kernel, ironiclab.NodeSpec{RootDevice: map[string]any{"serial": "target"}},
		[]qemu.Disk{{Path: target, Serial: "target"}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	if _, err := m.deployImage(ctx, url, sum, "raw", nil); err != nil {
		t.Fatalf("UEFI deploy: %v", err)
	}
	t.Logf("UEFI deploy: provision request → active %v", time.Since(start).Round(time.Millisecond))
	// The agent moves the backup GPT to the end of the disk: compare what
	// lies between the first and the last MiB.
	if !bytes.Equal(qemu.ReadAt(t, target, 1<<20, len(img)-2<<20), img[1<<20:len(img)-1<<20]) {
		t.Fatal("the target disk does not hold the image")
	}

	vm := qemu.Start(t, qemu.Options{UEFI: true, UEFIVars: nvram, Disks: []qemu.Disk{{Path: target, Serial: "target"}}})
	defer vm.Kill()
	line := firmwareBootLine(ctx, t, vm)
	if !strings.Contains(line, `"ironic1"`) || !strings.Contains(line, `\EFI\BOOT\BOOTX64.EFI`) {
		t.Errorf("firmware started %q, want the entry install_bootloader added (ironic1, \\EFI\\BOOT\\BOOTX64.EFI)", line)
	}
}

// firmwareBootLine waits for OVMF to name, on the serial console, the NVRAM
// entry it starts, and returns that whole line.
func firmwareBootLine(ctx context.Context, t *testing.T, vm *qemu.VM) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	line, err := vm.WaitLine(ctx, "BdsDxe: starting Boot")
	if err != nil {
		t.Fatalf("the disk did not boot: %v", err)
	}
	return line
}

// TestRealIronicUEFISoftwareRAID: a UEFI node gets a RAID-1 root over two
// disks through raid.apply_configuration; install_bootloader copies the
// image's ESP onto the mirrored ESP (md metadata 1.0, so each member is a
// plain FAT partition to the firmware) and adds one NVRAM entry per
// member. The machine then boots from the disks through such an entry.
func TestRealIronicUEFISoftwareRAID(t *testing.T) {
	forEachRelease(t, testRealIronicUEFISoftwareRAID)
}

func testRealIronicUEFISoftwareRAID(t *testing.T, rel ironiclab.Release) {
	qemu.NeedOVMF(t)
	kernel := qemu.BzImage(t)
	w := newWorld(t, ironiclab.Options{Release: rel})
	img := uefiDiskImage(t, kernel)
	url, sum := w.publish(t, "uefi.raw", img)
	a, b := qemu.SparseDisk(t, 2<<30), qemu.SparseDisk(t, 2<<30)
	m, nvram := w.enrollUEFI(t, kernel, ironiclab.NodeSpec{}, []qemu.Disk{{Path: a, Serial: "raid-a"}, {Path: b, Serial: "raid-b"}})
	raid := map[string]any{"logical_disks": []any{map[string]any{"raid_level": "1", "size_gb": 1, "controller": "software",
		"is_root_volume": true, "volume_name": "root",
		"physical_disks": []any{map[string]any{"serial": "raid-a"}, map[string]any{"serial": "raid-b"}}}}}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	if err := w.lab.Do(ctx, "PUT", "/v1/nodes/"+m.node.UUID+"/states/raid", raid, nil); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := m.deployImage(ctx, url, sum, "raw", map[string]any{"deploy_steps": []any{map[string]any{
		"interface": "raid", "step": "apply_configuration", "priority": 90,
		"args": map[string]any{"raid_config": raid, "delete_existing": true}}}}); err != nil {
		t.Fatalf("UEFI deploy onto RAID-1: %v", err)
	}
	t.Logf("UEFI RAID-1 deploy: provision request → active %v", time.Since(start).Round(time.Millisecond))

	vm := qemu.Start(t, qemu.Options{UEFI: true, UEFIVars: nvram, Disks: []qemu.Disk{{Path: a, Serial: "raid-a"}, {Path: b, Serial: "raid-b"}}})
	defer vm.Kill()
	line := firmwareBootLine(ctx, t, vm)
	if !strings.Contains(line, `(RAID, part`) || !strings.Contains(line, `\EFI\BOOT\BOOTX64.EFI`) {
		t.Errorf("firmware started %q, want an entry install_bootloader added for a RAID member", line)
	}
}
