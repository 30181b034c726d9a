package qemu

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/goipa/goipa/tstest/fakeironic"
)

// TestPartitionImageGrub deploys a Debian partition image (a root file
// system only) with enable_bios_bootloader_install sent at lookup, in UEFI
// and in BIOS mode, as Ironic does: write_image, get_partition_uuids,
// install_bootloader, power off. install_bootloader must run the image's
// own grub-install and grub-mkconfig; the machine then boots the disk (UEFI:
// through the NVRAM entry goipa wrote) into the image's GRUB, which must
// start the image's kernel with the deployed root's UUID.
func TestPartitionImageGrub(t *testing.T) {
	kernel, initrd := Images(t)
	bz := BzImage(t)
	img := NewGrubImage(t, bz)
	for _, mode := range []string{"uefi", "bios"} {
		t.Run(mode, func(t *testing.T) {
			if mode == "uefi" {
				NeedOVMF(t)
			}
			t.Parallel()
			l := newLab(t, map[string]any{"root_device": map[string]any{"serial": "target"}})
			cfg := fakeironic.DefaultConfig()
			cfg.HeartbeatTimeout = 30
			cfg.EnableBIOSBootloaderInstall = true
			l.ironic.SetConfig(cfg)
			url, sum := l.publish(t, "root.qcow2", img.Data)
			target := SparseDisk(t, 2<<30)
			disks := []Disk{{Path: target, Serial: "target"}}
			o := Options{Kernel: kernel, Initrd: initrd, MemMB: 384, Append: l.append(), Advertise: true,
				GuestFwds: l.fwds, Disks: disks}
			var nvram string
			if mode == "uefi" {
				var err error
				if nvram, err = NewUEFIVars(t.TempDir()); err != nil {
					t.Fatal(err)
				}
				o.Kernel, o.UEFI, o.UEFIVars = bz, true, nvram
			}
			vm := Start(t, o)
			ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
			defer cancel()
			c := l.conductor(ctx, t)
			defer c.Close()
			steps, err := c.GetSteps(ctx, "deploy")
			if err != nil {
				t.Fatal(err)
			}
			step := fakeironic.Step{Interface: "deploy", Step: "write_image", Priority: 80, Args: map[string]any{
				"image_info": map[string]any{"id": "root.qcow2", "urls": []string{url}, "disk_format": "qcow2",
					"os_hash_algo": "sha256", "os_hash_value": sum, "stream_raw_images": true, "node_uuid": l.node.UUID,
					"image_type": "partition", "root_mb": 1024, "swap_mb": 0, "ephemeral_mb": 0,
					"deploy_boot_mode": mode, "boot_option": "local"},
				"configdrive": nil}}
			if _, err := c.ExecuteStep(ctx, "deploy", step, steps.HardwareManagerVersion); err != nil {
				t.Fatal(err)
			}
			if _, err := c.WaitStep(ctx, "deploy", step); err != nil {
				t.Fatal(err)
			}
			uuids, err := c.GetPartitionUUIDs(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if uuids.RootUUID != img.RootUUID {
				t.Fatalf("root uuid %q, want the image's file system UUID %s", uuids.RootUUID, img.RootUUID)
			}
			p := fakeironic.BootloaderParams{RootUUID: uuids.RootUUID, TargetBootMode: mode}
			if mode == "uefi" {
				p.EFISystemPartitionUUID = &uuids.EFISystemPartitionUUID
			}
			start := time.Now()
			r, err := c.InstallBootloader(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("install_bootloader (%v): %s", time.Since(start).Round(time.Millisecond), r.CommandResult)
			if _, err := c.PowerOff(ctx); err != nil {
				t.Fatal(err)
			}
			if err := vm.Wait(time.Minute); err != nil {
				t.Fatalf("VM did not power off: %v", err)
			}

			// GRUB's EFI loader runs out of memory for the kernel in 256 MiB.
			disk := Start(t, Options{UEFI: mode == "uefi", UEFIVars: nvram, Disks: disks, MemMB: 1024})
			defer disk.Kill()
			line, err := disk.WaitLine(ctx, "Command line: BOOT_IMAGE=")
			if err != nil {
				t.Fatalf("the deployed disk did not boot the image's kernel through its grub: %v", err)
			}
			if !strings.Contains(line, img.BootLine) {
				t.Errorf("the deployed kernel started with %q, want %q", line, img.BootLine)
			}
		})
	}
}
