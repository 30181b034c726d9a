package image

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/ext4"
	"github.com/diskfs/go-diskfs/filesystem/fat32"
	"github.com/diskfs/go-diskfs/partition/gpt"
	"github.com/diskfs/go-diskfs/partition/mbr"
	"golang.org/x/sys/unix"

	"github.com/goipa/goipa/image/disk"
	"github.com/goipa/goipa/image/download"
	"github.com/goipa/goipa/internal/errclass"
)

// Partition roles, named as IPA's make_partitions names them in the
// "partitions" dict of get_partition_uuids.
const (
	roleESP         = "efi system partition"
	roleBIOSBoot    = "BIOS Boot partition"
	roleEphemeral   = "ephemeral"
	roleSwap        = "swap"
	roleConfigDrive = "configdrive"
	roleRoot        = "root"
)

const (
	mib = 1 << 20
	// The defaults of IPA's [disk_utils]efi_system_partition_size and
	// bios_boot_partition_size (Deployer.ESPSizeMiB, BIOSBootSizeMiB).
	espSize      = 550 * mib
	biosBootSize = 1 * mib
	// gptName is what parted's "mkpart primary" names GPT partitions.
	gptName = "primary"
	// partitionWait bounds the wait for the kernel's partition device nodes.
	partitionWait = 10 * time.Second
)

// ErrLayout: the requested partitions do not fit, or image_info asks for a
// layout goipa cannot build.
var ErrLayout = errors.New("partition layout")

// layoutSpec is what image_info asks for, in IPA's terms.
type layoutSpec struct {
	BootMode    string // "uefi" or "bios"
	Label       string // "gpt" or "msdos"
	RootMB      int
	SwapMB      int
	EphemeralMB int
	ConfigDrive int64 // bytes needed for the config drive, 0 for none
	// ESPSize and BIOSBootSize in bytes; 0 means IPA's defaults.
	ESPSize, BIOSBootSize int64
}

// plannedPart is one partition of the layout; Start and Size in bytes.
type plannedPart struct {
	Role   string
	Number int
	Start  int64
	Size   int64
}

type layout struct {
	Label string
	Parts []plannedPart
}

// planLayout places the partitions as IPA's make_partitions does with
// parted: from 1 MiB, back to back, each an exact number of MiB, in the
// order ESP (UEFI) | BIOS boot (BIOS on GPT) | ephemeral | swap | config
// drive | root, root last so cloud-init's growpart can extend it.
func planLayout(s layoutSpec, diskSize int64, sectorSize int) (*layout, error) {
	if s.RootMB <= 0 {
		return nil, fmt.Errorf("%w: root_mb must be positive, got %d", ErrLayout, s.RootMB)
	}
	if s.SwapMB < 0 || s.EphemeralMB < 0 {
		return nil, fmt.Errorf("%w: negative swap_mb %d or ephemeral_mb %d", ErrLayout, s.SwapMB, s.EphemeralMB)
	}
	l := &layout{Label: s.Label}
	pos := int64(mib)
	add := func(role string, size int64) {
		l.Parts = append(l.Parts, plannedPart{Role: role, Number: len(l.Parts) + 1, Start: pos, Size: size})
		pos += size
	}
	if s.BootMode == "uefi" {
		add(roleESP, cmp.Or(s.ESPSize, espSize))
	}
	if s.BootMode == "bios" && s.Label == "gpt" {
		add(roleBIOSBoot, cmp.Or(s.BIOSBootSize, biosBootSize))
	}
	if s.EphemeralMB > 0 {
		add(roleEphemeral, int64(s.EphemeralMB)*mib)
	}
	if s.SwapMB > 0 {
		add(roleSwap, int64(s.SwapMB)*mib)
	}
	if s.ConfigDrive > 0 {
		add(roleConfigDrive, (s.ConfigDrive+mib-1)/mib*mib)
	}
	add(roleRoot, int64(s.RootMB)*mib)

	usable := diskSize / int64(sectorSize) * int64(sectorSize)
	if l.Label == "gpt" {
		// The backup header and its 128-entry array take the last sectors.
		usable -= int64(sectorSize) + 128*128
	} else {
		if len(l.Parts) > 4 {
			return nil, fmt.Errorf("%w: %d partitions need more than the 4 primary MBR entries", ErrLayout, len(l.Parts))
		}
		usable = min(usable, int64(sectorSize)<<32)
	}
	if pos > usable {
		return nil, fmt.Errorf("%w: the partitions need %d MiB (%s), the disk has %d MiB usable",
			ErrLayout, pos/mib, l.describe(), usable/mib)
	}
	return l, nil
}

