package erase

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/goipa/goipa/hardware/ata"
	"github.com/goipa/goipa/hardware/nvme"
	"github.com/goipa/goipa/internal/runner"
)

// Tests on real block devices: loop devices over sparse files in
// t.TempDir() (root only; newLoop refuses anything else).

// partDev names partition n of a loop device.
func partDev(dev string, n int) string { return dev + "p" + strconv.Itoa(n) }

// syncParts makes the kernel's partitions of dev match its table with
// partx (BLKPG), as kernels built without partition parsers need, and
// waits for partitions n to appear.
func syncParts(t testing.TB, dev string, n ...int) {
	t.Helper()
	needTool(t, "partx")
	output("partx", "--delete", dev) // fails when there is nothing to delete
	run(t, "partx", "--add", dev)
	for _, i := range n {
		waitFor(t, partDev(dev, i))
	}
}

func waitFor(t testing.TB, path string) {
	t.Helper()
	for range 100 {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s did not appear", path)
}

// kernelParts returns the partitions the kernel knows on a loop device,
// as byte ranges (sysfs counts 512-byte units).
func kernelParts(t testing.TB, dev string) []span {
	t.Helper()
	name := filepath.Base(dev)
	dirs, _ := filepath.Glob(filepath.Join("/sys/block", name, name+"p*"))
	var out []span
	for _, d := range dirs {
		start, err1 := strconv.ParseInt(readTrim(filepath.Join(d, "start")), 10, 64)
		size, err2 := strconv.ParseInt(readTrim(filepath.Join(d, "size")), 10, 64)
		must(t, errors.Join(err1, err2))
		out = append(out, span{start * 512, size * 512})
	}
	return out
}

// probe returns what blkid -p finds in [off, off+size) of dev ("" for
// nothing; blkid exits 2 then).
func probe(t testing.TB, dev string, off, size int64) string {
	t.Helper()
	out, err := output("blkid", "-p", "-o", "export", "-O", strconv.FormatInt(off, 10), "-S", strconv.FormatInt(size, 10), dev)
	var ee *runner.ExitError
	if errors.As(err, &ee) && ee.ExitCode == 2 {
		return ""
	}
	must(t, err)
	return out
}

func wipefsList(t testing.TB, dev string) string {
	t.Helper()
	return strings.TrimSpace(run(t, "wipefs", "--no-act", dev))
}

// middle hashes the parts of each range that Metadata must leave alone:
// past the deep spots at the start, before the last MiB and a bit.
func middle(t testing.TB, dev string, ranges []span) [][32]byte {
	t.Helper()
	var out [][32]byte
	for _, r := range ranges {
		lo, hi := r.off+4<<20+spot, r.off+r.n-tailSpot
		if hi-lo < 1<<20 {
			t.Fatalf("range %+v too small to have a middle", r)
		}
		out = append(out, sha256.Sum256(readAt(t, dev, lo, int(hi-lo))))
	}
	return out
}

// fillMiddle writes a recognisable pattern into each range's middle, so
// "untouched" is not vacuously true of zeros.
func fillMiddle(t testing.TB, dev string, ranges []span) {
	t.Helper()
	for _, r := range ranges {
		lo := r.off + 4<<20 + spot
		n := min(r.n-4<<20-spot-tailSpot, 1<<20)
		writeAt(t, dev, lo+(r.n-4<<20-spot-tailSpot-n)/2/4096*4096, bytes.Repeat([]byte("goipa-keep-me\n"), int(n)/14))
	}
}

// checkErased asserts that neither wipefs nor blkid finds anything on dev
// or where the given partitions were, and that the kernel dropped them.
func checkErased(t *testing.T, dev string, size int64, former []span) {
	t.Helper()
	if out := wipefsList(t, dev); out != "" {
		t.Errorf("wipefs --no-act %s after Metadata:\n%s", dev, out)
	}
	if out := probe(t, dev, 0, size); out != "" {
		t.Errorf("blkid -p %s after Metadata:\n%s", dev, out)
	}
	for _, p := range former {
		if out := probe(t, dev, p.off, p.n); out != "" {
			t.Errorf("blkid -p at %d (+%d) after Metadata:\n%s", p.off, p.n, out)
		}
	}
	if k := kernelParts(t, dev); len(k) != 0 {
		t.Errorf("kernel still has partitions %v", k)
	}
}

func TestLoopMetadataGPT(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"sgdisk", "wipefs", "blkid", "mkfs.ext4", "mkfs.vfat", "mkswap", "genisoimage"} {
		needTool(t, tool)
	}
	const size = 160 << 20
	dev, _ := newLoop(t, size, 512)
	run(t, "sgdisk", "-n", "1:0:+24M", "-n", "2:0:+24M", "-n", "3:0:+16M", "-n", "4:0:+24M", "-n", "5:0:+20M", "-t", "5:fd00", dev)
	syncParts(t, dev, 1, 2, 3, 4, 5)
	run(t, "mkfs.ext4", "-q", "-F", partDev(dev, 1))
	run(t, "mkfs.vfat", partDev(dev, 2))
	run(t, "mkswap", partDev(dev, 3))
	iso := filepath.Join(t.TempDir(), "cd.iso")
	src := t.TempDir()
	must(t, os.WriteFile(filepath.Join(src, "meta_data.json"), []byte(`{"uuid": "x"}`), 0o644))
	run(t, "genisoimage", "-quiet", "-o", iso, "-V", "config-2", "-r", "-J", src)
	isoData, err := os.ReadFile(iso)
	must(t, err)
	writeAt(t, partDev(dev, 4), 0, isoData)
	parts := kernelParts(t, dev)
	md := parts[4]
	sbOff := (md.n/512 - 16) &^ 7 * 512 // md 1.0: 8 KiB from the end, 4 KiB aligned
	writeAt(t, dev, md.off+sbOff, mdSuper1(md.n, 1, sbOff))

	want := map[int]string{0: "ext4", 1: "vfat", 2: "swap", 3: "iso9660", 4: "linux_raid_member"}
	for i, p := range parts {
		if got := probe(t, dev, p.off, p.n); !strings.Contains(got, "TYPE="+want[i]) {
			t.Fatalf("partition %d before the erase: blkid found %q, want TYPE=%s (test setup broken)", i+1, got, want[i])
		}
	}
	if out := wipefsList(t, dev); !strings.Contains(out, "gpt") || !strings.Contains(out, "PMBR") {
		t.Fatalf("wipefs before the erase:\n%s", out)
	}
	fillMiddle(t, dev, parts)
	before := middle(t, dev, parts)

	if err := Metadata(context.Background(), Device{Path: dev}, testOptions(t)); err != nil {
		t.Fatal(err)
	}
	checkErased(t, dev, size, parts)
	if after := middle(t, dev, parts); !equalHashes(before, after) {
		t.Error("data in the middle of the partitions changed: Metadata must only zero signature areas")
	}
}

