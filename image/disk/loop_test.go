package disk

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/goipa/goipa/internal/runner"
)

// Tests on real block devices: loop devices over files in t.TempDir() (root
// only; newLoop refuses anything that is not such a loop device).

func TestLoopWriter(t *testing.T) {
	t.Parallel()
	img := testImage(40<<20-123, 2)
	for _, zero := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "prepare-zero"}[zero], func(t *testing.T) {
			dev, backing := newLoop(t, 64<<20, 512, garbage)
			d, err := Open(dev, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !d.Direct() || d.SectorSize() != 512 || d.Size() != 64<<20 {
				t.Errorf("direct=%v sector=%d size=%d", d.Direct(), d.SectorSize(), d.Size())
			}
			d.Close()
			st := writeAndCheck(t, dev, img, zero, 0)
			if zero {
				if st.Skipped == 0 {
					t.Error("nothing skipped after PrepareZero")
				}
				if a := allocated(t, backing); a > st.Written+(1<<20) {
					t.Errorf("backing file has %d bytes allocated for %d written: not sparse", a, st.Written)
				}
			}
		})
	}
}

func TestLoopRefusesBusyDevice(t *testing.T) {
	t.Parallel()
	dev, _ := newLoop(t, 16<<20, 512, 0)
	f, err := os.OpenFile(dev, os.O_RDONLY|unix.O_EXCL, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dev, Options{}); !errors.Is(err, ErrHeld) {
		t.Errorf("Open of an exclusively opened device = %v, want ErrHeld", err)
	}
	f.Close()
	d, err := Open(dev, Options{})
	if err != nil {
		t.Fatalf("Open after release: %v", err)
	}
	d.Close()
}

