package image

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/goipa/goipa/image/disk"
	"github.com/goipa/goipa/image/uefi"
	"github.com/goipa/goipa/internal/runner"
)

// fakeMounts mounts directories instead of devices: mounting copies the
// device's directory onto the mount point, unmounting copies it back and
// empties the mount point, so what the image's tools changed lands on the
// "device" as it would on a disk.
type fakeMounts struct {
	t       *testing.T
	devices map[string]string // device → its files
	fstype  map[string]string // device → the only type it mounts as
	active  map[string]string // mount point → device ("" for binds, sysfs)
	log     []string
}

func (f *fakeMounts) Mount(src, target, fstype string, flags uintptr) error {
	if _, busy := f.active[target]; busy {
		return unix.EBUSY
	}
	if flags&unix.MS_BIND != 0 || fstype == "sysfs" {
		f.log = append(f.log, fmt.Sprintf("mount %s %s", filepath.Base(src), filepath.Base(target)))
		f.active[target] = ""
		return nil
	}
	dir, ok := f.devices[src]
	if !ok {
		return unix.ENOENT
	}
	if f.fstype[src] != fstype {
		return unix.EINVAL
	}
	f.log = append(f.log, fmt.Sprintf("mount %s as %s", filepath.Base(src), fstype))
	if err := os.CopyFS(target, os.DirFS(dir)); err != nil {
		f.t.Fatal(err)
	}
	f.active[target] = src
	return nil
}

func (f *fakeMounts) Unmount(target string) error {
	src, ok := f.active[target]
	if !ok {
		return unix.EINVAL
	}
	delete(f.active, target)
	f.log = append(f.log, "unmount "+filepath.Base(target))
	if src == "" {
		return nil
	}
	dir := f.devices[src]
	if err := os.RemoveAll(dir); err != nil {
		f.t.Fatal(err)
	}
	if err := os.CopyFS(dir, os.DirFS(target)); err != nil {
		f.t.Fatal(err)
	}
	ents, _ := os.ReadDir(target)
	for _, e := range ents {
		os.RemoveAll(filepath.Join(target, e.Name()))
	}
	return nil
}

// fakeGrub plays the image's GRUB programs: grub-install puts loaders on
// the ESP mounted at /boot/efi, grub-mkconfig writes grub.cfg.
type fakeGrub struct {
	mu    sync.Mutex
	calls []runner.Cmd
	fail  map[string]error // by argv (without the chroot)
}

func (g *fakeGrub) Run(_ context.Context, c runner.Cmd) ([]byte, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls = append(g.calls, c)
	argv := strings.Join(append([]string{c.Name}, c.Args...), " ")
	if err := g.fail[argv]; err != nil {
		return []byte("grub said no"), err
	}
	if c.Root == "" {
		return nil, fmt.Errorf("%s run outside the image", argv)
	}
	write := func(p, data string) {
		os.MkdirAll(filepath.Dir(filepath.Join(c.Root, p)), 0o755)
		os.WriteFile(filepath.Join(c.Root, p), []byte(data), 0o644)
	}
	switch {
	case strings.HasSuffix(c.Name, "-install") && slices.Contains(c.Args, "--removable"):
		write("boot/efi/EFI/BOOT/BOOTX64.EFI", "grub")
	case strings.HasSuffix(c.Name, "-install") && slices.Contains(c.Args, "--no-nvram"):
		write("boot/efi/EFI/debian/grubx64.efi", "grub")
	case strings.HasSuffix(c.Name, "-mkconfig"):
		write(c.Args[1], "# env: "+strings.Join(c.Env, " "))
	}
	return nil, nil
}

func (g *fakeGrub) argvs() []string {
	var out []string
	for _, c := range g.calls {
		out = append(out, strings.Join(append([]string{c.Name}, c.Args...), " "))
	}
	return out
}

const (
	rootFSUUID = "0f3c5a8e-2b1d-4c6e-9a7f-1e2d3c4b5a69"
	espPartID  = "6a1e2b3c-4d5e-4f60-8172-8394a5b6c7d8"
)