func (l *layout) describe() string {
	var b strings.Builder
	for i, p := range l.Parts {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d MiB", p.Role, p.Size/mib)
	}
	return b.String()
}

// partitionSpec reads the layout request from image_info. The boot mode is
// deploy_boot_mode, else the ramdisk's own; UEFI forces GPT as in IPA.
func (d *Deployer) partitionSpec(info *Info) layoutSpec {
	mode := strings.ToLower(info.DeployBootMode)
	if mode != "uefi" && mode != "bios" {
		mode = "bios"
		efi := d.EFIRoot
		if efi == "" {
			efi = "/sys/firmware/efi"
		}
		if st, err := os.Stat(efi); err == nil && st.IsDir() {
			mode = "uefi"
		}
	}
	label := "msdos"
	if mode == "uefi" || strings.ToLower(info.DiskLabel) == "gpt" {
		label = "gpt"
	}
	return layoutSpec{BootMode: mode, Label: label, RootMB: info.RootMB, SwapMB: info.SwapMB, EphemeralMB: info.EphemeralMB,
		ESPSize: int64(d.ESPSizeMiB) * mib, BIOSBootSize: int64(d.BIOSBootSizeMiB) * mib}
}

// Ephemeral file systems goipa can make without mkfs tools.
var ephemeralFormats = []string{"ext4", "vfat"}

func (d *Deployer) checkEphemeral(info *Info) error {
	if info.EphemeralMB <= 0 || info.PreserveEphemeral || info.EphemeralFormat == "" {
		return nil
	}
	for _, f := range ephemeralFormats {
		if strings.EqualFold(info.EphemeralFormat, f) {
			return nil
		}
	}
	return fmt.Errorf("%w: ephemeral_format %q is not supported (goipa formats %s)", ErrLayout,
		info.EphemeralFormat, strings.Join(ephemeralFormats, ", "))
}

// writePartitionImage does what IPA's work_on_disk does: partition the disk,
// format the ESP, swap and ephemeral partitions, write the config drive,
// then write (and verify) the image into the root partition, root last.
func (d *Deployer) writePartitionImage(ctx context.Context, info *Info, device, configDrive string,
	v *download.Verifier, opts download.Options) (*Result, error) {
	spec := d.partitionSpec(info)
	if err := d.checkEphemeral(info); err != nil {
		return nil, errclass.Invalid("%v", err)
	}
	var iso []byte
	if configDrive != "" {
		var err error
		if iso, err = d.fetchConfigDrive(ctx, configDrive, opts); err != nil {
			return nil, errclass.New("InstanceDeployFailure", "Failed to deploy instance", fmt.Errorf("config drive: %w", err))
		}
		spec.ConfigDrive = int64(len(iso))
	}
	parts, err := d.partitionDisk(ctx, device, spec, info.PreserveEphemeral)
	if err != nil {
		return nil, err
	}
	dev := func(role string) string { return parts[role].Device }

	fail := func(what string, err error) error {
		return errclass.New(errWrite, "Error writing image to device", fmt.Errorf("%s: %w", what, err))
	}
	if p, ok := parts[roleESP]; ok {
		if err := d.onPartition(p.Device, func(f *os.File, size int64, lss int) error {
			return makeFAT32(f, size, lss, p.Start, "efi-part")
		}); err != nil {
			return nil, fail("formatting the EFI system partition", err)
		}
	}
	if p, ok := parts[roleConfigDrive]; ok {
		if err := d.onPartition(p.Device, func(f *os.File, size int64, _ int) error {
			if int64(len(iso)) > size {
				return fmt.Errorf("%w: config drive of %d bytes, partition has %d", disk.ErrNoSpace, len(iso), size)
			}
			_, err := f.WriteAt(iso, 0)
			return err
		}); err != nil {
			return nil, errclass.New("InstanceDeployFailure", "Failed to deploy instance", fmt.Errorf("config drive: %w", err))
		}
	}
	if _, ok := parts[roleSwap]; ok {
		if err := d.onPartition(dev(roleSwap), func(f *os.File, size int64, _ int) error {
			return makeSwap(f, size, "swap1")
		}); err != nil {
			return nil, fail("formatting swap", err)
		}
	}
	if p, ok := parts[roleEphemeral]; ok && !info.PreserveEphemeral && info.EphemeralFormat != "" {
		if err := d.onPartition(p.Device, func(f *os.File, size int64, lss int) error {
			if strings.EqualFold(info.EphemeralFormat, "vfat") {
				return makeFAT32(f, size, lss, p.Start, "ephemeral0")
			}
			_, err := ext4.Create(file.New(f, false), size, 0, int64(lss), &ext4.Params{VolumeName: "ephemeral0"})
			return err
		}); err != nil {
			return nil, fail("formatting the ephemeral partition", err)
		}
	}

	root := parts[roleRoot]
	rdk, err := disk.Open(root.Device, d.diskOptions())
	if err != nil {
		return nil, fail("opening the root partition", err)
	}
	res, err := d.writeVerified(ctx, rdk, info, v, opts)
	rdk.Close()
	if errors.Is(err, disk.ErrTooSmall) {
		// IPA's wording, and its error type: the image does not fit root_mb.
		return nil, errclass.Invalid("Root partition is too small for requested image. Image size exceeds the %d MB root partition %s: %v",
			root.Size/mib, root.Device, err)
	}
	if err != nil {
		return nil, err
	}

	uuids, err := partitionUUIDs(device, parts)
	if err != nil {
		return nil, fail("reading partition UUIDs", err)
	}
	res.Device = device
	res.RootUUID, _ = uuids["root uuid"].(string)
	if info.DeployBootMode == "uefi" {
		res.ESPUUID, _ = uuids["efi system partition uuid"].(string)
	}
	d.mu.Lock()
	d.uuids = uuids
	d.mu.Unlock()
	d.Log.Info("partition image written and verified", "image", info.ID, "device", device, "root", root.Device,
		"format", res.Format, "bytes", res.Stats.Image, "duration", res.Stats.Duration)
	return res, nil
}

