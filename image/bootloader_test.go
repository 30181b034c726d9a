package image

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"unicode/utf16"

	"github.com/goipa/goipa/image/disk"
	"github.com/goipa/goipa/image/uefi"
)

// bootCSV is s as a BOOTX64.CSV holds it: UTF-16LE after a byte order mark.
func bootCSV(s string) []byte {
	b := []byte{0xff, 0xfe}
	for _, r := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, r)
	}
	return b
}

func TestFindLoaders(t *testing.T) {
	for _, tc := range []struct {
		name string
		fs   fstest.MapFS
		want []loader
	}{
		{"csv", fstest.MapFS{
			"EFI/debian/BOOTX64.CSV": {Data: bootCSV("shimx64.efi,debian,,This is the boot entry for debian\r\n")},
			"EFI/debian/shimx64.efi": {},
			"EFI/BOOT/BOOTX64.EFI":   {},
		}, []loader{{`\EFI\debian\shimx64.efi`, "debian"}}},
		{"shim over grub", fstest.MapFS{
			"EFI/ubuntu/grubx64.efi": {},
			"EFI/ubuntu/shimx64.efi": {},
			"EFI/BOOT/BOOTX64.EFI":   {},
		}, []loader{{`\EFI\ubuntu\shimx64.efi`, "ironic1"}}},
		{"removable path only", fstest.MapFS{
			"EFI/BOOT/BOOTX64.EFI": {},
		}, []loader{{`\EFI\BOOT\BOOTX64.EFI`, "ironic1"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := findLoaders(tc.fs)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) || got[0] != tc.want[0] {
				t.Errorf("loaders = %v, want %v", got, tc.want)
			}
		})
	}
	if _, err := findLoaders(fstest.MapFS{"README": {}}); err == nil {
		t.Error("an ESP without loaders was accepted")
	}
}

