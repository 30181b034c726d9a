package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/goipa/goipa/image/disk"
	"github.com/goipa/goipa/internal/runner"
)

// A partition image carries no boot loader of its own on disk: when
// enable_bios_bootloader_install allows it, goipa runs the image's own GRUB
// (grub-install, grub-mkconfig) chrooted into its root file system, as
// IPA's _install_grub2 does. goipa ships no GRUB: the image's matches its
// kernel and distribution.

// mounter mounts file systems; tests stand in directories for devices.
type mounter interface {
	Mount(source, target, fstype string, flags uintptr) error
	Unmount(target string) error
}

type kernelMounter struct{}

func (kernelMounter) Mount(source, target, fstype string, flags uintptr) error {
	return unix.Mount(source, target, fstype, flags, "")
}

// Unmount retries a busy mount a moment, then detaches it: a daemon the
// image's tools left running must not keep the deployed disk mounted.
func (kernelMounter) Unmount(target string) error {
	for attempt := range 5 {
		err := unix.Unmount(target, 0)
		if !errors.Is(err, unix.EBUSY) {
			return err
		}
		time.Sleep(time.Duration(attempt+1) * 100 * time.Millisecond)
	}
	return unix.Unmount(target, unix.MNT_DETACH)
}

// rootTypes are the file systems a partition image's root is mounted as,
// tried in order.
var rootTypes = []string{"ext4", "xfs", "btrfs"}

// chrootEnv is the environment the image's tools run with, whatever the
// ramdisk's PATH and locale.
var chrootEnv = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}

// grubTarget is what install_bootloader found on the deployed disk.
type grubTarget struct {
	disk string // BIOS: where grub-install puts the boot code
	root disk.Partition
	esp  *disk.Partition // UEFI only
	// Ironic's efi_system_part_uuid as the fstab names it: "UUID=…" or
	// "PARTUUID=…".
	espFstab string
	// by-uuid and by-partuuid links to create for the deployed partitions
	// (name → kernel device name), as udev would.
	links map[string]string
}

// grub runs a deployed image's GRUB.
type grub struct {
	run    runner.Runner
	mnt    mounter
	devDir string // the ramdisk's /dev, bound into the image
	log    *slog.Logger
}

// grubTools are the image's GRUB programs, as paths inside its root.
type grubTools struct {
	install, mkconfig string
	dir               string // "grub" or "grub2", under /boot
}

// findGrub finds the image's GRUB: grub2-* (Red Hat family) or grub-*.
func findGrub(root string) grubTools {
	t := grubTools{dir: "grub"}
	if _, err := os.Stat(filepath.Join(root, "usr/sbin/grub2-install")); err == nil {
		t.dir = "grub2"
	}
	find := func(prog string) string {
		for _, bin := range []string{"usr/sbin", "usr/bin", "sbin", "bin"} {
			if fi, err := os.Stat(filepath.Join(root, bin, prog)); err == nil && fi.Mode().IsRegular() {
				return "/" + bin + "/" + prog
			}
		}
		return ""
	}
	t.install, t.mkconfig = find(t.dir+"-install"), find(t.dir+"-mkconfig")
	return t
}

