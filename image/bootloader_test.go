package image

import (
	"bytes"
	"context"
	"encoding/binary"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"unicode/utf16"

	"github.com/goipa/goipa/image/disk"
	"github.com/goipa/goipa/internal/runner/runnertest"
)

func utf16le(s string) []byte {
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
			"EFI/debian/BOOTX64.CSV": {Data: utf16le("shimx64.efi,debian,,This is the boot entry for debian\r\n")},
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

func TestEntriesLabelled(t *testing.T) {
	out := "BootCurrent: 0001\nBootOrder: 0003,0001\nBoot0001* UEFI QEMU HARDDISK\tPciRoot(0x0)/Pci(0x1,0x1)\nBoot0003* ironic1\tHD(1,GPT,aa,0x800,0x100000)/File(\\EFI\\BOOT\\BOOTX64.EFI)\nBoot0004 ironic1\tHD(1,GPT,bb)\n"
	if got := entriesLabelled(out, "ironic1"); len(got) != 2 || got[0] != "0003" || got[1] != "0004" {
		t.Errorf("entries = %v", got)
	}
	if got := entriesLabelled(out, "debian"); len(got) != 0 {
		t.Errorf("entries = %v", got)
	}
}

func TestInstallUEFI(t *testing.T) {
	if _, err := exec.LookPath("sgdisk"); err != nil {
		t.Skip("sgdisk not installed")
	}
	dev := target(t, 64<<20)
	if out, err := exec.Command("sgdisk", "-n", "1:2048:+16M", "-t", "1:EF00", "-n", "2:0:0", dev).CombinedOutput(); err != nil {
		t.Fatalf("sgdisk: %v %s", err, out)
	}
	fake := &runnertest.Fake{Responses: map[string]runnertest.Response{
		"efibootmgr -v": {Stdout: "BootOrder: 0000\nBoot0000* debian\tHD(1,GPT,x)/File(\\EFI\\debian\\shimx64.efi)\n"},
		"efibootmgr *":  {},
	}}
	var mounted string
	b := &Bootloader{Run: fake, EFIRoot: t.TempDir(), Disk: disk.Options{AllowFile: true},
		Mount: func(dev string) (fs.FS, func(), error) {
			mounted = dev
			return fstest.MapFS{"EFI/debian/BOOTX64.CSV": {Data: utf16le("shimx64.efi,debian,,x\n")}}, func() {}, nil
		}}
	if _, err := b.Install(context.Background(), dev, BootloaderParams{TargetBootMode: "uefi"}); err != nil {
		t.Fatal(err)
	}
	if mounted != dev+"1" {
		t.Errorf("mounted %q, want the ESP %s1", mounted, dev)
	}
	want := []string{"efibootmgr -v", "efibootmgr -b 0000 -B",
		"efibootmgr -v -c -d " + dev + " -p 1 -w -L debian -l \\EFI\\debian\\shimx64.efi"}
	if got := fake.Argvs(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("commands:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// BIOS: nothing to do, nothing run.
	fake.Calls = nil
	b.EFIRoot = filepath.Join(t.TempDir(), "absent")
	if _, err := b.Install(context.Background(), dev, BootloaderParams{}); err != nil || len(fake.Calls) != 0 {
		t.Errorf("BIOS install: %v, %v", err, fake.Argvs())
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
	fake := &runnertest.Fake{Responses: map[string]runnertest.Response{"efibootmgr -v": {}, "efibootmgr *": {}}}
	b := &Bootloader{Run: fake, EFIRoot: t.TempDir(), Disk: disk.Options{AllowFile: true},
		Mount: func(string) (fs.FS, func(), error) {
			return fstest.MapFS{"EFI/BOOT/BOOTX64.EFI": {}}, func() {}, nil
		},
		RAIDESP: func(context.Context) (string, []ESPMember, error) {
			return mirror, []ESPMember{{"/dev/vda", 1}, {"/dev/vdb", 1}}, nil
		}}
	if _, err := b.Install(context.Background(), dev, BootloaderParams{TargetBootMode: "uefi"}); err != nil {
		t.Fatal(err)
	}
	if got := readFileHead(t, mirror, len(espContent)); !bytes.Equal(got, espContent) {
		t.Error("the mirrored ESP does not hold the image's ESP")
	}
	want := []string{"efibootmgr -v",
		"efibootmgr -v -c -d /dev/vda -p 1 -w -L ironic1 (RAID, part0) -l \\EFI\\BOOT\\BOOTX64.EFI",
		"efibootmgr -v -c -d /dev/vdb -p 1 -w -L ironic1 (RAID, part1) -l \\EFI\\BOOT\\BOOTX64.EFI"}
	if got := fake.Argvs(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("commands:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
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
	out := "BootCurrent: 0002\nBootOrder: 0003,0002,0001\n" +
		"Boot0001* UEFI PXEv4 (MAC:525400123456)\tPciRoot(0x0)/Pci(0x2,0x0)/MAC(525400123456,1)/IPv4(0.0.0.0)\n" +
		"Boot0002* debian\tHD(1,GPT,aa,0x800,0x100000)/File(\\EFI\\debian\\shimx64.efi)\n" +
		"Boot0003* ironic1\tHD(1,GPT,bb,0x800,0x100000)/File(\\EFI\\BOOT\\BOOTX64.EFI)\n" +
		"Boot0004* EFI Internal Shell\tFvVol(7cb8bdc9)/FvFile(7c04a583)\n"
	fake := &runnertest.Fake{Responses: map[string]runnertest.Response{"efibootmgr -v": {Stdout: out}, "efibootmgr -b *": {}}}
	b := &Bootloader{Run: fake, EFIRoot: t.TempDir()}
	removed, err := b.CleanNVRAM(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(removed, ",") != "Boot0002,Boot0003" {
		t.Errorf("removed %v, want the two disk entries only", removed)
	}
	if _, err := b.CleanNVRAM(context.Background(), []string{"("}); err == nil {
		t.Error("a bad pattern was accepted")
	}
}