func equalHashes(a, b [][32]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestLoopMetadataMBRLogical(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"sfdisk", "wipefs", "blkid", "mkfs.ext4", "mkswap"} {
		needTool(t, tool)
	}
	const size = 96 << 20
	dev, _ := newLoop(t, size, 512)
	runInput(t, "label: dos\n,16M,83\n,,E\n,24M,L\n,16M,S\n,,L\n", "sfdisk", "--quiet", dev)
	syncParts(t, dev, 1, 5, 6, 7)
	run(t, "mkfs.ext4", "-q", "-F", partDev(dev, 1))
	run(t, "mkfs.ext4", "-q", "-F", partDev(dev, 5))
	run(t, "mkswap", partDev(dev, 6))
	run(t, "mkfs.ext4", "-q", "-F", partDev(dev, 7))
	parts := kernelParts(t, dev)
	if out := wipefsList(t, dev); !strings.Contains(out, "dos") {
		t.Fatalf("wipefs before the erase:\n%s", out)
	}
	// Metadata needs 5 MiB of margin per range to call the rest "middle";
	// the extended partition's entry in sysfs is 1 KiB long.
	var big []span
	for _, p := range parts {
		if p.n > 8<<20 {
			big = append(big, p)
		}
	}
	fillMiddle(t, dev, big)
	before := middle(t, dev, big)
	if err := Metadata(context.Background(), Device{Path: dev}, testOptions(t)); err != nil {
		t.Fatal(err)
	}
	checkErased(t, dev, size, parts)
	if after := middle(t, dev, big); !equalHashes(before, after) {
		t.Error("data in the middle of the partitions changed")
	}
}