// install mounts the image's root with /dev, /proc, /run and /sys inside,
// installs GRUB (UEFI: onto the ESP, or the image's own EFI files copied
// there; BIOS: into the disk's boot code), writes its grub.cfg, and
// unmounts everything, also on failure.
func (g *grub) install(ctx context.Context, t grubTarget) (msg string, err error) {
	dir, err := os.MkdirTemp("", "goipa-root-")
	if err != nil {
		return "", err
	}
	var mounted, temps []string
	defer func() {
		clean := true
		for i := len(mounted) - 1; i >= 0; i-- {
			if uerr := g.mnt.Unmount(mounted[i]); uerr != nil {
				clean = false
				err = errors.Join(err, fmt.Errorf("unmounting %s: %w", mounted[i], uerr))
			}
		}
		if clean {
			for _, d := range append(temps, dir) {
				os.Remove(d)
			}
		}
	}()
	mount := func(src, target, fstype string, flags uintptr) error {
		if err := os.MkdirAll(target, 0o755); err != nil {
			return err
		}
		if err := g.mnt.Mount(src, target, fstype, flags); err != nil {
			return fmt.Errorf("mounting %s on %s: %w", src, target, err)
		}
		mounted = append(mounted, target)
		return nil
	}

	var errs []error
	for _, typ := range rootTypes {
		err := g.mnt.Mount(t.root.Device, dir, typ, 0)
		if err == nil {
			mounted = append(mounted, dir)
			break
		}
		errs = append(errs, fmt.Errorf("as %s: %w", typ, err))
	}
	if len(mounted) == 0 {
		return "", fmt.Errorf("mounting the root file system %s: %w", t.root.Device, errors.Join(errs...))
	}
	tools := findGrub(dir)
	if tools.mkconfig == "" {
		return "", fmt.Errorf("the image's root file system on %s has no %s-mkconfig", t.root.Device, tools.dir)
	}
	for _, b := range []struct{ src, dst string }{{g.devDir, "dev"}, {"/proc", "proc"}, {"/run", "run"}} {
		if err := mount(b.src, filepath.Join(dir, b.dst), "", unix.MS_BIND); err != nil {
			return "", err
		}
	}
	if err := mount("sysfs", filepath.Join(dir, "sys"), "sysfs", 0); err != nil {
		return "", err
	}
	// grub-mkconfig writes root=UUID=… only when udev's link exists.
	if err := g.link(t.links); err != nil {
		return "", err
	}

	switch {
	case t.esp != nil && hasFiles(filepath.Join(dir, "boot/efi/EFI")):
		// The image keeps its EFI files (shim, grub) in the root file
		// system: they go onto the new ESP, with a fresh grub.cfg.
		if err := g.mkconfig(ctx, dir, tools); err != nil {
			return "", err
		}
		esp, err := os.MkdirTemp("", "goipa-esp-")
		if err != nil {
			return "", err
		}
		temps = append(temps, esp)
		if err := mount(t.esp.Device, esp, "vfat", 0); err != nil {
			return "", err
		}
		if err := preserveEFI(dir, esp, tools.dir); err != nil {
			return "", err
		}
		msg = fmt.Sprintf("the image's EFI files copied to %s", t.esp.Device)
	case t.esp != nil:
		if tools.install == "" {
			return "", fmt.Errorf("the image has neither EFI files in /boot/efi nor %s-install", tools.dir)
		}
		if err := mount(t.esp.Device, filepath.Join(dir, "boot/efi"), "vfat", 0); err != nil {
			return "", err
		}
		// goipa writes the NVRAM entry itself, so grub-install is told not
		// to (the ramdisk's efivarfs is not inside the chroot); the
		// removable-media copy boots a machine whose NVRAM gets reset. A
		// failure of either is only logged, as in IPA: some distributions
		// refuse grub-install on UEFI, and what landed on the ESP decides.
		for _, args := range [][]string{{"--no-nvram"}, {"--removable"}} {
			if out, err := g.chroot(ctx, dir, nil, tools.install, args...); err != nil {
				g.log.Warn("grub-install failed; going on, as IPA does", "args", args, "error", err, "output", string(out))
			}
		}
		if err := g.mkconfig(ctx, dir, tools); err != nil {
			return "", err
		}
		msg = fmt.Sprintf("the image's %s installed on %s", tools.install, t.esp.Device)
	default:
		if tools.install == "" {
			return "", fmt.Errorf("the image's root file system on %s has no %s-install", t.root.Device, tools.dir)
		}
		if out, err := g.chroot(ctx, dir, nil, tools.install, t.disk); err != nil {
			return "", fmt.Errorf("%w\n%s", err, out)
		}
		if err := g.mkconfig(ctx, dir, tools); err != nil {
			return "", err
		}
		msg = fmt.Sprintf("the image's %s installed on %s", tools.install, t.disk)
	}
	if t.esp != nil {
		if err := appendFstab(filepath.Join(dir, "etc/fstab"), t.espFstab); err != nil {
			return "", err
		}
	}
	g.log.Info("grub installed from the image", "device", t.disk, "root", t.root.Device, "how", msg)
	return msg, nil
}

// mkconfig writes /boot/grub*/grub.cfg with the image's grub-mkconfig, with
// IPA's settings: no os-prober, the last choice saved.
func (g *grub) mkconfig(ctx context.Context, root string, t grubTools) error {
	out, err := g.chroot(ctx, root, []string{"GRUB_DISABLE_OS_PROBER=true", "GRUB_SAVEDEFAULT=true"},
		t.mkconfig, "-o", "/boot/"+t.dir+"/grub.cfg")
	if err != nil {
		return fmt.Errorf("%w\n%s", err, out)
	}
	return nil
}

func (g *grub) chroot(ctx context.Context, root string, env []string, name string, args ...string) ([]byte, error) {
	return g.run.Run(ctx, runner.Cmd{Name: name, Args: args, Env: append(append([]string{}, chrootEnv...), env...), Root: root})
}

// link creates /dev/disk/by-*/… links that do not exist yet.
func (g *grub) link(links map[string]string) error {
	for name, kname := range links {
		p := filepath.Join(g.devDir, "disk", name)
		if _, err := os.Lstat(p); err == nil {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.Symlink("../../"+kname, p); err != nil {
			return err
		}
	}
	return nil
}

// hasFiles reports whether dir holds a regular file somewhere below.
func hasFiles(dir string) bool {
	found := false
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			found = true
			return fs.SkipAll
		}
		return nil
	})
	return found
}

// preserveEFI copies the image's /boot/efi/EFI tree onto the ESP mounted at
// esp, and the image's grub.cfg and grubenv into each vendor directory that
// lacks them (grub on the ESP reads its configuration there).
func preserveEFI(root, esp, grubDir string) error {
	src := filepath.Join(root, "boot/efi/EFI")
	dst := filepath.Join(esp, "EFI")
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(out, 0o755)
		case d.Type().IsRegular():
			return copyFile(p, out)
		}
		return nil // FAT holds neither links nor devices
	})
	if err != nil {
		return fmt.Errorf("copying the image's EFI files to the ESP: %w", err)
	}
	vendors, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, v := range vendors {
		if !v.IsDir() {
			continue
		}
		for _, f := range []string{"grub.cfg", "grubenv"} {
			from, to := filepath.Join(root, "boot", grubDir, f), filepath.Join(dst, v.Name(), f)
			if _, err := os.Stat(to); err == nil {
				continue
			}
			if fi, err := os.Stat(from); err != nil || !fi.Mode().IsRegular() {
				continue
			}
			if err := copyFile(from, to); err != nil {
				return err
			}
		}
	}
	return nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// appendFstab adds the ESP's /boot/efi line to the image's fstab, as IPA
// does, unless the image has none or already names that partition.
func appendFstab(fstab, spec string) error {
	b, err := os.ReadFile(fstab)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if strings.Contains(string(b), spec) {
		return nil
	}
	line := spec + "\t/boot/efi\tvfat\tumask=0077\t0\t1\n"
	if len(b) > 0 && b[len(b)-1] != '\n' {
		line = "\n" + line
	}
	f, err := os.OpenFile(fstab, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(line); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
