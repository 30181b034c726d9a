package image

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/goipa/goipa/image/disk"
	"github.com/goipa/goipa/image/uefi"
	"github.com/goipa/goipa/internal/errclass"
	"github.com/goipa/goipa/internal/runner"
	"github.com/goipa/goipa/internal/utf16le"
)

// Bootloader is IPA's image.install_bootloader: UEFI boot entries for what
// the deployed disk's ESP holds, written through efivarfs under EFIRoot
// (IPA runs efibootmgr), and for a partition image its own GRUB (grub.go).
type Bootloader struct {
	// EFIRoot is /sys/firmware/efi: the node booted UEFI when it exists.
	// Its efivars directory holds the boot entries.
	EFIRoot string
	Disk    disk.Options
	// Mount makes the ESP's files readable; nil mounts it read-only (vfat).
	Mount func(dev string) (fsys fs.FS, unmount func(), err error)
	// RAIDESP, for a software RAID root, returns the md device mirroring
	// the ESP and its member partitions.
	RAIDESP func(ctx context.Context) (dev string, members []ESPMember, err error)
	// IgnoreFailure is ipa-ignore-bootloader-failure, the default of the
	// command's ignore_bootloader_failure.
	IgnoreFailure bool
	// Log hears the boot entries made and removed; nil discards it.
	Log *slog.Logger
	// GrubInstall is enable_bios_bootloader_install (the agent's
	// configuration, then Ironic's lookup): a partition image's boot loader
	// is installed by the image's own GRUB, run chrooted in its root.
	GrubInstall atomic.Bool
	// Runner runs the image's GRUB; nil is runner.Exec{}.
	Runner runner.Runner

	mounts mounter // nil: the kernel's
	devDir string  // "": /dev
}

// ESPMember is one partition of the mirrored ESP, which the firmware sees as
// a plain FAT partition (md metadata 1.0 lives at its end).
type ESPMember struct {
	Disk   string
	Number int
}

// BootloaderParams are install_bootloader's parameters.
type BootloaderParams struct {
	RootUUID                string  `json:"root_uuid"`
	EFISystemPartUUID       *string `json:"efi_system_part_uuid"`
	PrepBootPartUUID        *string `json:"prep_boot_part_uuid"`
	TargetBootMode          string  `json:"target_boot_mode"`
	IgnoreBootloaderFailure *bool   `json:"ignore_bootloader_failure"`
}

// loader is one boot entry to create: a path on the ESP and its label.
type loader struct {
	Path  string // \EFI\debian\shimx64.efi
	Label string
}

// Install installs the boot entries on device. In BIOS mode a whole-disk
// image carries its own boot code, so there is nothing to do, as in IPA; a
// partition image gets its own GRUB installed when that is allowed.
func (b *Bootloader) Install(ctx context.Context, device string, p BootloaderParams) (string, error) {
	softRAID := strings.HasPrefix(filepath.Base(device), "md")
	if _, err := os.Stat(b.EFIRoot); err != nil {
		if partitionImage(p.RootUUID) {
			return b.installGrub(ctx, device, p, false)
		}
		if softRAID {
			// The image's boot code sits inside the array, where the BIOS
			// cannot see it; only grub on every holder would boot it.
			return "", noGrub("BIOS on software RAID")
		}
		return "whole-disk image in BIOS mode: nothing to install", nil
	}
	t, err := b.partitions(device)
	if err != nil {
		return "", err
	}
	var esp *disk.Partition
	for i, part := range t.Partitions {
		if part.ESP || (p.EFISystemPartUUID != nil && strings.EqualFold(part.PartUUID, *p.EFISystemPartUUID)) {
			esp = &t.Partitions[i]
			break
		}
	}
	if esp == nil {
		return "", bootloaderErr(fmt.Errorf("no EFI system partition on %s", device))
	}
	loaders, err := b.espLoaders(esp.Device)
	if errors.Is(err, errNoLoader) && partitionImage(p.RootUUID) {
		// A partition image's ESP is freshly formatted and empty.
		return b.installGrub(ctx, device, p, true)
	}
	if err != nil {
		return "", bootloaderErr(err)
	}
	return b.addEntries(ctx, device, *esp, loaders, softRAID)
}