func TestLoopMetadata4K(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"sgdisk", "wipefs", "blkid", "mkfs.ext4"} {
		needTool(t, tool)
	}
	const size = 96 << 20
	dev, _ := newLoop(t, size, 4096)
	run(t, "sgdisk", "-n", "1:0:+32M", "-n", "2:0:+32M", dev)
	syncParts(t, dev, 1, 2)
	run(t, "mkfs.ext4", "-q", "-F", partDev(dev, 1))
	run(t, "mkfs.ext4", "-q", "-F", "-b", "4096", partDev(dev, 2))
	parts := kernelParts(t, dev)
	if b := readAt(t, dev, size-4096, 8); string(b) != "EFI PART" {
		t.Fatalf("no backup GPT header in the last 4 KiB sector before the erase: %q", b)
	}
	if err := Metadata(context.Background(), Device{Path: dev}, testOptions(t)); err != nil {
		t.Fatal(err)
	}
	checkErased(t, dev, size, parts)
}

// mdSuper1 builds an md v1.x superblock for a member of size bytes whose
// superblock sits at byte offset off: what mdadm --create writes, minus
// the parts blkid does not read.
func mdSuper1(size, level int64, off int64) []byte {
	const maxDev = 2
	b := make([]byte, 256+2*maxDev)
	le := binary.LittleEndian
	le.PutUint32(b[0:], 0xa92b4efc)
	le.PutUint32(b[4:], 1)
	copy(b[16:32], "goipa-erase-test")
	copy(b[32:64], "goipa:0")
	le.PutUint32(b[72:], uint32(level))
	le.PutUint32(b[92:], 2) // raid_disks
	le.PutUint64(b[128:], 2048)
	le.PutUint64(b[136:], uint64(size/512-4096))
	le.PutUint64(b[144:], uint64(off/512)) // super_offset: where this superblock is
	copy(b[168:184], "goipa-member-0-0")
	le.PutUint32(b[220:], maxDev)
	var sum uint64
	for i := 0; i+4 <= len(b); i += 4 {
		sum += uint64(le.Uint32(b[i:]))
	}
	le.PutUint32(b[216:], uint32(sum&0xffffffff+sum>>32))
	return b
}

// mdSuper090 builds an md v0.90 superblock (native little-endian).
func mdSuper090() []byte {
	b := make([]byte, 4096)
	le := binary.LittleEndian
	le.PutUint32(b[0:], 0xa92b4efc)
	le.PutUint32(b[4:], 0)
	le.PutUint32(b[8:], 90)
	le.PutUint32(b[20:], 0x1234abcd)
	le.PutUint32(b[28:], 1) // level
	le.PutUint32(b[36:], 2) // nr_disks
	le.PutUint32(b[40:], 2) // raid_disks
	le.PutUint32(b[52:], 0x5678)
	return b
}

