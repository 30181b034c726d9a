package qemu

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// GrubRootEnv names the tar of a Debian root file system with GRUB that
// make grub-root builds (qemu/grubroot.sh).
const GrubRootEnv = "GOIPA_GRUB_ROOT"

// GrubImage is a Debian partition image: an ext4 root file system, as
// qcow2, holding GRUB (EFI and BIOS) but no boot loader installed.
type GrubImage struct {
	Data     []byte
	RootUUID string // the file system's UUID
	// BootLine is what the image's kernel prints once the image's GRUB
	// started it: "Command line: BOOT_IMAGE=/boot/vmlinuz-… root=UUID=…".
	BootLine string
}

// NewGrubImage builds a GrubImage from the tar GrubRootEnv names (the test
// skips without it) with kernel as its /boot/vmlinuz and a GRUB
// configuration that boots at once on the serial console.
func NewGrubImage(t testing.TB, kernel string) GrubImage {
	t.Helper()
	tarball := os.Getenv(GrubRootEnv)
	if tarball == "" {
		t.Skipf("%s unset (make grub-root, or run make test)", GrubRootEnv)
	}
	if _, err := os.Stat(tarball); err != nil {
		t.Skipf("%v (make grub-root)", err)
	}
	const uuid = "5e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b"
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	hostRun(t, nil, "tar", "-xf", tarball, "-C", root)
	k, err := os.ReadFile(kernel)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"boot/vmlinuz-6.1.0-goipa": k,
		"etc/default/grub": []byte("GRUB_DEFAULT=0\nGRUB_TIMEOUT=0\nGRUB_DISTRIBUTOR=Debian\n" +
			"GRUB_CMDLINE_LINUX_DEFAULT=\"\"\nGRUB_CMDLINE_LINUX=\"console=ttyS0\"\nGRUB_TERMINAL=console\n"),
		"etc/fstab": []byte("UUID=" + uuid + " / ext4 errors=remount-ro 0 1\n"),
	}
	// With an initrd, grub-mkconfig names the root by UUID (a kernel alone
	// could not resolve UUID=); what the initrd holds does not matter here.
	cpio := exec.Command("cpio", "-o", "-H", "newc", "--quiet")
	cpio.Dir, cpio.Stdin = root, strings.NewReader("etc/hostname\n")
	initrd, err := cpio.Output()
	if err != nil {
		t.Fatalf("cpio: %v", err)
	}
	files["boot/initrd.img-6.1.0-goipa"] = initrd
	for p, data := range files {
		if err := os.WriteFile(filepath.Join(root, p), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, img := filepath.Join(dir, "root.ext4"), filepath.Join(dir, "root.qcow2")
	hostRun(t, nil, "mke2fs", "-q", "-t", "ext4", "-U", uuid, "-d", root, "-F", raw, "400M")
	hostRun(t, nil, "qemu-img", "convert", "-f", "raw", "-O", "qcow2", "-c", "-o", "compression_type=zstd", raw, img)
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	return GrubImage{Data: b, RootUUID: uuid,
		BootLine: "Command line: BOOT_IMAGE=/boot/vmlinuz-6.1.0-goipa root=UUID=" + uuid}
}
