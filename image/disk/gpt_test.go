package disk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

// sgdiskImage makes a size-byte GPT image with an ESP and a Linux partition.
func sgdiskImage(t *testing.T, size int64, extra ...string) []byte {
	t.Helper()
	needTool(t, "sgdisk")
	p := newFile(t, size, 0)
	args := append([]string{"-n", "1:2048:+1M", "-t", "1:ef00", "-n", "2:0:0", "-t", "2:8300"}, extra...)
	run(t, "sgdisk", append(args, p)...)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeImage streams img onto target through Writer.
func writeImage(t *testing.T, target string, img []byte) {
	t.Helper()
	d, err := Open(target, Options{AllowFile: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	w, err := d.Writer(context.Background(), WriterOptions{ImageSize: int64(len(img))})
	if err != nil {
		t.Fatal(err)
	}
	feed(t, w, img, 3)
	if _, err := w.Finish(); err != nil {
		t.Fatal(err)
	}
}

type sfdiskTable struct {
	PartitionTable struct {
		Label      string `json:"label"`
		ID         string `json:"id"`
		FirstLBA   int64  `json:"firstlba"`
		LastLBA    int64  `json:"lastlba"`
		SectorSize int64  `json:"sectorsize"`
		Partitions []struct {
			Node  string `json:"node"`
			Start int64  `json:"start"`
			Size  int64  `json:"size"`
			Type  string `json:"type"`
			UUID  string `json:"uuid"`
			Name  string `json:"name"`
		} `json:"partitions"`
	} `json:"partitiontable"`
}

func sfdiskJSON(t *testing.T, path string) sfdiskTable {
	t.Helper()
	needTool(t, "sfdisk")
	var tbl sfdiskTable
	if err := json.Unmarshal([]byte(run(t, "sfdisk", "--json", path)), &tbl); err != nil {
		t.Fatal(err)
	}
	return tbl
}

func fixGPT(t *testing.T, path string) error {
	t.Helper()
	d, err := Open(path, Options{AllowFile: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	return d.FixGPT()
}

func sgdiskVerify(t *testing.T, path string) string {
	t.Helper()
	out, _ := runnerOutput("sgdisk", "-v", path)
	return out
}

func TestFixGPTMovesBackupToEnd(t *testing.T) {
	t.Parallel()
	img := sgdiskImage(t, 16<<20)
	target := newFile(t, 64<<20, 0)
	writeImage(t, target, img)
	before := sfdiskJSON(t, target)
	if v := sgdiskVerify(t, target); strings.Contains(v, "No problems found") {
		t.Fatalf("sgdisk -v finds no problem before FixGPT; the test proves nothing:\n%s", v)
	}

	if err := fixGPT(t, target); err != nil {
		t.Fatal(err)
	}
	if v := sgdiskVerify(t, target); !strings.Contains(v, "No problems found") {
		t.Fatalf("sgdisk -v after FixGPT:\n%s", v)
	}
	lastLBA := int64(64<<20)/512 - 1
	if hdr := readBack(t, target, lastLBA*512, 8); string(hdr) != "EFI PART" {
		t.Errorf("last LBA holds %q, want the backup GPT header", hdr)
	}
	if old := readBack(t, target, (16<<20)-512, 8); string(old) == "EFI PART" {
		t.Error("the image's old backup header is still at its old place")
	}
	after := sfdiskJSON(t, target)
	if after.PartitionTable.LastLBA != lastLBA-33 {
		t.Errorf("last usable LBA %d, want %d", after.PartitionTable.LastLBA, lastLBA-33)
	}
	b, _ := json.Marshal(before.PartitionTable.Partitions)
	a, _ := json.Marshal(after.PartitionTable.Partitions)
	if !bytes.Equal(a, b) || after.PartitionTable.ID != before.PartitionTable.ID {
		t.Errorf("partitions changed:\nbefore %s\nafter  %s", b, a)
	}

	// Already fixed: nothing to do, nothing written.
	st, _ := os.Stat(target)
	if err := fixGPT(t, target); err != nil {
		t.Fatal(err)
	}
	if st2, _ := os.Stat(target); !st2.ModTime().Equal(st.ModTime()) {
		t.Error("second FixGPT rewrote the disk")
	}
}

func TestFixGPTRebuildsPrimaryFromBackup(t *testing.T) {
	t.Parallel()
	img := sgdiskImage(t, 32<<20)
	clear(img[512:1024]) // primary header gone, backup at the end intact
	target := newFile(t, 32<<20, 0)
	writeImage(t, target, img)
	if err := fixGPT(t, target); err != nil {
		t.Fatal(err)
	}
	if v := sgdiskVerify(t, target); !strings.Contains(v, "No problems found") {
		t.Fatalf("sgdisk -v after FixGPT:\n%s", v)
	}
}

func TestFixGPTPartitionPastEnd(t *testing.T) {
	t.Parallel()
	img := sgdiskImage(t, 16<<20)
	target := newFile(t, 8<<20, 0)
	if err := os.WriteFile(target, img[:8<<20], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := fixGPT(t, target); !errors.Is(err, ErrTooSmall) {
		t.Fatalf("FixGPT with a partition past the end = %v, want ErrTooSmall", err)
	}
}

func TestFixGPTLeavesMBRAlone(t *testing.T) {
	t.Parallel()
	target := mbrDisk(t, 32<<20, ",4M,L\n,4M,L\n")
	before := readBack(t, target, 0, 32<<20)
	if err := fixGPT(t, target); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readBack(t, target, 0, 32<<20), before) {
		t.Error("FixGPT changed an MBR disk")
	}
}

// mbrDisk partitions a new size-byte file with an sfdisk script.
func mbrDisk(t *testing.T, size int64, script string) string {
	t.Helper()
	needTool(t, "sfdisk")
	p := newFile(t, size, 0)
	if _, err := runnerInput("label: dos\nlabel-id: 0x12345678\n"+script, "sfdisk", "--quiet", p); err != nil {
		t.Fatal(err)
	}
	return p
}