func TestLoopRefusesMountedPartition(t *testing.T) {
	t.Parallel()
	needTool(t, "mkfs.ext4")
	needTool(t, "mount")
	dev, _ := newLoop(t, 64<<20, 512, 0)
	if _, err := runnerInput("label: gpt\n,16M\n,16M\n", "sfdisk", "--quiet", dev); err != nil {
		t.Skipf("sfdisk: %v", err)
	}
	d, err := Open(dev, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.RereadPartitions(); err != nil {
		t.Fatal(err)
	}
	d.Close()
	part := dev + "p2"
	waitFor(t, part)
	run(t, "mkfs.ext4", "-q", part)
	mnt := t.TempDir()
	if _, err := runnerOutput("mount", "-o", "ro", part, mnt); err != nil {
		t.Skipf("cannot mount here: %v", err)
	}
	t.Cleanup(func() { run(t, "umount", mnt) })
	_, err = Open(dev, Options{})
	if !errors.Is(err, ErrMounted) || !strings.Contains(err.Error(), mnt) {
		t.Errorf("Open of a disk with a mounted partition = %v, want ErrMounted naming %s", err, mnt)
	}
}

func TestLoopFixGPTAndPartitionUUIDs(t *testing.T) {
	t.Parallel()
	dev, _ := newLoop(t, 64<<20, 512, 0)
	writeImage(t, dev, sgdiskImage(t, 16<<20))
	d, err := Open(dev, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.FixGPT(); err != nil {
		t.Fatal(err)
	}
	if err := d.RereadPartitions(); err != nil {
		t.Fatal(err)
	}
	if v := sgdiskVerify(t, dev); !strings.Contains(v, "No problems found") {
		t.Errorf("sgdisk -v:\n%s", v)
	}
	tbl, err := d.Partitions()
	if err != nil {
		t.Fatal(err)
	}
	if id := strings.TrimSpace(run(t, "blkid", "-p", "-s", "PTUUID", "-o", "value", dev)); id != tbl.ID {
		t.Errorf("blkid PTUUID %s, table ID %s", id, tbl.ID)
	}
	u, err := d.PartitionUUIDs()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range tbl.Partitions {
		waitFor(t, p.Device)
		got := strings.TrimSpace(run(t, "blkid", "-p", "-s", "PART_ENTRY_UUID", "-o", "value", p.Device))
		if got != u.Partitions[p.Device] {
			t.Errorf("%s: blkid PART_ENTRY_UUID %s, PartitionUUIDs %s", p.Device, got, u.Partitions[p.Device])
		}
		size := strings.TrimSpace(run(t, "cat", filepath.Join("/sys/class/block", filepath.Base(p.Device), "size")))
		if size != strconv.FormatInt(p.Size/512, 10) {
			t.Errorf("kernel sees %s with %s sectors, table says %d", p.Device, size, p.Size/512)
		}
	}
}

func TestLoop4KConfigDriveIsVFAT(t *testing.T) {
	t.Parallel()
	needTool(t, "sgdisk")
	iso := configDriveISO(t)
	dev, _ := newLoop(t, 128<<20, 4096, 0)
	run(t, "sgdisk", "-n", "1:0:+8M", "-t", "1:8300", dev)
	d, err := Open(dev, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d.SectorSize() != 4096 {
		t.Fatalf("sector size %d, want 4096", d.SectorSize())
	}
	cd, err := d.WriteConfigDrive(context.Background(), iso, ConfigDriveOptions{})
	d.Close()
	if err != nil {
		t.Fatal(err)
	}
	if cd.Filesystem != "vfat" || cd.Partition.Device != dev+"p2" {
		t.Fatalf("config drive %+v, want vfat on %sp2", cd, dev)
	}
	waitFor(t, cd.Partition.Device)
	if v := sgdiskVerify(t, dev); !strings.Contains(v, "No problems found") {
		t.Errorf("sgdisk -v:\n%s", v)
	}
	checkVFAT(t, cd.Partition.Device, 4096)

	// mtools reads the file system as cloud-init's vfat reader would, with
	// no kernel vfat driver needed (this host's kernel has none).
	out, err := runner.Exec{}.Run(context.Background(), runner.Cmd{Name: "mtype",
		Args: []string{"-i", cd.Partition.Device, "::openstack/latest/meta_data.json"}, Env: []string{"MTOOLS_SKIP_CHECK=1"}})
	if err != nil || string(out) != metaData {
		t.Errorf("meta_data.json on the config drive = %q, %v", out, err)
	}
}

// A GPT made for 512-byte sectors on a 4Kn disk is invisible to firmware and
// kernel; say so instead of "no partition table".
func TestLoop4KSectorMismatch(t *testing.T) {
	t.Parallel()
	dev, _ := newLoop(t, 64<<20, 4096, 0)
	writeImage(t, dev, sgdiskImage(t, 16<<20))
	d, err := Open(dev, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.FixGPT(); !errors.Is(err, ErrSectorSizeMismatch) {
		t.Errorf("FixGPT = %v, want ErrSectorSizeMismatch", err)
	}
	if _, err := d.PartitionUUIDs(); !errors.Is(err, ErrSectorSizeMismatch) {
		t.Errorf("PartitionUUIDs = %v, want ErrSectorSizeMismatch", err)
	}
}

// BenchmarkWriteVsDD compares Writer with dd on a loop device; run with
// `go test -run XXX -bench WriteVsDD -benchtime 1x ./image/disk` as root.
// GOIPA_BENCH_MB sets the data size (default 1024).
func BenchmarkWriteVsDD(b *testing.B) {
	size := int64(1024)
	if v := os.Getenv("GOIPA_BENCH_MB"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatal(err)
		}
		size = int64(n)
	}
	size <<= 20
	dev, _ := newLoop(b, size, 512, 0)
	res, err := BenchWrite(context.Background(), runner.Exec{}, dev, size)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(res.WriterMBps(), "writer-MB/s")
	b.ReportMetric(res.DDMBps(), "dd-MB/s")
	b.ReportMetric(res.Ratio(), "ratio")
}

func waitFor(t *testing.T, path string) {
	t.Helper()
	for range 50 {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s did not appear", path)
}
