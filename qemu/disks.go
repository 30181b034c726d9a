package qemu

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// Helpers for the disk files VM tests give a guest and check afterwards.

// SparseDisk makes a sparse disk file of size bytes in a test directory.
func SparseDisk(t testing.TB, size int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.raw")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return p
}

// FileSHA256 is the hex sha256 of a file's content.
func FileSHA256(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ReadAt reads n bytes of a file at off.
func ReadAt(t testing.TB, path string, off int64, n int) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	return b
}

// MDMember is an md RAID member found in a disk file: a GPT partition with
// a v1.2 superblock 4 KiB into it.
type MDMember struct {
	Start, Size int64 // the partition, bytes
	Level       int32
	Name        string // homehost:name, e.g. "any:root"
	DataOffset  int64  // where the array's data starts, from the partition start
}

// MDMembers reads a disk file's GPT and returns the partitions that carry
// an md superblock, so a test can check from the host what the guest built.
func MDMembers(t testing.TB, path string) []MDMember {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	hdr := make([]byte, 512)
	f.ReadAt(hdr, 512)
	if string(hdr[:8]) != "EFI PART" {
		return nil
	}
	entries := int64(binary.LittleEndian.Uint64(hdr[72:]))
	n, esz := binary.LittleEndian.Uint32(hdr[80:]), binary.LittleEndian.Uint32(hdr[84:])
	var out []MDMember
	for i := range int64(n) {
		e := make([]byte, esz)
		f.ReadAt(e, entries*512+i*int64(esz))
		first, last := int64(binary.LittleEndian.Uint64(e[32:])), int64(binary.LittleEndian.Uint64(e[40:]))
		if first == 0 {
			continue
		}
		sb := make([]byte, 256)
		f.ReadAt(sb, first*512+4096)
		if binary.LittleEndian.Uint32(sb) != 0xa92b4efc {
			continue
		}
		out = append(out, MDMember{Start: first * 512, Size: (last - first + 1) * 512,
			Level: int32(binary.LittleEndian.Uint32(sb[72:])), Name: string(bytes.TrimRight(sb[32:64], "\x00")),
			DataOffset: int64(binary.LittleEndian.Uint64(sb[128:])) * 512})
	}
	return out
}

// DiskImage is size bytes of pseudo-random data with every fourth MiB zero,
// like an image with free space, and no partition table, so a deployed disk
// must equal it byte for byte.
func DiskImage(size int, seed uint64) []byte {
	b := make([]byte, size)
	r := rand.New(rand.NewPCG(seed, seed+1))
	for off := 0; off < len(b); off += 1 << 20 {
		if (off>>20)%4 == 3 {
			continue
		}
		for i := off; i < off+(1<<20) && i+8 <= len(b); i += 8 {
			binary.LittleEndian.PutUint64(b[i:], r.Uint64())
		}
	}
	return b
}
