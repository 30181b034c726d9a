package image

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goipa/goipa/tstest/looptest"
)

func TestPlanLayout(t *testing.T) {
	const gib = 1 << 30
	type part struct {
		role       string
		start, mib int64
	}
	tests := []struct {
		name    string
		spec    layoutSpec
		size    int64
		sector  int
		want    []part
		wantErr string
	}{
		{name: "bios msdos root only", spec: layoutSpec{BootMode: "bios", Label: "msdos", RootMB: 100}, size: gib, sector: 512,
			want: []part{{roleRoot, 1, 100}}},
		{name: "bios msdos all", spec: layoutSpec{BootMode: "bios", Label: "msdos", RootMB: 100, SwapMB: 16, EphemeralMB: 32, ConfigDrive: 1},
			size: gib, sector: 512, want: []part{{roleEphemeral, 1, 32}, {roleSwap, 33, 16}, {roleConfigDrive, 49, 1}, {roleRoot, 50, 100}}},
		{name: "bios gpt has BIOS boot", spec: layoutSpec{BootMode: "bios", Label: "gpt", RootMB: 100, SwapMB: 16}, size: gib, sector: 512,
			want: []part{{roleBIOSBoot, 1, 1}, {roleSwap, 2, 16}, {roleRoot, 18, 100}}},
		{name: "uefi ESP first, config drive rounded up to MiB", spec: layoutSpec{BootMode: "uefi", Label: "gpt", RootMB: 100, ConfigDrive: mib + 1},
			size: gib, sector: 4096, want: []part{{roleESP, 1, 550}, {roleConfigDrive, 551, 2}, {roleRoot, 553, 100}}},
		{name: "efi_system_partition_size and bios_boot_partition_size", spec: layoutSpec{BootMode: "uefi", Label: "gpt", RootMB: 100, ESPSize: 100 * mib},
			size: gib, sector: 512, want: []part{{roleESP, 1, 100}, {roleRoot, 101, 100}}},
		{name: "bios_boot_partition_size", spec: layoutSpec{BootMode: "bios", Label: "gpt", RootMB: 100, BIOSBootSize: 2 * mib},
			size: gib, sector: 512, want: []part{{roleBIOSBoot, 1, 2}, {roleRoot, 3, 100}}},
		{name: "gpt exact fit leaves the backup GPT room", spec: layoutSpec{BootMode: "bios", Label: "gpt", RootMB: 1021}, size: 1024 * mib, sector: 512,
			want: []part{{roleBIOSBoot, 1, 1}, {roleRoot, 2, 1021}}},
		{name: "gpt one MiB too many", spec: layoutSpec{BootMode: "bios", Label: "gpt", RootMB: 1022}, size: 1024 * mib, sector: 512,
			wantErr: "the partitions need 1024 MiB"},
		{name: "msdos fills the disk", spec: layoutSpec{BootMode: "bios", Label: "msdos", RootMB: 1023}, size: 1024 * mib, sector: 512,
			want: []part{{roleRoot, 1, 1023}}},
		{name: "too small", spec: layoutSpec{BootMode: "uefi", Label: "gpt", RootMB: 1024}, size: gib, sector: 512,
			wantErr: "efi system partition 550 MiB, root 1024 MiB"},
		{name: "root_mb zero", spec: layoutSpec{BootMode: "bios", Label: "msdos"}, size: gib, sector: 512, wantErr: "root_mb must be positive"},
		{name: "negative swap", spec: layoutSpec{BootMode: "bios", Label: "msdos", RootMB: 1, SwapMB: -1}, size: gib, sector: 512, wantErr: "negative"},
		{name: "msdos beyond 2 TiB", spec: layoutSpec{BootMode: "bios", Label: "msdos", RootMB: 3 << 20}, size: 4 << 40, sector: 512,
			wantErr: "usable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := planLayout(tt.spec, tt.size, tt.sector)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrLayout) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want ErrLayout containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(l.Parts) != len(tt.want) {
				t.Fatalf("got %s, want %v", l.describe(), tt.want)
			}
			for i, w := range tt.want {
				p := l.Parts[i]
				if p.Role != w.role || p.Number != i+1 || p.Start != w.start*mib || p.Size != w.mib*mib {
					t.Errorf("partition %d: %+v, want %+v", i+1, p, w)
				}
			}
		})
	}
}