func TestLoopMetadataMD(t *testing.T) {
	t.Parallel()
	needTool(t, "wipefs")
	needTool(t, "blkid")
	const size = 64<<20 + 5*4096 // not 64 KiB-aligned: 0.90's offset rounds down
	for _, tt := range []struct {
		version string
		off     int64
		sb      []byte
	}{
		{"0.90", size&^(64<<10-1) - 64<<10, mdSuper090()},
		{"1.0", (size/512 - 16) &^ 7 * 512, mdSuper1(size, 1, (size/512-16)&^7*512)},
		{"1.1", 0, mdSuper1(size, 1, 0)},
		{"1.2", 4096, mdSuper1(size, 1, 4096)},
	} {
		t.Run(tt.version, func(t *testing.T) {
			t.Parallel()
			dev, _ := newLoop(t, size, 512)
			writeAt(t, dev, tt.off, tt.sb)
			if got := probe(t, dev, 0, size); !strings.Contains(got, "TYPE=linux_raid_member") {
				t.Fatalf("blkid does not see the md %s superblock before the erase (test setup broken): %q", tt.version, got)
			}
			fillMiddle(t, dev, []span{{0, size}})
			before := middle(t, dev, []span{{0, size}})
			if err := Metadata(context.Background(), Device{Path: dev}, testOptions(t)); err != nil {
				t.Fatal(err)
			}
			checkErased(t, dev, size, nil)
			if !equalHashes(before, middle(t, dev, []span{{0, size}})) {
				t.Error("data in the middle of the disk changed")
			}
		})
	}
}

// With a kernel that has md, a real array: created on two loop devices,
// stopped, then erased.
func TestLoopMetadataMdadm(t *testing.T) {
	t.Parallel()
	needTool(t, "mdadm")
	if _, err := os.Stat("/proc/mdstat"); err != nil {
		t.Skip("kernel without md RAID")
	}
	for _, meta := range []string{"1.0", "0.90"} {
		t.Run(meta, func(t *testing.T) {
			a, _ := newLoop(t, 32<<20, 512)
			b, _ := newLoop(t, 32<<20, 512)
			md := freeMD(t)
			if out, err := output("mdadm", "--create", md, "--run", "--metadata="+meta, "--level=1", "--raid-devices=2", "--assume-clean", a, b); err != nil {
				t.Skipf("mdadm --create: %v\n%s", err, out)
			}
			stopped := false
			t.Cleanup(func() {
				if !stopped {
					output("mdadm", "--stop", md)
				}
			})
			if err := Metadata(context.Background(), Device{Path: a}, testOptions(t)); !errors.Is(err, ErrRAIDMember) {
				t.Errorf("Metadata of an active member = %v, want ErrRAIDMember", err)
			}
			run(t, "mdadm", "--stop", md)
			stopped = true
			for _, dev := range []string{a, b} {
				if err := Metadata(context.Background(), Device{Path: dev}, testOptions(t)); err != nil {
					t.Fatal(err)
				}
				checkErased(t, dev, 32<<20, nil)
				if out, err := output("mdadm", "--examine", dev); err == nil {
					t.Errorf("mdadm --examine %s still finds a superblock:\n%s", dev, out)
				}
			}
		})
	}
}

// freeMD picks an md device name no array uses, high enough to keep clear
// of the host's own arrays.
func freeMD(t *testing.T) string {
	for n := 90; n < 127; n++ {
		if _, err := os.Stat(filepath.Join("/sys/block", "md"+strconv.Itoa(n))); err != nil {
			return "/dev/md" + strconv.Itoa(n)
		}
	}
	t.Skip("no free md device number")
	return ""
}

// fill writes b over the whole device.
func fill(t testing.TB, dev string, size int64, b byte) {
	t.Helper()
	writeAt(t, dev, 0, bytes.Repeat([]byte{b}, int(size)))
}