// efiRoot is a fake /sys/firmware/efi whose efivars holds the entries,
// numbered from 0, and BootOrder.
func efiRoot(t *testing.T, order []uint16, entries ...*uefi.LoadOption) (string, *uefi.Vars) {
	t.Helper()
	root := t.TempDir()
	v := &uefi.Vars{Dir: filepath.Join(root, "efivars")}
	if err := os.Mkdir(v.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, o := range entries {
		b, err := o.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Set(uefi.BootName(uint16(i)), uefi.GlobalVariable, 7, b); err != nil {
			t.Fatal(err)
		}
	}
	var b []byte
	for _, n := range order {
		b = binary.LittleEndian.AppendUint16(b, n)
	}
	if err := v.Set("BootOrder", uefi.GlobalVariable, 7, b); err != nil {
		t.Fatal(err)
	}
	return root, v
}

func option(label string, path ...uefi.Node) *uefi.LoadOption {
	return &uefi.LoadOption{Attributes: uefi.LoadOptionActive, Description: label, FilePaths: []uefi.DevicePath{path}}
}

// entries renders the NVRAM as efibootmgr -v would: BootOrder, then one
// "Boot#### label<TAB>path" line per entry.
func entries(t *testing.T, v *uefi.Vars) string {
	t.Helper()
	order, err := v.BootOrder()
	if err != nil {
		t.Fatal(err)
	}
	es, err := v.BootEntries()
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, n := range order {
		lines = append(lines, uefi.BootName(n))
	}
	lines = []string{"BootOrder: " + strings.Join(lines, ",")}
	for _, e := range es {
		lines = append(lines, uefi.BootName(e.Num)+" "+e.Description+"\t"+e.PathString())
	}
	return strings.Join(lines, "\n")
}

var (
	pxe = []uefi.Node{{Type: 2, SubType: 1, Data: []byte{0xd0, 0x41, 0x03, 0x0a, 0, 0, 0, 0}}, {Type: 1, SubType: 1, Data: []byte{0, 3}}}
	fv  = []uefi.Node{{Type: 4, SubType: 7, Data: make([]byte, 16)}, {Type: 4, SubType: 6, Data: make([]byte, 16)}}
	hd  = uefi.GPTHardDrive(1, 0x800, 0x100000, uefi.MustParseGUID("0fc63daf-8483-4772-8e79-3d69d8477de4"))
)

func TestInstallUEFI(t *testing.T) {
	if _, err := exec.LookPath("sgdisk"); err != nil {
		t.Skip("sgdisk not installed")
	}
	dev := target(t, 64<<20)
	if out, err := exec.Command("sgdisk", "-n", "1:2048:+16M", "-t", "1:EF00", "-n", "2:0:0", dev).CombinedOutput(); err != nil {
		t.Fatalf("sgdisk: %v %s", err, out)
	}
	const guid = "4f0b5c2a-1111-4222-8333-123456789abc"
	if out, err := exec.Command("sgdisk", "-u", "1:"+guid, dev).CombinedOutput(); err != nil {
		t.Fatalf("sgdisk: %v %s", err, out)
	}
	// The old "debian" entry is replaced; the firmware's own stays.
	root, vars := efiRoot(t, []uint16{0, 1}, option("debian", hd, uefi.FilePath(`\EFI\debian\shimx64.efi`)),
		option("UEFI PXEv4", pxe...))
	var mounted string
	b := &Bootloader{EFIRoot: root, Disk: disk.Options{AllowFile: true},
		Mount: func(dev string) (fs.FS, func(), error) {
			mounted = dev
			return fstest.MapFS{"EFI/debian/BOOTX64.CSV": {Data: bootCSV("shimx64.efi,debian,,x\n")}}, func() {}, nil
		}}
	if _, err := b.Install(context.Background(), dev, BootloaderParams{TargetBootMode: "uefi"}); err != nil {
		t.Fatal(err)
	}
	if mounted != dev+"1" {
		t.Errorf("mounted %q, want the ESP %s1", mounted, dev)
	}
	want := "BootOrder: Boot0000,Boot0001\n" +
		"Boot0000 debian\tHD(1,GPT," + guid + ",0x800,0x8000)/File(\\EFI\\debian\\shimx64.efi)\n" +
		"Boot0001 UEFI PXEv4\tPciRoot(0x0)/Pci(0x3,0x0)"
	if got := entries(t, vars); got != want {
		t.Errorf("NVRAM:\n%s\nwant:\n%s", got, want)
	}

	// BIOS: nothing to do.
	b.EFIRoot = filepath.Join(t.TempDir(), "absent")
	if _, err := b.Install(context.Background(), dev, BootloaderParams{}); err != nil {
		t.Errorf("BIOS install: %v", err)
	}
	// No efivarfs although the node booted UEFI: a clear error.
	b.EFIRoot = t.TempDir()
	if _, err := b.Install(context.Background(), dev, BootloaderParams{}); errType(err) != "CommandExecutionError" ||
		!strings.Contains(err.Error(), "UEFI boot entries") {
		t.Errorf("install without efivars: %v (%s)", err, errType(err))
	}
}

func TestInstallPartitionImageNeedsGrub(t *testing.T) {
	b := &Bootloader{EFIRoot: filepath.Join(t.TempDir(), "no-efi")}
	msg, err := b.Install(context.Background(), "/dev/unused", BootloaderParams{RootUUID: "0x1234abcd"})
	if err != nil || !strings.Contains(msg, "nothing to install") {
		t.Errorf("whole-disk image in BIOS mode: %q, %v", msg, err)
	}
	_, err = b.Install(context.Background(), "/dev/unused", BootloaderParams{RootUUID: "4f0b5c2a-1111-4222-8333-123456789abc"})
	if errType(err) != "InvalidImage" || !strings.Contains(err.Error(), "enable_bios_bootloader_install") {
		t.Errorf("partition image in BIOS mode: %v (%s)", err, errType(err))
	}
}

// TestInstallSoftwareRAID: with the root on an md device, the image's ESP is
// copied to the mirrored ESP and each member gets its own boot entry; in
// BIOS mode the agent says it cannot boot the array rather than succeed.
func TestInstallSoftwareRAID(t *testing.T) {
	if _, err := exec.LookPath("sgdisk"); err != nil {
		t.Skip("sgdisk not installed")
	}
	dir := t.TempDir()
	dev := filepath.Join(dir, "md127")
	os.WriteFile(dev, nil, 0o644)
	os.Truncate(dev, 64<<20)
	if out, err := exec.Command("sgdisk", "-n", "1:2048:+16M", "-t", "1:EF00", dev).CombinedOutput(); err != nil {
		t.Fatalf("sgdisk: %v %s", err, out)
	}
	espContent := bytes.Repeat([]byte("FAT ESP "), 2<<20) // 16 MiB
	os.WriteFile(dev+"p1", espContent, 0o644)
	mirror := filepath.Join(dir, "md-esp")
	os.WriteFile(mirror, nil, 0o644)
	os.Truncate(mirror, 32<<20)
	// The members: two disks whose first partition mirrors the ESP.
	var members []ESPMember
	for i, guid := range []string{"aaaaaaaa-0000-4000-8000-000000000001", "bbbbbbbb-0000-4000-8000-000000000002"} {
		d := filepath.Join(dir, fmt.Sprintf("member%d", i))
		os.WriteFile(d, nil, 0o644)
		os.Truncate(d, 64<<20)
		if out, err := exec.Command("sgdisk", "-n", "1:2048:+32M", "-t", "1:FD00", "-u", "1:"+guid, d).CombinedOutput(); err != nil {
			t.Fatalf("sgdisk: %v %s", err, out)
		}
		members = append(members, ESPMember{d, 1})
	}
	root, vars := efiRoot(t, nil)
	b := &Bootloader{EFIRoot: root, Disk: disk.Options{AllowFile: true},
		Mount: func(string) (fs.FS, func(), error) {
			return fstest.MapFS{"EFI/BOOT/BOOTX64.EFI": {}}, func() {}, nil
		},
		RAIDESP: func(context.Context) (string, []ESPMember, error) {
			return mirror, members, nil
		}}
	if _, err := b.Install(context.Background(), dev, BootloaderParams{TargetBootMode: "uefi"}); err != nil {
		t.Fatal(err)
	}
	if got := readFileHead(t, mirror, len(espContent)); !bytes.Equal(got, espContent) {
		t.Error("the mirrored ESP does not hold the image's ESP")
	}
	want := "BootOrder: Boot0001,Boot0000\n" +
		"Boot0000 ironic1 (RAID, part0)\tHD(1,GPT,aaaaaaaa-0000-4000-8000-000000000001,0x800,0x10000)/File(\\EFI\\BOOT\\BOOTX64.EFI)\n" +
		"Boot0001 ironic1 (RAID, part1)\tHD(1,GPT,bbbbbbbb-0000-4000-8000-000000000002,0x800,0x10000)/File(\\EFI\\BOOT\\BOOTX64.EFI)"
	if got := entries(t, vars); got != want {
		t.Errorf("NVRAM:\n%s\nwant:\n%s", got, want)
	}
	// A member without the partition fails the install, naming it.
	b.RAIDESP = func(context.Context) (string, []ESPMember, error) {
		return mirror, []ESPMember{{members[0].Disk, 2}}, nil
	}
	if _, err := b.Install(context.Background(), dev, BootloaderParams{TargetBootMode: "uefi"}); err == nil ||
		!strings.Contains(err.Error(), "no partition 2") {
		t.Errorf("install onto a missing member partition: %v", err)
	}
	b.EFIRoot = filepath.Join(dir, "absent")
	if _, err := b.Install(context.Background(), dev, BootloaderParams{}); err == nil {
		t.Error("BIOS boot of a software RAID root reported success")
	}
}

func readFileHead(t *testing.T, path string, n int) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b[:min(n, len(b))]
}