func TestPartitionSpec(t *testing.T) {
	d := &Deployer{EFIRoot: t.TempDir()}
	if s := d.partitionSpec(&Info{DeployBootMode: "uefi", DiskLabel: "msdos"}); s.Label != "gpt" || s.BootMode != "uefi" {
		t.Errorf("uefi+msdos: %+v, want gpt (forced)", s)
	}
	if s := d.partitionSpec(&Info{DeployBootMode: "bios"}); s.Label != "msdos" {
		t.Errorf("bios default label %q, want msdos", s.Label)
	}
	if s := d.partitionSpec(&Info{}); s.BootMode != "uefi" {
		t.Errorf("no deploy_boot_mode on an EFI ramdisk: %q, want uefi", s.BootMode)
	}
	d.EFIRoot = filepath.Join(d.EFIRoot, "missing")
	if s := d.partitionSpec(&Info{DiskLabel: "gpt"}); s.BootMode != "bios" || s.Label != "gpt" {
		t.Errorf("BIOS ramdisk: %+v", s)
	}
}

func TestEphemeralFormatRefusedBeforeWriting(t *testing.T) {
	d := newDeployer()
	s := serve(t, make([]byte, mib))
	in := info(s, "raw")
	in.ImageType, in.RootMB, in.EphemeralMB, in.EphemeralFormat = "partition", 4, 4, "btrfs"
	dev := target(t, 16*mib)
	_, err := d.Write(context.Background(), in, dev, "")
	if errType(err) != "InvalidCommandParamsError" || !strings.Contains(err.Error(), `ephemeral_format "btrfs"`) {
		t.Fatalf("got %v (%s)", err, errType(err))
	}
	if s.gets.Load() != 0 {
		t.Error("the image was downloaded for a refused layout")
	}
}

type sfdiskDump struct {
	PartitionTable struct {
		Label      string `json:"label"`
		Partitions []struct {
			Node     string `json:"node"`
			Start    int64  `json:"start"`
			Size     int64  `json:"size"`
			Type     string `json:"type"`
			Bootable bool   `json:"bootable"`
		} `json:"partitions"`
	} `json:"partitiontable"`
}

func blkid(t *testing.T, dev string) map[string]string {
	t.Helper()
	out, _ := exec.Command("blkid", "-p", "-o", "export", dev).Output()
	m := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}