// grubDisk is a GPT disk file: an ESP holding a FAT32 boot sector with
// volume ID ABCD-1234, and a root partition holding an ext4 superblock with
// rootFSUUID. It returns the disk and the image's root file system.
func grubDisk(t *testing.T) (string, string) {
	t.Helper()
	if _, err := exec.LookPath("sgdisk"); err != nil {
		t.Skip("sgdisk not installed")
	}
	dev := target(t, 64<<20)
	if out, err := exec.Command("sgdisk", "-n", "1:2048:+16M", "-t", "1:EF00", "-u", "1:"+espPartID,
		"-n", "2:0:0", "-t", "2:8300", dev).CombinedOutput(); err != nil {
		t.Fatalf("sgdisk: %v %s", err, out)
	}
	f, err := os.OpenFile(dev, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fat := make([]byte, 512)
	fat[66] = 0x29
	binary.LittleEndian.PutUint32(fat[67:], 0xABCD1234)
	copy(fat[82:], "FAT32   ")
	fat[510], fat[511] = 0x55, 0xaa
	f.WriteAt(fat, 2048*512)
	sb := make([]byte, 1024)
	binary.LittleEndian.PutUint16(sb[56:], 0xef53)
	u, _ := hex.DecodeString(strings.ReplaceAll(rootFSUUID, "-", ""))
	copy(sb[104:], u)
	f.WriteAt(sb, (2048+16<<11)*512+1024)
	f.Close()

	root := t.TempDir()
	for p, data := range map[string]string{
		"usr/sbin/grub-install":  "#!",
		"usr/sbin/grub-mkconfig": "#!",
		"etc/fstab":              "UUID=" + rootFSUUID + " / ext4 errors=remount-ro 0 1\n",
	} {
		os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(root, p), []byte(data), 0o755)
	}
	for _, d := range []string{"boot/efi", "dev", "proc", "run", "sys"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	return dev, root
}

// grubBootloader is a Bootloader with enable_bios_bootloader_install set,
// fake mounts for the disk's two partitions, the fake grub, and (efi) a
// fake NVRAM; the ESP is read back from the fake's directory.
func grubBootloader(t *testing.T, dev, root string, efi bool) (*Bootloader, *fakeMounts, *fakeGrub, string) {
	esp := t.TempDir()
	m := &fakeMounts{t: t, devices: map[string]string{dev + "1": esp, dev + "2": root},
		fstype: map[string]string{dev + "1": "vfat", dev + "2": "ext4"}, active: map[string]string{}}
	g := &fakeGrub{}
	b := &Bootloader{EFIRoot: filepath.Join(t.TempDir(), "absent"), Disk: disk.Options{AllowFile: true}, Runner: g,
		mounts: m, devDir: t.TempDir(),
		Mount: func(d string) (fs.FS, func(), error) {
			if d != dev+"1" {
				return nil, nil, fmt.Errorf("mounted %s, not the ESP", d)
			}
			return os.DirFS(esp), func() {}, nil
		}}
	if efi {
		b.EFIRoot, _ = efiRoot(t, nil)
	}
	b.GrubInstall.Store(true)
	return b, m, g, esp
}

func fileText(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestInstallGrubUEFI: a UEFI partition image whose ESP is empty gets the
// image's grub-install (onto the ESP, and as the removable-media loader),
// a grub.cfg from its grub-mkconfig, the ESP in its fstab and an NVRAM
// entry for the loader grub-install placed; every mount is undone.
func TestInstallGrubUEFI(t *testing.T) {
	dev, root := grubDisk(t)
	b, m, g, esp := grubBootloader(t, dev, root, true)
	espUUID := "ABCD-1234"
	msg, err := b.Install(context.Background(), dev, BootloaderParams{RootUUID: rootFSUUID, EFISystemPartUUID: &espUUID})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/usr/sbin/grub-install --no-nvram", "/usr/sbin/grub-install --removable",
		"/usr/sbin/grub-mkconfig -o /boot/grub/grub.cfg"}
	if got := g.argvs(); !slices.Equal(got, want) {
		t.Errorf("ran %q, want %q", got, want)
	}
	for _, c := range g.calls {
		if !slices.Contains(c.Env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin") {
			t.Errorf("%s ran with env %q, without the image's PATH", c.Name, c.Env)
		}
	}
	if cfg := fileText(t, filepath.Join(root, "boot/grub/grub.cfg")); !strings.Contains(cfg, "GRUB_DISABLE_OS_PROBER=true") {
		t.Errorf("grub.cfg %q: grub-mkconfig ran without IPA's settings", cfg)
	}
	for _, p := range []string{"EFI/debian/grubx64.efi", "EFI/BOOT/BOOTX64.EFI"} {
		if _, err := os.Stat(filepath.Join(esp, p)); err != nil {
			t.Errorf("the ESP lacks %s: %v", p, err)
		}
	}
	if fstab := fileText(t, filepath.Join(root, "etc/fstab")); !strings.HasSuffix(fstab, "\nUUID=ABCD-1234\t/boot/efi\tvfat\tumask=0077\t0\t1\n") {
		t.Errorf("fstab:\n%s", fstab)
	}
	if l, err := os.Readlink(filepath.Join(b.devDir, "disk/by-uuid", rootFSUUID)); err != nil || l != "../../"+filepath.Base(dev)+"2" {
		t.Errorf("by-uuid link for the root: %q, %v", l, err)
	}
	vars := &uefi.Vars{Dir: filepath.Join(b.EFIRoot, "efivars")}
	wantNVRAM := "BootOrder: Boot0000\nBoot0000 ironic1\tHD(1,GPT," + espPartID + ",0x800,0x8000)/File(\\EFI\\debian\\grubx64.efi)"
	if got := entries(t, vars); got != wantNVRAM {
		t.Errorf("NVRAM:\n%s\nwant:\n%s", got, wantNVRAM)
	}
	if !strings.Contains(msg, "grub-install") || !strings.Contains(msg, "ironic1") {
		t.Errorf("result %q", msg)
	}
	if len(m.active) != 0 {
		t.Errorf("left mounted: %v", m.active)
	}
	// A redeploy: the fstab keeps one line for the ESP, the NVRAM one entry.
	if _, err := b.Install(context.Background(), dev, BootloaderParams{RootUUID: rootFSUUID, EFISystemPartUUID: &espUUID}); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(fileText(t, filepath.Join(root, "etc/fstab")), "/boot/efi"); n != 1 {
		t.Errorf("%d /boot/efi lines in fstab after a second install", n)
	}
	if got := entries(t, vars); got != wantNVRAM {
		t.Errorf("NVRAM after a second install:\n%s", got)
	}
}

// TestInstallGrubUEFIInstallFails: grub-install failing on the ESP is only
// logged, as in IPA; the removable-media loader it still placed is booted.
// Failing both leaves no loader: an error, not a silent success.
func TestInstallGrubUEFIInstallFails(t *testing.T) {
	dev, root := grubDisk(t)
	b, m, g, _ := grubBootloader(t, dev, root, true)
	g.fail = map[string]error{"/usr/sbin/grub-install --no-nvram": errors.New("exit status 1")}
	if _, err := b.Install(context.Background(), dev, BootloaderParams{RootUUID: rootFSUUID}); err != nil {
		t.Fatal(err)
	}
	vars := &uefi.Vars{Dir: filepath.Join(b.EFIRoot, "efivars")}
	if got := entries(t, vars); !strings.Contains(got, `File(\EFI\BOOT\BOOTX64.EFI)`) {
		t.Errorf("NVRAM:\n%s\nwant the removable-media loader", got)
	}
	if len(m.active) != 0 {
		t.Errorf("left mounted after a logged grub-install failure: %v", m.active)
	}

	dev, root = grubDisk(t)
	b, m, g, _ = grubBootloader(t, dev, root, true)
	g.fail = map[string]error{"/usr/sbin/grub-install --no-nvram": errors.New("exit status 1"),
		"/usr/sbin/grub-install --removable": errors.New("exit status 1")}
	_, err := b.Install(context.Background(), dev, BootloaderParams{RootUUID: rootFSUUID})
	if errType(err) != "CommandExecutionError" || !strings.Contains(err.Error(), "no UEFI boot loader") {
		t.Errorf("install with every grub-install failing: %v (%s)", err, errType(err))
	}
	if len(m.active) != 0 {
		t.Errorf("left mounted: %v", m.active)
	}
}

// TestInstallGrubPreservedEFI: an image that keeps its EFI files (shim and
// grub of the Red Hat family) in /boot/efi of its root gets them copied
// onto the new ESP with its grub.cfg and grubenv, and no grub2-install run.
func TestInstallGrubPreservedEFI(t *testing.T) {
	dev, root := grubDisk(t)
	os.Remove(filepath.Join(root, "usr/sbin/grub-install"))
	os.Remove(filepath.Join(root, "usr/sbin/grub-mkconfig"))
	for p, data := range map[string]string{
		"usr/sbin/grub2-install":           "#!",
		"usr/sbin/grub2-mkconfig":          "#!",
		"boot/efi/EFI/centos/shimx64.efi":  "shim",
		"boot/efi/EFI/centos/grubx64.efi":  "grub",
		"boot/efi/EFI/centos/BOOTX64.CSV":  string(bootCSV("shimx64.efi,CentOS Stream,,This is the boot entry for CentOS\n")),
		"boot/efi/EFI/BOOT/BOOTX64.EFI":    "shim",
		"boot/grub2/grubenv":               "# GRUB Environment Block",
		"boot/efi/EFI/centos/grub.cfg.old": "old",
	} {
		os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(root, p), []byte(data), 0o755)
	}
	b, m, g, esp := grubBootloader(t, dev, root, true)
	if _, err := b.Install(context.Background(), dev, BootloaderParams{RootUUID: rootFSUUID}); err != nil {
		t.Fatal(err)
	}
	if got, want := g.argvs(), []string{"/usr/sbin/grub2-mkconfig -o /boot/grub2/grub.cfg"}; !slices.Equal(got, want) {
		t.Errorf("ran %q, want %q", got, want)
	}
	for p, want := range map[string]string{
		"EFI/centos/shimx64.efi": "shim",
		"EFI/BOOT/BOOTX64.EFI":   "shim",
		"EFI/centos/grubenv":     "# GRUB Environment Block",
	} {
		if got := fileText(t, filepath.Join(esp, p)); got != want {
			t.Errorf("ESP %s = %q, want %q", p, got, want)
		}
	}
	if cfg := fileText(t, filepath.Join(esp, "EFI/centos/grub.cfg")); !strings.Contains(cfg, "GRUB_SAVEDEFAULT=true") {
		t.Errorf("EFI/centos/grub.cfg = %q, want the freshly made config", cfg)
	}
	vars := &uefi.Vars{Dir: filepath.Join(b.EFIRoot, "efivars")}
	if got := entries(t, vars); !strings.Contains(got, "Boot0000 CentOS Stream\t") || !strings.Contains(got, `File(\EFI\centos\shimx64.efi)`) {
		t.Errorf("NVRAM:\n%s\nwant the CSV's shim entry", got)
	}
	if fstab := fileText(t, filepath.Join(root, "etc/fstab")); !strings.Contains(fstab, "UUID=ABCD-1234\t/boot/efi") {
		t.Errorf("fstab:\n%s", fstab)
	}
	if len(m.active) != 0 {
		t.Errorf("left mounted: %v", m.active)
	}
}