func TestCleanNVRAM(t *testing.T) {
	root, vars := efiRoot(t, []uint16{3, 2, 1, 0},
		option("EFI Internal Shell", fv...),
		option("UEFI PXEv4", pxe...),
		option("debian", hd, uefi.FilePath(`\EFI\debian\shimx64.efi`)),
		option("ironic1", hd, uefi.FilePath(`\EFI\BOOT\BOOTX64.EFI`)),
		option("grub on a vendor device", append(pxe, uefi.FilePath(`\EFI\debian\GRUBX64.EFI`))...))
	b := &Bootloader{EFIRoot: root}
	removed, err := b.CleanNVRAM(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(removed, ",") != "Boot0002,Boot0003,Boot0004" {
		t.Errorf("removed %v, want the disk, shim and grub entries", removed)
	}
	want := "BootOrder: Boot0001,Boot0000\n" +
		"Boot0000 EFI Internal Shell\tFvVol(00000000-0000-0000-0000-000000000000)/FvFile(00000000-0000-0000-0000-000000000000)\n" +
		"Boot0001 UEFI PXEv4\tPciRoot(0x0)/Pci(0x3,0x0)"
	if got := entries(t, vars); got != want {
		t.Errorf("NVRAM:\n%s\nwant:\n%s", got, want)
	}
	if removed, err := b.CleanNVRAM(context.Background(), []string{`^PciRoot\(0x0\)/Pci\(0x3,`}); err != nil ||
		strings.Join(removed, ",") != "Boot0001" {
		t.Errorf("custom pattern removed %v, %v", removed, err)
	}
	if _, err := b.CleanNVRAM(context.Background(), []string{"("}); err == nil {
		t.Error("a bad pattern was accepted")
	}
	// BIOS: nothing to clean.
	b.EFIRoot = filepath.Join(root, "absent")
	if removed, err := b.CleanNVRAM(context.Background(), nil); err != nil || removed != nil {
		t.Errorf("BIOS clean: %v, %v", removed, err)
	}
}
