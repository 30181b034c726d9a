package qemu

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goipa/goipa/agent/fakeironic"
)

// GrubRootEnv names the tar of a Debian root file system with GRUB that
// make grub-root builds (qemu/grubroot.sh).
const GrubRootEnv = "GOIPA_GRUB_ROOT"

const grubImageRootUUID = "5e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b"

// grubPartitionImage makes a partition image, an ext4 root file system as
// qcow2, from the Debian root tar, with kernel as its /boot/vmlinuz and a
// GRUB configuration that boots at once on the serial console.
func grubPartitionImage(t *testing.T, tarball, kernel string) []byte {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	os.Mkdir(root, 0o755)
	run("tar", "-xf", tarball, "-C", root)
	k, err := os.ReadFile(kernel)
	if err != nil {
		t.Fatal(err)
	}
	for p, data := range map[string][]byte{
		"boot/vmlinuz-6.1.0-goipa": k,
		"etc/default/grub": []byte("GRUB_DEFAULT=0\nGRUB_TIMEOUT=0\nGRUB_DISTRIBUTOR=Debian\n" +
			"GRUB_CMDLINE_LINUX_DEFAULT=\"\"\nGRUB_CMDLINE_LINUX=\"console=ttyS0\"\nGRUB_TERMINAL=console\n"),
		"etc/fstab": []byte("UUID=" + grubImageRootUUID + " / ext4 errors=remount-ro 0 1\n"),
	} {
		if err := os.WriteFile(filepath.Join(root, p), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// With an initrd, grub-mkconfig names the root by UUID (a kernel alone
	// could not resolve UUID=); what the initrd holds does not matter here.
	initrd := exec.Command("cpio", "-o", "-H", "newc", "--quiet")
	initrd.Dir, initrd.Stdin = root, strings.NewReader("etc/fstab\n")
	cpio, err := initrd.Output()
	if err != nil {
		t.Fatalf("cpio: %v", err)
	}
	if err := os.WriteFile(filepath.Join(root, "boot/initrd.img-6.1.0-goipa"), cpio, 0o644); err != nil {
		t.Fatal(err)
	}
	raw, img := filepath.Join(dir, "root.ext4"), filepath.Join(dir, "root.qcow2")
	run("mke2fs", "-q", "-t", "ext4", "-U", grubImageRootUUID, "-d", root, "-F", raw, "400M")
	run("qemu-img", "convert", "-f", "raw", "-O", "qcow2", "-c", "-o", "compression_type=zstd", raw, img)
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPartitionImageGrub deploys a Debian partition image (a root file
// system only) with enable_bios_bootloader_install sent at lookup, in UEFI
// and in BIOS mode, as Ironic does: write_image, get_partition_uuids,
// install_bootloader, power off. install_bootloader must run the image's
// own grub-install and grub-mkconfig; the machine then boots the disk (UEFI:
// through the NVRAM entry goipa wrote) into the image's GRUB, which must
// start the image's kernel with the deployed root's UUID.
func TestPartitionImageGrub(t *testing.T) {
	kernel, initrd := Images(t)
	tarball := os.Getenv(GrubRootEnv)
	if tarball == "" {
		t.Skipf("%s unset (make grub-root, or run make test)", GrubRootEnv)
	}
	if _, err := os.Stat(tarball); err != nil {
		t.Skipf("%v (make grub-root)", err)
	}
	bz := filepath.Join(filepath.Dir(kernel), "goipa.kernel")
	if _, err := os.Stat(bz); err != nil {
		t.Skipf("UEFI needs the bzImage: %v (make kernel)", err)
	}
	img := grubPartitionImage(t, tarball, bz)
	for _, mode := range []string{"uefi", "bios"} {
		t.Run(mode, func(t *testing.T) {
			if mode == "uefi" {
				if _, err := os.Stat(OVMFCode); err != nil {
					t.Skipf("%v: %v", ErrNoOVMF, err)
				}
			}
			t.Parallel()
			l := newLab(t, map[string]any{"root_device": map[string]any{"serial": "target"}})
			cfg := fakeironic.DefaultConfig()
			cfg.HeartbeatTimeout = 30
			cfg.EnableBIOSBootloaderInstall = true
			l.ironic.SetConfig(cfg)
			url, sum := l.publish(t, "root.qcow2", img)
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
			if uuids.RootUUID != grubImageRootUUID {
				t.Fatalf("root uuid %q, want the image's file system UUID %s", uuids.RootUUID, grubImageRootUUID)
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
			if !strings.Contains(line, "/boot/vmlinuz-6.1.0-goipa") || !strings.Contains(line, "root=UUID="+grubImageRootUUID) {
				t.Errorf("the deployed kernel started with %q, want the image's kernel and root=UUID=%s", line, grubImageRootUUID)
			}
		})
	}
}