// TestInstallGrubBIOS: in BIOS mode grub-install writes the disk's boot
// code; its failure fails the command and still undoes every mount.
func TestInstallGrubBIOS(t *testing.T) {
	dev, root := grubDisk(t)
	b, m, g, _ := grubBootloader(t, dev, root, false)
	if _, err := b.Install(context.Background(), dev, BootloaderParams{RootUUID: rootFSUUID}); err != nil {
		t.Fatal(err)
	}
	if got, want := g.argvs(), []string{"/usr/sbin/grub-install " + dev, "/usr/sbin/grub-mkconfig -o /boot/grub/grub.cfg"}; !slices.Equal(got, want) {
		t.Errorf("ran %q, want %q", got, want)
	}
	if fstab := fileText(t, filepath.Join(root, "etc/fstab")); strings.Contains(fstab, "/boot/efi") {
		t.Errorf("BIOS install added the ESP to fstab:\n%s", fstab)
	}
	wantMounts := []string{"mount " + filepath.Base(dev) + "2 as ext4", "mount " + filepath.Base(b.devDir) + " dev",
		"mount proc proc", "mount run run", "mount sysfs sys",
		"unmount sys", "unmount run", "unmount proc", "unmount dev"}
	if got := m.log[:len(wantMounts)]; !slices.Equal(got, wantMounts) {
		t.Errorf("mounts %q, want %q", got, wantMounts)
	}

	g.fail = map[string]error{"/usr/sbin/grub-install " + dev: errors.New("exit status 1")}
	_, err := b.Install(context.Background(), dev, BootloaderParams{RootUUID: rootFSUUID})
	if errType(err) != "CommandExecutionError" || !strings.Contains(err.Error(), "grub said no") {
		t.Errorf("failing grub-install: %v (%s)", err, errType(err))
	}
	if len(m.active) != 0 {
		t.Errorf("left mounted after a failure: %v", m.active)
	}
}