// addEntries points the firmware at the loaders on the ESP: one boot entry
// each, first in BootOrder, replacing entries of the same label.
func (b *Bootloader) addEntries(ctx context.Context, device string, esp disk.Partition, loaders []loader, softRAID bool) (string, error) {
	targets := []ESPMember{{Disk: device, Number: esp.Number}}
	suffix := func(int) string { return "" }
	if softRAID && b.RAIDESP != nil {
		// The firmware cannot read inside the array: the image's ESP goes
		// to the mirrored ESP on the holders, one boot entry per member.
		mirror, members, err := b.RAIDESP(ctx)
		if err != nil {
			return "", bootloaderErr(fmt.Errorf("finding the mirrored ESP: %w", err))
		}
		if err := copyPartition(esp.Device, mirror, esp.Size); err != nil {
			return "", bootloaderErr(err)
		}
		targets = members
		suffix = func(i int) string { return fmt.Sprintf(" (RAID, part%d)", i) }
	}
	vars := b.vars()
	entries, err := vars.BootEntries()
	if err != nil {
		return "", bootloaderErr(fmt.Errorf("reading the UEFI boot entries: %w", err))
	}
	for _, l := range loaders {
		for i, t := range targets {
			label := l.Label + suffix(i)
			// A redeploy replaces its entries rather than adding more.
			for _, e := range entries {
				if e.Description != label {
					continue
				}
				if err := vars.DeleteBootEntry(e.Num); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return "", bootloaderErr(err)
				}
				b.log().Info("removed a UEFI boot entry", "entry", uefi.BootName(e.Num), "label", label, "path", e.PathString())
			}
			hd, err := uefi.HardDrive(t.Disk, t.Number)
			if err != nil {
				return "", bootloaderErr(err)
			}
			opt := &uefi.LoadOption{Attributes: uefi.LoadOptionActive, Description: label,
				FilePaths: []uefi.DevicePath{{hd, uefi.FilePath(l.Path)}}}
			num, err := vars.AddBootEntry(opt)
			if err != nil {
				return "", bootloaderErr(err)
			}
			b.log().Info("added a UEFI boot entry, first in BootOrder", "entry", uefi.BootName(num), "label", label,
				"path", opt.PathString())
		}
	}
	return fmt.Sprintf("UEFI boot entries %v installed for %v", loaders, targets), nil
}

// copyPartition copies the image's ESP, byte for byte, onto the mirrored
// ESP, which must be at least as large.
func copyPartition(src, dst string, size int64) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer out.Close()
	if end, err := out.Seek(0, io.SeekEnd); err != nil || end < size {
		return fmt.Errorf("the mirrored ESP %s (%d bytes) cannot hold the image's ESP (%d bytes): %v", dst, end, size, err)
	}
	if _, err := out.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if _, err := io.CopyBuffer(out, io.LimitReader(in, size), make([]byte, 4<<20)); err != nil {
		return fmt.Errorf("copying the ESP to %s: %w", dst, err)
	}
	return out.Sync()
}

// partitionImage tells a partition image's root uuid (a file system UUID or
// PARTUUID) from a whole-disk one (none, or the MBR signature 0x%08x).
func partitionImage(rootUUID string) bool {
	return rootUUID != "" && !wholeDiskRootRE.MatchString(rootUUID)
}

var wholeDiskRootRE = regexp.MustCompile(`^0x[0-9a-fA-F]{8}$`)

// noGrub is IPA's answer when enable_bios_bootloader_install is off (its
// default).
func noGrub(mode string) error {
	return errclass.New("InvalidImage", "The provided image is not valid for use", fmt.Errorf(
		"Install of legacy BIOS bootloaders disabled by CONF.enable_bios_bootloader_install as part of "+
			"CVE-2026-43003 mitigation. A partition image in %s mode needs its own grub installed: enable "+
			"enable_bios_bootloader_install, use a whole-disk image, or set ignore_bootloader_failure", mode))
}

