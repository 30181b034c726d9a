package uefi

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// blankImage is an empty 64 MiB image file; tool partitions it.
func blankImage(t *testing.T, tool string) string {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		t.Skipf("%s not installed", tool)
	}
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Truncate(img, 64<<20)
	return img
}

func TestHardDriveGPT(t *testing.T) {
	img := blankImage(t, "sgdisk")
	const guid = "4f0b5c2a-1111-4222-8333-123456789abc"
	if out, err := exec.Command("sgdisk", "-n", "1:2048:+16M", "-t", "1:EF00", "-n", "2:0:+8M",
		"-u", "2:"+guid, img).CombinedOutput(); err != nil {
		t.Fatalf("sgdisk: %v %s", err, out)
	}
	n, err := HardDrive(img, 2)
	if err != nil {
		t.Fatal(err)
	}
	// Partition 2 follows the 16 MiB ESP: 34816 (0x8800) and 8 MiB long.
	if got, want := n.String(), "HD(2,GPT,"+guid+",0x8800,0x4000)"; got != want {
		t.Errorf("%s, want %s", got, want)
	}
	if _, err := HardDrive(img, 3); err == nil || !strings.Contains(err.Error(), "no partition 3") {
		t.Errorf("a missing partition: %v", err)
	}
}

func TestHardDriveMBR(t *testing.T) {
	img := blankImage(t, "sfdisk")
	cmd := exec.Command("sfdisk", "-q", img)
	cmd.Stdin = strings.NewReader("label: dos\nlabel-id: 0x1234abcd\nstart=2048, size=4096, type=83\nstart=8192, size=2048, type=ef\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v %s", err, out)
	}
	n, err := HardDrive(img, 2)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := n.String(), "HD(2,MBR,0x1234abcd,0x2000,0x800)"; got != want {
		t.Errorf("%s, want %s", got, want)
	}
	if _, err := HardDrive(img, 4); err == nil {
		t.Error("an empty MBR slot was accepted")
	}
	blank := blankImage(t, "sfdisk")
	if _, err := HardDrive(blank, 1); err == nil || !strings.Contains(err.Error(), "no partition table") {
		t.Errorf("a disk without a table: %v", err)
	}
}
