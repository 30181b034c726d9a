package e2e

import (
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

// TestRealIronicPartitionImage: Ironic deploys a Debian partition image
// (image_type partition, root_gb) to a UEFI node whose agent may install the
// image's boot loader: enable_bios_bootloader_install is in a config file
// added to the ramdisk as a second cpio archive, as operators add CA files
// to IPA's, while Ironic sends false (which, as in IPA, does not override
// the agent's own true). goipa lays the disk out, writes
// the root, and install_bootloader, called by Ironic with the root and ESP
// UUIDs get_partition_uuids gave it, runs the image's GRUB and adds the NVRAM
// entry; the machine then boots the disk into the image's kernel.
func TestRealIronicPartitionImage(t *testing.T) {
	forEachRelease(t, testRealIronicPartitionImage)
}

func testRealIronicPartitionImage(t *testing.T, rel ironiclab.Release) {
	qemu.NeedOVMF(t)
	kernel := qemu.BzImage(t)
	w := newWorld(t, ironiclab.Options{Release: rel})
	img := qemu.NewGrubImage(t, kernel)
	url, sum := w.publish(t, "root.qcow2", img.Data)
	disks := []qemu.Disk{{Path: qemu.SparseDisk(t, 2<<30), Serial: "target"}}
	m, nvram := w.enrollUEFI(t, kernel, ironiclab.NodeSpec{RootDevice: map[string]any{"serial": "target"}}, disks)
	m.vm.Initrd = withAgentConfig(t, w.initrd, "[DEFAULT]\nenable_bios_bootloader_install = true\n")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	if err := w.lab.SetInstanceInfo(ctx, m.node.UUID, map[string]any{"image_source": url, "image_os_hash_algo": "sha256",
		"image_os_hash_value": sum, "image_disk_format": "qcow2", "image_type": "partition", "root_gb": 1}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := m.provision(ctx, map[string]any{"target": "active"}, "active"); err != nil {
		t.Fatalf("partition image deploy: %v", err)
	}
	t.Logf("partition image deploy: provision request → active %v", time.Since(start).Round(time.Millisecond))

	vm := qemu.Start(t, qemu.Options{UEFI: true, UEFIVars: nvram, Disks: disks, MemMB: 1024})
	defer vm.Kill()
	line, err := vm.WaitLine(ctx, "Command line: BOOT_IMAGE=")
	if err != nil {
		t.Fatalf("the deployed disk did not boot the image's kernel through its grub: %v", err)
	}
	if !strings.Contains(line, img.BootLine) {
		t.Errorf("the deployed kernel started with %q, want %q", line, img.BootLine)
	}
}

// withAgentConfig returns initrd with an agent config file appended as a
// second cpio archive, as operators add CA files to IPA's ramdisk.
func withAgentConfig(t *testing.T, initrd, conf string) string {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	if err := os.MkdirAll(filepath.Join(root, "etc/ironic-python-agent.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/ironic-python-agent.d/goipa-test.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cpio := exec.Command("cpio", "-o", "-H", "newc", "--quiet")
	cpio.Dir = root
	cpio.Stdin = strings.NewReader("etc\netc/ironic-python-agent.d\netc/ironic-python-agent.d/goipa-test.conf\n")
	extra, err := cpio.Output()
	if err != nil {
		t.Fatalf("cpio: %v", err)
	}
	base, err := os.ReadFile(initrd)
	if err != nil {
		t.Fatal(err)
	}
	// The kernel finds the next archive only on a 4-byte boundary; zeros
	// in between are skipped.
	base = append(base, make([]byte, (512-len(base)%512)%512)...)
	p := filepath.Join(dir, "initrd")
	if err := os.WriteFile(p, append(base, extra...), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