// TestWritePartitionImageLoop deploys a partition image the way Ironic asks
// for one and checks the disk with sfdisk and blkid.
func TestWritePartitionImageLoop(t *testing.T) {
	looptest.Need(t)
	for _, tool := range []string{"sfdisk", "blkid", "mkfs.ext4", "e2fsck", "fsck.fat"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	rootFile := filepath.Join(t.TempDir(), "root.img")
	if err := os.WriteFile(rootFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Truncate(rootFile, 24*mib)
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-U", "4f0b5c2a-1111-4222-8333-123456789abc", rootFile).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v %s", err, out)
	}
	rootImg, _ := os.ReadFile(rootFile)
	cd := append(bytes.Repeat([]byte{0}, 32769), []byte("CD001 config drive")...)

	type want struct {
		label string
		types []string // sfdisk types, in order
		roles []string
	}
	tests := []struct {
		mode, label string
		want        want
	}{
		{"bios", "msdos", want{"dos", []string{"83", "82", "83", "83"}, []string{roleEphemeral, roleSwap, roleConfigDrive, roleRoot}}},
		{"bios", "gpt", want{"gpt", []string{"21686148-6449-6E6F-744E-656564454649", "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
			"0657FD6D-A4AB-43C4-84E5-0933C84B4F4F", "0FC63DAF-8483-4772-8E79-3D69D8477DE4", "0FC63DAF-8483-4772-8E79-3D69D8477DE4"},
			[]string{roleBIOSBoot, roleEphemeral, roleSwap, roleConfigDrive, roleRoot}}},
		{"uefi", "msdos", want{"gpt", []string{"C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
			"0657FD6D-A4AB-43C4-84E5-0933C84B4F4F", "0FC63DAF-8483-4772-8E79-3D69D8477DE4", "0FC63DAF-8483-4772-8E79-3D69D8477DE4"},
			[]string{roleESP, roleEphemeral, roleSwap, roleConfigDrive, roleRoot}}},
	}
	for _, tt := range tests {
		t.Run(tt.mode+"-"+tt.label, func(t *testing.T) {
			dev, _ := looptest.New(t, 1<<30)
			s := serve(t, rootImg)
			in := info(s, "raw")
			in.ImageType, in.DeployBootMode, in.DiskLabel = "partition", tt.mode, tt.label
			in.RootMB, in.SwapMB, in.EphemeralMB, in.EphemeralFormat = 64, 16, 32, "ext4"
			d := newDeployer()
			d.Disk.AllowFile = false
			res, err := d.Write(context.Background(), in, dev, base64.StdEncoding.EncodeToString(cd))
			if err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("sfdisk", "--json", dev).Output()
			if err != nil {
				t.Fatal(err)
			}
			var dump sfdiskDump
			if err := json.Unmarshal(out, &dump); err != nil {
				t.Fatal(err)
			}
			pt := dump.PartitionTable
			if pt.Label != tt.want.label || len(pt.Partitions) != len(tt.want.types) {
				t.Fatalf("sfdisk: %s", out)
			}
			sizes := map[string]int64{roleESP: 550, roleBIOSBoot: 1, roleEphemeral: 32, roleSwap: 16, roleConfigDrive: 1, roleRoot: 64}
			next := int64(2048)
			nodes := map[string]string{}
			for i, p := range pt.Partitions {
				role := tt.want.roles[i]
				nodes[role] = p.Node
				if p.Start != next || p.Size != sizes[role]*2048 || !strings.EqualFold(p.Type, tt.want.types[i]) {
					t.Errorf("partition %d (%s): start %d size %d type %s; want start %d size %d type %s",
						i+1, role, p.Start, p.Size, p.Type, next, sizes[role]*2048, tt.want.types[i])
				}
				if pt.Label == "dos" && p.Bootable != (role == roleRoot) {
					t.Errorf("partition %d (%s) bootable=%v", i+1, role, p.Bootable)
				}
				next += p.Size
			}

			root := blkid(t, nodes[roleRoot])
			if root["TYPE"] != "ext4" || root["UUID"] != "4f0b5c2a-1111-4222-8333-123456789abc" {
				t.Errorf("root partition: %v", root)
			}
			if got := readBack(t, nodes[roleRoot], len(rootImg)); !bytes.Equal(got, rootImg) {
				t.Error("root partition does not hold the image")
			}
			if sw := blkid(t, nodes[roleSwap]); sw["TYPE"] != "swap" || sw["LABEL"] != "swap1" || sw["UUID"] == "" {
				t.Errorf("swap: %v", sw)
			}
			eph := blkid(t, nodes[roleEphemeral])
			if eph["TYPE"] != "ext4" || eph["LABEL"] != "ephemeral0" {
				t.Errorf("ephemeral: %v", eph)
			}
			if out, err := exec.Command("e2fsck", "-fn", nodes[roleEphemeral]).CombinedOutput(); err != nil {
				t.Errorf("e2fsck ephemeral: %v\n%s", err, out)
			}
			if got := readBack(t, nodes[roleConfigDrive], len(cd)); !bytes.Equal(got, cd) {
				t.Error("config drive partition does not hold the config drive")
			}

			uuids := d.PartitionUUIDs()
			if uuids["root uuid"] != "4f0b5c2a-1111-4222-8333-123456789abc" || res.RootUUID != uuids["root uuid"] {
				t.Errorf("root uuid %v / %q", uuids["root uuid"], res.RootUUID)
			}
			parts := uuids["partitions"].(map[string]any)
			for role, node := range nodes {
				if parts[role] != node {
					t.Errorf("partitions[%q] = %v, want %s", role, parts[role], node)
				}
			}
			msg := res.Message(in.ID)
			if tt.mode == "uefi" {
				esp := blkid(t, nodes[roleESP])
				if esp["TYPE"] != "vfat" || esp["VERSION"] != "FAT32" || esp["LABEL"] != "efi-part" || uuids["efi system partition uuid"] != esp["UUID"] {
					t.Errorf("ESP: %v, uuid %v", esp, uuids["efi system partition uuid"])
				}
				if out, err := exec.Command("fsck.fat", "-n", nodes[roleESP]).CombinedOutput(); err != nil {
					t.Errorf("fsck.fat ESP: %v\n%s", err, out)
				}
				if !strings.HasSuffix(msg, "efi_system_partition_uuid="+esp["UUID"]) {
					t.Errorf("message %q", msg)
				}
			} else if v, ok := uuids["efi system partition uuid"]; !ok || v != nil {
				t.Errorf("efi system partition uuid = %v, %v; want null", v, ok)
			}
			if want := "image (disk.img) written to device " + dev + " root_uuid=4f0b5c2a-"; !strings.HasPrefix(msg, want) {
				t.Errorf("message %q", msg)
			}
		})
	}
}