func TestInstallGrubRefused(t *testing.T) {
	dev, root := grubDisk(t)
	for _, tc := range []struct {
		name    string
		prep    func(b *Bootloader, m *fakeMounts)
		uuid    string
		errType string
		errText string
	}{
		{"disabled", func(b *Bootloader, _ *fakeMounts) { b.GrubInstall.Store(false) }, rootFSUUID,
			"InvalidImage", "enable_bios_bootloader_install"},
		{"unknown root uuid", nil, "11111111-2222-4333-8444-555555555555", "DeviceNotFound", "no partition with UUID"},
		{"root not mountable", func(_ *Bootloader, m *fakeMounts) { m.fstype[dev+"2"] = "ntfs" }, rootFSUUID,
			"CommandExecutionError", "as btrfs"},
		{"no grub-mkconfig", func(*Bootloader, *fakeMounts) { os.Remove(filepath.Join(root, "usr/sbin/grub-mkconfig")) }, rootFSUUID,
			"CommandExecutionError", "no grub-mkconfig"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, m, g, _ := grubBootloader(t, dev, root, false)
			if tc.prep != nil {
				tc.prep(b, m)
			}
			_, err := b.Install(context.Background(), dev, BootloaderParams{RootUUID: tc.uuid})
			if errType(err) != tc.errType || err == nil || !strings.Contains(err.Error(), tc.errText) {
				t.Errorf("got %v (%s), want %s mentioning %q", err, errType(err), tc.errType, tc.errText)
			}
			if len(g.calls) != 0 {
				t.Errorf("ran %q", g.argvs())
			}
			if len(m.active) != 0 {
				t.Errorf("left mounted: %v", m.active)
			}
		})
	}
}