// installGrub installs a partition image's boot loader with the image's own
// GRUB when enable_bios_bootloader_install allows it; in UEFI mode the
// firmware then gets a boot entry for what landed on the ESP.
func (b *Bootloader) installGrub(ctx context.Context, device string, p BootloaderParams, efi bool) (string, error) {
	mode := "BIOS"
	if efi {
		mode = "UEFI"
	}
	if !b.GrubInstall.Load() {
		return "", noGrub(mode)
	}
	if strings.HasPrefix(filepath.Base(device), "md") {
		return "", bootloaderErr(fmt.Errorf("a partition image on the software RAID device %s: goipa installs "+
			"a partition image's grub onto a plain disk only; use a whole-disk image", device))
	}
	t, err := b.partitions(device)
	if err != nil {
		return "", err
	}
	ids, err := partitionIDs(device, t.Partitions)
	if err != nil {
		return "", bootloaderErr(err)
	}
	target := grubTarget{disk: device, links: map[string]string{}}
	var root *disk.Partition
	for i, part := range t.Partitions {
		id := ids[i]
		if id.fsUUID != "" {
			target.links["by-uuid/"+id.fsUUID] = filepath.Base(part.Device)
		}
		if part.PartUUID != "" {
			target.links["by-partuuid/"+strings.ToLower(part.PartUUID)] = filepath.Base(part.Device)
		}
		if id.matches(p.RootUUID) {
			root = &t.Partitions[i]
		}
		if efi && target.esp == nil && (p.EFISystemPartUUID != nil && id.matches(*p.EFISystemPartUUID) ||
			p.EFISystemPartUUID == nil && part.ESP) {
			target.esp = &t.Partitions[i]
			target.espFstab = "UUID=" + id.fsUUID
			if p.EFISystemPartUUID != nil && !strings.EqualFold(id.fsUUID, *p.EFISystemPartUUID) {
				target.espFstab = "PARTUUID=" + *p.EFISystemPartUUID
			}
		}
	}
	if root == nil {
		return "", errclass.New("DeviceNotFound", "Error finding the disk or partition device to deploy the image onto",
			fmt.Errorf("no partition with UUID %s found on device %s", p.RootUUID, device))
	}
	target.root = *root
	if efi && target.esp == nil {
		return "", bootloaderErr(fmt.Errorf("no EFI system partition on %s", device))
	}
	mnt, devDir := b.mounts, b.devDir
	if mnt == nil {
		mnt, devDir = kernelMounter{}, "/dev"
	}
	run := b.Runner
	if run == nil {
		run = runner.Exec{}
	}
	g := &grub{run: run, mnt: mnt, devDir: devDir, log: b.log()}
	msg, err := g.install(ctx, target)
	if err != nil {
		return "", bootloaderErr(fmt.Errorf("installing the image's grub: %w", err))
	}
	if !efi {
		return msg, nil
	}
	loaders, err := b.espLoaders(target.esp.Device)
	if err != nil {
		return "", bootloaderErr(fmt.Errorf("after the image's grub ran: %w", err))
	}
	entries, err := b.addEntries(ctx, device, *target.esp, loaders, false)
	if err != nil {
		return "", err
	}
	return msg + "; " + entries, nil
}

// partitions reads the partition table of the disk to boot.
func (b *Bootloader) partitions(device string) (*disk.Table, error) {
	dk, err := disk.Open(device, b.Disk)
	if err != nil {
		return nil, errclass.New("DeviceNotFound", "Error finding the disk or partition device to deploy the image onto", err)
	}
	defer dk.Close()
	t, err := dk.Partitions()
	if err != nil {
		return nil, bootloaderErr(err)
	}
	return t, nil
}

// espLoaders mounts the ESP and finds the loaders on it.
func (b *Bootloader) espLoaders(dev string) ([]loader, error) {
	mount := b.Mount
	if mount == nil {
		mount = mountVFAT
	}
	fsys, unmount, err := mount(dev)
	if err != nil {
		return nil, fmt.Errorf("mounting the ESP %s: %w", dev, err)
	}
	defer unmount()
	return findLoaders(fsys)
}

// partitionID is how Ironic may name a partition: its file system's UUID
// (as blkid prints it) or its PARTUUID.
type partitionID struct{ fsUUID, partUUID string }

func (id partitionID) matches(uuid string) bool {
	return uuid != "" && (strings.EqualFold(uuid, id.fsUUID) || strings.EqualFold(uuid, id.partUUID))
}

func partitionIDs(device string, parts []disk.Partition) ([]partitionID, error) {
	f, err := os.Open(device)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ids := make([]partitionID, len(parts))
	for i, p := range parts {
		u, err := probeUUID(f, p.Start, p.Size)
		if err != nil {
			return nil, fmt.Errorf("reading partition %d of %s: %w", p.Number, device, err)
		}
		ids[i] = partitionID{fsUUID: u, partUUID: p.PartUUID}
	}
	return ids, nil
}

func bootloaderErr(err error) error {
	return errclass.New("CommandExecutionError", "Installing the bootloader failed", err)
}

var errNoLoader = errors.New("no UEFI boot loader found on the EFI system partition")

// Fallback loaders, in IPA's order of preference.
var efiLoaders = []string{"shimx64.efi", "grubx64.efi", "bootx64.efi"}