// TestPartitionImageTooLargeAndPreserve: an image larger than root_mb is
// refused as IPA does; preserve_ephemeral keeps the ephemeral data and
// refuses a table that no longer matches.
func TestPartitionImageTooLargeAndPreserve(t *testing.T) {
	dev, _ := looptest.New(t, 256*mib)
	img := pattern(8 * mib)
	s := serve(t, img)
	in := info(s, "raw")
	in.ImageType, in.DeployBootMode, in.RootMB, in.EphemeralMB, in.EphemeralFormat = "partition", "bios", 16, 32, "ext4"
	d := newDeployer()
	d.Disk.AllowFile = false
	if _, err := d.Write(context.Background(), in, dev, ""); err != nil {
		t.Fatal(err)
	}
	// Mark the ephemeral partition's data, then redeploy preserving it.
	eph := dev + "p1"
	f, err := os.OpenFile(eph, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("keep me"), 8*mib)
	f.Sync()
	f.Close()
	in.PreserveEphemeral = true
	if _, err := d.Write(context.Background(), in, dev, ""); err != nil {
		t.Fatal(err)
	}
	if got := readBack(t, eph, 8*mib+7); string(got[8*mib:]) != "keep me" {
		t.Error("preserve_ephemeral lost the ephemeral data")
	}
	if got := readBack(t, dev+"p2", len(img)); !bytes.Equal(got, img) {
		t.Error("root partition does not hold the image")
	}
	in.EphemeralMB = 48
	if _, err := d.Write(context.Background(), in, dev, ""); err == nil || !strings.Contains(err.Error(), "preserve_ephemeral") {
		t.Errorf("a changed ephemeral size with preserve_ephemeral: %v", err)
	}

	in.PreserveEphemeral, in.EphemeralMB, in.RootMB = false, 0, 4
	_, err = d.Write(context.Background(), in, dev, "")
	if errType(err) != "InvalidCommandParamsError" || !strings.Contains(err.Error(), "Root partition is too small") {
		t.Fatalf("8 MiB image into a 4 MiB root: %v (%s)", err, errType(err))
	}
}