// partitionDisk writes the partition table (or, for preserve_ephemeral,
// checks the existing one), makes the kernel see it and returns the
// partitions by role.
func (d *Deployer) partitionDisk(ctx context.Context, device string, spec layoutSpec, preserve bool) (map[string]disk.Partition, error) {
	dk, err := disk.Open(device, d.diskOptions())
	if err != nil {
		return nil, errclass.New(errWrite, "Error writing image to device", err)
	}
	defer dk.Close()
	l, err := planLayout(spec, dk.Size(), dk.SectorSize())
	if err != nil {
		return nil, errclass.Invalid("%v", err)
	}
	if preserve {
		// IPA leaves the table alone: the ephemeral partition must be where
		// the layout puts it, or its data would be lost or misread.
		t, err := dk.Partitions()
		if err != nil {
			return nil, errclass.New("InstanceDeployFailure", "Failed to deploy instance",
				fmt.Errorf("preserve_ephemeral: %w", err))
		}
		if err := matchPreserved(t, l); err != nil {
			return nil, errclass.New("InstanceDeployFailure", "Failed to deploy instance", err)
		}
	} else {
		if err := dk.WipeEdges(); err != nil {
			return nil, errclass.New(errWrite, "Error writing image to device", fmt.Errorf("wiping disk metadata: %w", err))
		}
		if err := writeTable(device, l, dk.Size(), dk.SectorSize(), dk.PhysicalSectorSize()); err != nil {
			return nil, errclass.New(errWrite, "Error writing image to device", fmt.Errorf("writing the partition table: %w", err))
		}
	}
	if err := dk.RereadPartitions(); err != nil {
		return nil, errclass.New(errWrite, "Error writing image to device", err)
	}
	t, err := dk.Partitions()
	if err != nil {
		return nil, errclass.New(errWrite, "Error writing image to device", err)
	}
	parts := map[string]disk.Partition{}
	for _, p := range l.Parts {
		for _, tp := range t.Partitions {
			if tp.Number == p.Number {
				parts[p.Role] = tp
			}
		}
		if err := waitDevice(ctx, parts[p.Role].Device); err != nil {
			return nil, errclass.New(errWrite, "Error writing image to device", fmt.Errorf("%s partition: %w", p.Role, err))
		}
	}
	d.Log.Info("disk partitioned", "device", device, "label", l.Label, "layout", l.describe(), "preserved", preserve)
	return parts, nil
}

