package disk

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const metaData = `{"uuid": "83679162-1378-4288-a2d4-70e13ec132aa", "hostname": "node-with-a-long-name"}`

// configDriveISO builds a config drive the way Ironic does (genisoimage
// -J -r -V config-2).
func configDriveISO(t *testing.T) []byte {
	t.Helper()
	needTool(t, "genisoimage")
	dir := t.TempDir()
	files := map[string]string{
		"openstack/latest/meta_data.json":    metaData,
		"openstack/latest/network_data.json": `{"links": []}`,
		"openstack/latest/user_data":         "#cloud-config\n",
		"ec2/2009-04-04/meta-data.json":      "{}",
	}
	for p, content := range files {
		mkdir(t, filepath.Join(dir, "src", filepath.Dir(p)))
		if err := os.WriteFile(filepath.Join(dir, "src", p), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "cd.iso")
	run(t, "genisoimage", "-o", out, "-ldots", "-allow-lowercase", "-allow-multidot", "-l",
		"-publisher", "goipa test", "-quiet", "-J", "-r", "-V", "config-2", filepath.Join(dir, "src"))
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// blkidAt probes the filesystem at byte offset off of path.
func blkidAt(t *testing.T, path string, off int64) string {
	t.Helper()
	needTool(t, "blkid")
	out, _ := runnerOutput("blkid", "-p", "-o", "export", "-O", strconv.FormatInt(off, 10), path)
	return out
}

func writeConfigDrive(t *testing.T, path string, iso []byte, opts ConfigDriveOptions) (*ConfigDrive, error) {
	t.Helper()
	d, err := Open(path, Options{AllowFile: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	return d.WriteConfigDrive(context.Background(), iso, opts)
}

func TestConfigDriveGPT(t *testing.T) {
	t.Parallel()
	iso := configDriveISO(t)
	target := newFile(t, 128<<20, 0)
	writeImage(t, target, sgdiskImage(t, 16<<20))

	cd, err := writeConfigDrive(t, target, iso, ConfigDriveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := cd.Partition
	if !cd.Created || cd.Filesystem != "iso9660" || p.Number != 3 || p.Name != "config-2" || p.Type != gptTypeLinux {
		t.Fatalf("config drive %+v", cd)
	}
	lastUsable := int64(128<<20)/512 - 34
	if p.Size > 64<<20 || p.Size < 63<<20 || (p.Start+p.Size)/512 != lastUsable+1 || p.Start%(1<<20) != 0 {
		t.Errorf("partition at %d+%d, want at most 64 MiB, 1 MiB aligned, ending at LBA %d", p.Start, p.Size, lastUsable)
	}
	if v := sgdiskVerify(t, target); !strings.Contains(v, "No problems found") {
		t.Errorf("sgdisk -v:\n%s", v)
	}
	sf := sfdiskJSON(t, target)
	if n := len(sf.PartitionTable.Partitions); n != 3 || !strings.EqualFold(sf.PartitionTable.Partitions[2].UUID, p.PartUUID) {
		t.Errorf("sfdisk sees %d partitions %+v, want the new one with uuid %s", n, sf.PartitionTable.Partitions, p.PartUUID)
	}
	if got := readBack(t, target, p.Start, len(iso)); !bytes.Equal(got, iso) {
		t.Error("ISO not written to the partition")
	}
	if id := blkidAt(t, target, p.Start); !strings.Contains(id, "TYPE=iso9660") || !strings.Contains(id, "LABEL=config-2") {
		t.Errorf("blkid on the partition:\n%s", id)
	}

	// A second deploy step finds and reuses the partition.
	again, err := writeConfigDrive(t, target, iso, ConfigDriveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if again.Created || again.Partition.Number != 3 {
		t.Errorf("second config drive %+v, want partition 3 reused", again)
	}
}

func TestConfigDriveReusesNamedGPTPartition(t *testing.T) {
	t.Parallel()
	iso := configDriveISO(t)
	target := newFile(t, 64<<20, 0)
	writeImage(t, target, sgdiskImage(t, 32<<20, "-c", "2:CONFIG-2"))
	cd, err := writeConfigDrive(t, target, iso, ConfigDriveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cd.Created || cd.Partition.Number != 2 {
		t.Errorf("config drive %+v, want the existing partition 2", cd)
	}
}

func TestConfigDriveMBR(t *testing.T) {
	t.Parallel()
	iso := configDriveISO(t)
	target := mbrDisk(t, 128<<20, ",8M,83\n,8M,83\n")
	cd, err := writeConfigDrive(t, target, iso, ConfigDriveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := cd.Partition
	if !cd.Created || p.Number != 3 || p.Type != "0x0c" || p.Start+p.Size != 128<<20 || p.Size != 64<<20 {
		t.Fatalf("config drive %+v, want partition 3 (type 0x0c) filling the last 64 MiB", cd)
	}
	sf := sfdiskJSON(t, target)
	if n := len(sf.PartitionTable.Partitions); n != 3 || sf.PartitionTable.Partitions[2].Start*512 != p.Start {
		t.Errorf("sfdisk sees %+v", sf.PartitionTable.Partitions)
	}
	if id := blkidAt(t, target, p.Start); !strings.Contains(id, "LABEL=config-2") {
		t.Errorf("blkid on the partition:\n%s", id)
	}
}

func TestConfigDriveMBRFull(t *testing.T) {
	t.Parallel()
	iso := configDriveISO(t)
	target := mbrDisk(t, 128<<20, ",8M,83\n,8M,83\n,8M,83\n,8M,83\n")
	before := readBack(t, target, 0, 1<<20)
	if _, err := writeConfigDrive(t, target, iso, ConfigDriveOptions{}); !errors.Is(err, ErrNoPartitionSlot) {
		t.Fatalf("config drive on an MBR with 4 primaries = %v, want ErrNoPartitionSlot", err)
	}
	if !bytes.Equal(readBack(t, target, 0, 1<<20), before) {
		t.Error("partition table changed although the config drive was refused")
	}
}

// On disks over 2 TiB an MBR partition must stay below the 2^32-sector limit.
func TestConfigDriveMBRLargeDisk(t *testing.T) {
	t.Parallel()
	iso := configDriveISO(t)
	target := mbrDisk(t, 3<<40, ",8M,83\n")
	cd, err := writeConfigDrive(t, target, iso, ConfigDriveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if end := cd.Partition.Start + cd.Partition.Size; end != 2<<40 || cd.Partition.Size != 64<<20 {
		t.Errorf("partition %+v ends at %d, want 64 MiB ending at 2 TiB", cd.Partition, end)
	}
}

func TestConfigDriveErrors(t *testing.T) {
	t.Parallel()
	iso := configDriveISO(t)
	full := newFile(t, 32<<20, 0)
	writeImage(t, full, sgdiskImage(t, 32<<20)) // partition 2 runs to the end

	for _, tc := range []struct {
		name   string
		target string
		data   []byte
		want   error
	}{
		{"too large", full, make([]byte, 64<<20+1), ErrConfigDriveTooLarge},
		{"no space left", full, iso, ErrNoSpace},
		{"no partition table", newFile(t, 32<<20, 0), iso, ErrNoPartitionTable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := writeConfigDrive(t, tc.target, tc.data, ConfigDriveOptions{}); !errors.Is(err, tc.want) {
				t.Fatalf("WriteConfigDrive = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestConfigDriveRebuildVFAT(t *testing.T) {
	t.Parallel()
	iso := configDriveISO(t)
	target := mbrDisk(t, 128<<20, ",8M,83\n")
	cd, err := writeConfigDrive(t, target, iso, ConfigDriveOptions{Rebuild: true})
	if err != nil {
		t.Fatal(err)
	}
	if cd.Filesystem != "vfat" {
		t.Fatalf("filesystem %s, want vfat", cd.Filesystem)
	}
	part := extractPartition(t, target, cd.Partition)
	checkVFAT(t, part, 512)
}

// extractPartition copies a partition into its own file for fsck and mtools.
func extractPartition(t *testing.T, disk string, p Partition) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "part.img")
	if err := os.WriteFile(out, readBack(t, disk, p.Start, int(p.Size)), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkVFAT checks a rebuilt config drive with blkid, fsck.vfat and mtools.
func checkVFAT(t *testing.T, part string, sectorSize int) {
	t.Helper()
	needTool(t, "fsck.vfat")
	needTool(t, "mtype")
	id := blkidAt(t, part, 0)
	for _, want := range []string{"TYPE=vfat", "LABEL=CONFIG-2", "BLOCK_SIZE=" + strconv.Itoa(sectorSize)} {
		if !strings.Contains(id, want) {
			t.Errorf("blkid lacks %s:\n%s", want, id)
		}
	}
	if out, err := runnerOutput("fsck.vfat", "-n", part); err != nil {
		t.Errorf("fsck.vfat -n: %v\n%s", err, out)
	}
	if got, err := runnerOutput("mtype", "-i", part, "::openstack/latest/meta_data.json"); err != nil || got != metaData {
		t.Errorf("meta_data.json via mtools = %q, %v", got, err)
	}
}