// findLoaders picks what to boot: a BOOTX64.CSV (UTF-16, "loader,label,…")
// in any vendor directory names the loaders and their labels; otherwise the
// first known loader found, labelled "ironic1" as IPA does.
func findLoaders(fsys fs.FS) ([]loader, error) {
	var csvs, found []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if strings.Count(p, "/") > 2 {
				return fs.SkipDir
			}
			return nil
		}
		name := strings.ToLower(d.Name())
		dir := strings.ToLower(path.Dir(p))
		if dir == "." || !strings.HasPrefix(dir, "efi/") {
			return nil
		}
		if name == "bootx64.csv" {
			csvs = append(csvs, p)
		}
		for _, l := range efiLoaders {
			if name == l {
				found = append(found, p)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, c := range csvs {
		b, err := fs.ReadFile(fsys, c)
		if err != nil {
			return nil, err
		}
		var out []loader
		for _, line := range strings.Split(decodeUTF16(b), "\n") {
			f := strings.Split(strings.TrimSpace(line), ",")
			if len(f) < 2 || f[0] == "" {
				continue
			}
			out = append(out, loader{Path: efiPath(path.Join(path.Dir(c), f[0])), Label: strings.TrimSpace(f[1])})
		}
		if len(out) > 0 {
			return out, nil
		}
	}
	for _, l := range efiLoaders {
		for _, p := range found {
			// The removable-media fallback in EFI/BOOT is only used when
			// nothing vendor-specific exists.
			if strings.EqualFold(path.Base(p), l) && !strings.EqualFold(path.Dir(p), "efi/boot") {
				return []loader{{Path: efiPath(p), Label: "ironic1"}}, nil
			}
		}
	}
	for _, p := range found {
		if strings.EqualFold(path.Dir(p), "efi/boot") {
			return []loader{{Path: efiPath(p), Label: "ironic1"}}, nil
		}
	}
	return nil, errNoLoader
}

func efiPath(p string) string { return `\` + strings.ReplaceAll(p, "/", `\`) }

// decodeUTF16 reads a BOOTX64.CSV: UTF-16LE with a byte order mark.
func decodeUTF16(b []byte) string {
	return strings.ReplaceAll(utf16le.Decode(bytes.TrimPrefix(b, []byte{0xff, 0xfe})), "\r", "")
}

func mountVFAT(dev string) (fs.FS, func(), error) {
	dir, err := os.MkdirTemp("", "goipa-esp-")
	if err != nil {
		return nil, nil, err
	}
	if err := unix.Mount(dev, dir, "vfat", unix.MS_RDONLY, ""); err != nil {
		os.Remove(dir)
		return nil, nil, err
	}
	return os.DirFS(dir), func() {
		_ = unix.Unmount(dir, 0)
		os.Remove(dir)
	}, nil
}

// DefaultNVRAMPatterns are IPA's clean_uefi_nvram match_patterns: entries
// booting from a disk, a shim or a grub are removed; firmware entries (PXE,
// the EFI shell, setup) stay.
var DefaultNVRAMPatterns = []string{`^HD\(`, `shim.*\.efi`, `grub.*\.efi`}

// CleanNVRAM removes the UEFI boot entries whose device path or loader
// matches one of the regular expressions; it does nothing in BIOS mode.
func (b *Bootloader) CleanNVRAM(ctx context.Context, patterns []string) ([]string, error) {
	if _, err := os.Stat(b.EFIRoot); err != nil {
		return nil, nil
	}
	if len(patterns) == 0 {
		patterns = DefaultNVRAMPatterns
	}
	var res []*regexp.Regexp
	for _, p := range patterns {
		re, err := regexp.Compile("(?i)" + p)
		if err != nil {
			return nil, errclass.Invalid("match_patterns: %v", err)
		}
		res = append(res, re)
	}
	vars := b.vars()
	entries, err := vars.BootEntries()
	if err != nil {
		return nil, bootloaderErr(fmt.Errorf("reading the UEFI boot entries: %w", err))
	}
	var removed []string
	for _, e := range entries {
		path := e.PathString()
		for _, re := range res {
			if re.MatchString(path) {
				if err := vars.DeleteBootEntry(e.Num); err != nil {
					return removed, bootloaderErr(err)
				}
				b.log().Info("removed a UEFI boot entry", "entry", uefi.BootName(e.Num), "label", e.Description,
					"path", path, "pattern", re.String())
				removed = append(removed, uefi.BootName(e.Num))
				break
			}
		}
	}
	return removed, nil
}

// vars are the firmware's variables, under EFIRoot.
func (b *Bootloader) log() *slog.Logger {
	if b.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return b.Log
}

func (b *Bootloader) vars() *uefi.Vars {
	return &uefi.Vars{Dir: filepath.Join(b.EFIRoot, "efivars"), Log: b.log()}
}