// matchPreserved checks that the table on disk has every partition of the
// layout, the ephemeral one exactly where the layout puts it.
func matchPreserved(t *disk.Table, l *layout) error {
	want := map[string]string{"gpt": "gpt", "msdos": "dos"}[l.Label]
	if t.Type != want {
		return fmt.Errorf("preserve_ephemeral: the disk has a %s partition table, the layout needs %s", t.Type, l.Label)
	}
	for _, p := range l.Parts {
		var found *disk.Partition
		for i := range t.Partitions {
			if t.Partitions[i].Number == p.Number {
				found = &t.Partitions[i]
			}
		}
		switch {
		case found == nil:
			return fmt.Errorf("preserve_ephemeral: partition %d (%s) does not exist on the disk", p.Number, p.Role)
		case p.Role == roleEphemeral && (found.Start != p.Start || found.Size != p.Size):
			return fmt.Errorf("preserve_ephemeral: ephemeral partition %d is at %d+%d bytes on the disk, the layout puts it at %d+%d",
				p.Number, found.Start, found.Size, p.Start, p.Size)
		}
	}
	return nil
}

// writeTable writes a fresh GPT or MBR with go-diskfs, through a second,
// shared descriptor (the caller holds the exclusive one).
func writeTable(device string, l *layout, size int64, lss, pss int) error {
	f, err := os.OpenFile(device, os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	ss := int64(lss)
	if l.Label == "gpt" {
		t := &gpt.Table{LogicalSectorSize: lss, PhysicalSectorSize: pss, ProtectiveMBR: true}
		for _, p := range l.Parts {
			typ := gpt.LinuxFilesystem
			switch p.Role {
			case roleESP:
				typ = gpt.EFISystemPartition
			case roleBIOSBoot:
				typ = gpt.BIOSBoot
			case roleSwap:
				typ = gpt.LinuxSwap
			}
			t.Partitions = append(t.Partitions, &gpt.Partition{Index: p.Number, Start: uint64(p.Start / ss),
				End: uint64((p.Start+p.Size)/ss - 1), Size: uint64(p.Size), Type: typ, Name: gptName})
		}
		if err := t.Write(f, size); err != nil {
			return err
		}
	} else {
		t := &mbr.Table{LogicalSectorSize: lss, PhysicalSectorSize: pss}
		for _, p := range l.Parts {
			typ := mbr.Linux
			if p.Role == roleSwap {
				typ = mbr.LinuxSwap
			}
			t.Partitions = append(t.Partitions, &mbr.Partition{Index: p.Number, Type: typ,
				Bootable: p.Role == roleRoot, Start: uint32(p.Start / ss), Size: uint32(p.Size / ss)})
		}
		if err := t.Write(f, size); err != nil {
			return err
		}
		// parted gives a new MBR a random disk signature; PARTUUIDs
		// (root=PARTUUID=<sig>-<n>) derive from it.
		sig := make([]byte, 4)
		for binary.LittleEndian.Uint32(sig) == 0 {
			rand.Read(sig)
		}
		if _, err := f.WriteAt(sig, 440); err != nil {
			return err
		}
	}
	return syncDevice(f)
}

// syncDevice makes buffered writes durable and drops the page cache, so
// O_DIRECT readers and the kernel's partition scan see them.
func syncDevice(f *os.File) error {
	if err := f.Sync(); err != nil {
		return err
	}
	if err := unix.IoctlSetInt(int(f.Fd()), unix.BLKFLSBUF, 0); err != nil && !errors.Is(err, unix.ENOTTY) {
		return fmt.Errorf("BLKFLSBUF: %w", err)
	}
	return nil
}

// waitDevice waits for the kernel (devtmpfs) to create a partition's node.
func waitDevice(ctx context.Context, dev string) error {
	if dev == "" {
		return errors.New("not in the partition table after writing it")
	}
	deadline := time.Now().Add(partitionWait)
	for {
		st, err := os.Stat(dev)
		if err == nil && st.Mode()&os.ModeDevice != 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not appear: %w", dev, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// onPartition runs fn on a partition: disk.Open checks it is unused and
// holds it exclusively while fn writes through a buffered descriptor.
func (d *Deployer) onPartition(dev string, fn func(f *os.File, size int64, lss int) error) error {
	pd, err := disk.Open(dev, d.diskOptions())
	if err != nil {
		return err
	}
	defer pd.Close()
	f, err := os.OpenFile(dev, os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := fn(f, pd.Size(), pd.SectorSize()); err != nil {
		return err
	}
	return syncDevice(f)
}

// makeFAT32 formats a FAT32 file system (mkfs.vfat's job) and records the
// partition's offset in the boot sectors as mkfs.vfat does.
func makeFAT32(f *os.File, size int64, lss int, start int64, label string) error {
	if _, err := fat32.Create(file.New(f, false), size, 0, int64(lss), label, false); err != nil {
		return err
	}
	hidden := make([]byte, 4)
	binary.LittleEndian.PutUint32(hidden, uint32(start/int64(lss)))
	// The boot sector and its backup (sector 6) carry the hidden sectors.
	for _, sector := range []int64{0, 6} {
		if _, err := f.WriteAt(hidden, sector*int64(lss)+28); err != nil {
			return err
		}
	}
	return nil
}

// makeSwap writes a Linux swap signature (mkswap's job): a version 1
// header with the last usable page, a random UUID and a label.
func makeSwap(f *os.File, size int64, label string) error {
	page := os.Getpagesize()
	pages := size / int64(page)
	if pages < 10 {
		return fmt.Errorf("swap partition of %d bytes is too small", size)
	}
	h := make([]byte, page)
	le := binary.LittleEndian
	le.PutUint32(h[1024:], 1)                          // version
	le.PutUint32(h[1028:], uint32(pages-1))            // last_page
	le.PutUint32(h[1032:], 0)                          // nr_badpages
	if _, err := rand.Read(h[1036:1052]); err != nil { // sws_uuid
		return err
	}
	h[1036+6] = h[1036+6]&0x0f | 0x40
	h[1036+8] = h[1036+8]&0x3f | 0x80
	copy(h[1052:1068], label)
	copy(h[page-10:], "SWAPSPACE2")
	_, err := f.WriteAt(h, 0)
	return err
}

// partitionUUIDs builds IPA's get_partition_uuids answer for a partition
// image: "root uuid" is the root file system's UUID, or the partition's
// PARTUUID when no file system is recognised (IPA's block_uuid);
// "efi system partition uuid" the ESP's vfat UUID, null without an ESP.
func partitionUUIDs(device string, parts map[string]disk.Partition) (map[string]any, error) {
	f, err := os.Open(device)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	blockUUID := func(p disk.Partition) (string, error) {
		u, err := probeUUID(f, p.Start, p.Size)
		if err != nil || u != "" {
			return u, err
		}
		return p.PartUUID, nil
	}
	out := map[string]any{"efi system partition uuid": nil}
	root, err := blockUUID(parts[roleRoot])
	if err != nil {
		return nil, err
	}
	out["root uuid"] = root
	if p, ok := parts[roleESP]; ok {
		esp, err := blockUUID(p)
		if err != nil {
			return nil, err
		}
		out["efi system partition uuid"] = esp
	}
	devs := map[string]any{}
	for role, p := range parts {
		devs[role] = p.Device
	}
	out["partitions"] = devs
	return out, nil
}

// probeUUID returns the UUID blkid would print for the file system at
// [off, off+size) of r: ext2/3/4, XFS, btrfs, FAT and swap; "" for anything
// else.
func probeUUID(r *os.File, off, size int64) (string, error) {
	const n = 64<<10 + 4096
	b := make([]byte, min(n, size))
	if _, err := r.ReadAt(b, off); err != nil {
		return "", err
	}
	at := func(o int, s string) bool { return len(b) >= o+len(s) && string(b[o:o+len(s)]) == s }
	uuid := func(o int) string {
		u := b[o : o+16]
		return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
	}
	le := binary.LittleEndian
	page := os.Getpagesize()
	switch {
	case len(b) >= 1024+120 && le.Uint16(b[1024+56:]) == 0xef53:
		return uuid(1024 + 104), nil
	case at(0, "XFSB"):
		return uuid(32), nil
	case at(64<<10+64, "_BHRfS_M"):
		return uuid(64<<10 + 32), nil
	case at(page-10, "SWAPSPACE2"):
		return uuid(1036), nil
	case len(b) >= 512 && b[510] == 0x55 && b[511] == 0xaa && b[66] == 0x29 && at(82, "FAT32"):
		return fmt.Sprintf("%04X-%04X", le.Uint16(b[69:]), le.Uint16(b[67:])), nil
	case len(b) >= 512 && b[510] == 0x55 && b[511] == 0xaa && b[38] == 0x29 && at(54, "FAT"):
		return fmt.Sprintf("%04X-%04X", le.Uint16(b[41:]), le.Uint16(b[39:])), nil
	}
	return "", nil
}