// looksRandom: no all-zero or all-fill sector and an even byte histogram.
func looksRandom(t *testing.T, data []byte, fillByte byte) {
	t.Helper()
	var counts [256]int
	for _, c := range data {
		counts[c]++
	}
	mean := len(data) / 256
	for v, n := range counts {
		if n < mean*9/10 || n > mean*11/10 {
			t.Fatalf("byte %#x occurs %d times, expected about %d: not random", v, n, mean)
		}
	}
	for off := 0; off < len(data); off += 512 {
		s := data[off : off+512]
		if zeroBytes(s) || len(bytes.Trim(s, string([]byte{fillByte}))) == 0 {
			t.Fatalf("sector at %d was not overwritten", off)
		}
	}
}

func TestLoopOverwrite(t *testing.T) {
	t.Parallel()
	const size = 24<<20 + 3*512 // a partial last chunk, 512-byte aligned only
	dev, _ := newLoop(t, size, 512)
	ctx := context.Background()

	fill(t, dev, size, 0xa5)
	o := testOptions(t)
	o.Iterations, o.Zeroize = 1, false // a loop device answers no ATA IDENTIFY: overwrite
	res, err := Devices(ctx, []Device{{Path: dev}}, o)
	if err != nil || res[0].Method != MethodOverwrite {
		t.Fatalf("Devices = %+v, %v", res, err)
	}
	first := readAt(t, dev, 0, size)
	looksRandom(t, first, 0xa5)

	_, err = Devices(ctx, []Device{{Path: dev}}, o)
	must(t, err)
	if bytes.Equal(first[:1<<20], readAt(t, dev, 0, 1<<20)) {
		t.Error("two random passes wrote the same data: the stream is not freshly seeded")
	}

	var reports []Progress
	o.Iterations, o.Zeroize = 2, true
	o.Progress = func(p Progress) { reports = append(reports, p) }
	if _, err := Devices(ctx, []Device{{Path: dev}}, o); err != nil {
		t.Fatal(err)
	}
	if !zeroBytes(readAt(t, dev, 0, size)) {
		t.Error("device not all zeros after the zero pass")
	}
	last := reports[len(reports)-1]
	if last != (Progress{Device: dev, Method: MethodOverwrite, Pass: 3, Passes: 3, Done: 3 * size, Total: 3 * size}) {
		t.Errorf("last progress %+v", last)
	}
	for i := 1; i < len(reports); i++ {
		if reports[i].Done < reports[i-1].Done || reports[i].Pass < reports[i-1].Pass {
			t.Errorf("progress went backwards: %+v after %+v", reports[i], reports[i-1])
		}
	}

	o.Iterations, o.Zeroize, o.Progress = 0, false, nil
	if _, err := Devices(ctx, []Device{{Path: dev}}, o); !errors.Is(err, ErrNothingToWrite) {
		t.Errorf("Devices with nothing to write = %v, want ErrNothingToWrite", err)
	}
}

func TestLoopDevicesConcurrent(t *testing.T) {
	t.Parallel()
	const size = 8 << 20
	var devs []Device
	for range 3 {
		dev, _ := newLoop(t, size, 512)
		fill(t, dev, size, 0x5a)
		devs = append(devs, Device{Path: dev})
	}
	o := testOptions(t)
	o.Concurrency = 2
	res, err := Devices(context.Background(), devs, o)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range devs {
		if res[i].Device != d.Path || res[i].Method != MethodOverwrite {
			t.Errorf("result %d = %+v", i, res[i])
		}
		if !zeroBytes(readAt(t, d.Path, 0, size)) {
			t.Errorf("%s not zeroed", d.Path)
		}
	}
}

func TestLoopSecureEraseFallback(t *testing.T) {
	t.Parallel()
	const size = 8 << 20
	ctx := context.Background()
	dev, _ := newLoop(t, size, 512)
	nvmeDev := Device{Path: dev, Tran: "nvme"}
	drive := func(formatErr error) func(int) nvme.Device {
		return func(int) nvme.Device { return &nvmeDrive{oacs: 0x02, fna: 0x04, formatErr: formatErr} }
	}
	failure := fmt.Errorf("%w: status 0x286 (access denied)", nvme.ErrStatus)

	fill(t, dev, size, 0x77)
	o := testOptions(t)
	var reports []Progress
	o.NVMe, o.Progress = drive(nil), func(p Progress) { reports = append(reports, p) }
	res, err := Devices(ctx, []Device{nvmeDev}, o)
	if err != nil || res[0].Method != MethodNVMeCrypto {
		t.Fatalf("Devices = %+v, %v; want an NVMe crypto erase", res, err)
	}
	if len(reports) != 2 || reports[0].Done != 0 || reports[1].Done != size || reports[1].Method != MethodNVMeCrypto {
		t.Errorf("progress %+v, want start and end of the format", reports)
	}
	if b := readAt(t, dev, 0, 4096); b[0] != 0x77 {
		t.Error("the agent wrote to the disk although the drive erased itself")
	}

	o.NVMe, o.Progress = drive(failure), nil
	_, err = Devices(ctx, []Device{nvmeDev}, o)
	if !errors.Is(err, ErrSecureErase) || !strings.Contains(err.Error(), "access denied") || !strings.Contains(err.Error(), "not enabled") {
		t.Fatalf("Devices with a failing format = %v, want ErrSecureErase", err)
	}
	if b := readAt(t, dev, 0, 4096); b[0] != 0x77 {
		t.Error("the disk was overwritten although falling back is not enabled")
	}

	o.ContinueIfSecureEraseFailed = true
	res, err = Devices(ctx, []Device{nvmeDev}, o)
	if err != nil || res[0].Method != MethodOverwrite {
		t.Fatalf("Devices with fallback = %+v, %v; want overwrite", res, err)
	}
	if !zeroBytes(readAt(t, dev, 0, size)) {
		t.Error("not zeroed by the fallback")
	}

	o.EnableNVMeSecureErase, o.ContinueIfSecureEraseFailed = false, false
	asked := false
	o.NVMe = func(int) nvme.Device { asked = true; return &nvmeDrive{} }
	fill(t, dev, size, 0x77)
	if res, err := Devices(ctx, []Device{nvmeDev}, o); err != nil || res[0].Method != MethodOverwrite {
		t.Fatalf("Devices with NVMe erase disabled = %+v, %v; want overwrite", res, err)
	}
	if asked {
		t.Error("the drive was sent commands although NVMe secure erase is disabled")
	}
}

func TestLoopExpress(t *testing.T) {
	t.Parallel()
	needTool(t, "sgdisk")
	needTool(t, "wipefs")
	const size = 32 << 20
	ctx := context.Background()
	plain, _ := newLoop(t, size, 512)
	nvmeDev, _ := newLoop(t, size, 512)
	for _, dev := range []string{plain, nvmeDev} {
		run(t, "sgdisk", "-n", "1:0:+8M", dev)
	}
	o := testOptions(t)
	ataAsked := false
	o.ATA = func(int) ata.Device { ataAsked = true; return &ataDrive{} }
	noFormat := &nvmeDrive{oacs: 0x00}
	o.NVMe = func(int) nvme.Device { return noFormat }
	res, err := Express(ctx, []Device{{Path: plain}, {Path: nvmeDev, Tran: "nvme"}}, o)
	if err != nil {
		t.Fatal(err)
	}
	for i, dev := range []string{plain, nvmeDev} {
		if res[i].Method != MethodMetadata {
			t.Errorf("%s: method %q, want metadata", dev, res[i].Method)
		}
		if out := wipefsList(t, dev); out != "" {
			t.Errorf("wipefs %s after Express:\n%s", dev, out)
		}
	}
	if ataAsked {
		t.Error("the disks were sent ATA commands: there is no ATA erase in express mode")
	}

	formattable := &nvmeDrive{oacs: 0x02}
	o.NVMe = func(int) nvme.Device { return formattable }
	if res, err := Express(ctx, []Device{{Path: nvmeDev, Tran: "nvme"}}, o); err != nil || res[0].Method != MethodNVMeUserData {
		t.Errorf("Express of a formattable NVMe = %+v, %v", res, err)
	}
	if len(formattable.formats) != 1 {
		t.Errorf("Format NVM sent %d times, want once", len(formattable.formats))
	}
}

func TestLoopRefusesMounted(t *testing.T) {
	t.Parallel()
	needTool(t, "sgdisk")
	needTool(t, "mkfs.ext4")
	needTool(t, "mount")
	dev, _ := newLoop(t, 64<<20, 512)
	run(t, "sgdisk", "-n", "1:0:+16M", "-n", "2:0:+16M", dev)
	syncParts(t, dev, 1, 2)
	run(t, "mkfs.ext4", "-q", "-F", partDev(dev, 2))
	mnt := t.TempDir()
	if out, err := output("mount", "-o", "ro", partDev(dev, 2), mnt); err != nil {
		t.Skipf("cannot mount here: %v\n%s", err, out)
	}
	t.Cleanup(func() { run(t, "umount", mnt) })
	ctx := context.Background()
	o := testOptions(t)
	wantErr := func(name string, err error) {
		t.Helper()
		if !errors.Is(err, ErrMounted) || !strings.Contains(err.Error(), mnt) {
			t.Errorf("%s of a disk with a mounted partition = %v, want ErrMounted naming %s", name, err, mnt)
		}
	}
	wantErr("Metadata", Metadata(ctx, Device{Path: dev}, o))
	_, err := Devices(ctx, []Device{{Path: dev}}, o)
	wantErr("Devices", err)
	_, err = Express(ctx, []Device{{Path: dev}}, o)
	wantErr("Express", err)
	if !strings.Contains(wipefsList(t, dev), "gpt") {
		t.Error("the partition table is gone although the erase was refused")
	}
	// Even past Check, the exclusive open refuses.
	if _, err := openBlock(dev); !errors.Is(err, ErrHeld) {
		t.Errorf("openBlock = %v, want ErrHeld", err)
	}
}

func TestLoopReadOnly(t *testing.T) {
	t.Parallel()
	dev, _ := newLoop(t, 32<<20, 512, "--read-only")
	ctx := context.Background()
	o := testOptions(t)
	if err := Metadata(ctx, Device{Path: dev}, o); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Metadata = %v, want ErrReadOnly", err)
	}
	if _, err := Devices(ctx, []Device{{Path: dev}}, o); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Devices = %v, want ErrReadOnly", err)
	}
	for name, fn := range map[string]func(context.Context, []Device, Options) ([]Result, error){
		"MetadataDevices": MetadataDevices, "Express": Express,
	} {
		if res, err := fn(ctx, []Device{{Path: dev}}, o); err != nil || !errors.Is(res[0].Skipped, ErrReadOnly) {
			t.Errorf("%s = %+v, %v; want skipped as read-only", name, res, err)
		}
	}
	o.SkipReadOnly = true
	if res, err := Devices(ctx, []Device{{Path: dev}}, o); err != nil || !errors.Is(res[0].Skipped, ErrReadOnly) {
		t.Errorf("Devices with SkipReadOnly = %+v, %v; want skipped", res, err)
	}
}

func TestLoopRefusesExclusivelyOpen(t *testing.T) {
	t.Parallel()
	dev, _ := newLoop(t, 8<<20, 512)
	f, err := os.OpenFile(dev, os.O_RDONLY|unix.O_EXCL, 0)
	must(t, err)
	defer f.Close()
	if err := Metadata(context.Background(), Device{Path: dev}, testOptions(t)); !errors.Is(err, ErrHeld) {
		t.Errorf("Metadata of an exclusively opened device = %v, want ErrHeld", err)
	}
}
