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
	Path        string // the disk file
	Start, Size int64  // the partition, bytes
	Level       int32
	Layout      int32
	Chunk       int64  // bytes
	Disks       int    // raid_disks
	Role        int    // this member's slot in the array
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
		devNumber := int64(binary.LittleEndian.Uint32(sb[160:]))
		role := make([]byte, 2)
		f.ReadAt(role, first*512+4096+256+2*devNumber)
		out = append(out, MDMember{Path: path, Start: first * 512, Size: (last - first + 1) * 512,
			Level: int32(binary.LittleEndian.Uint32(sb[72:])), Layout: int32(binary.LittleEndian.Uint32(sb[76:])),
			Chunk: int64(binary.LittleEndian.Uint32(sb[88:])) * 512, Disks: int(binary.LittleEndian.Uint32(sb[92:])),
			Role: int(binary.LittleEndian.Uint16(role)), Name: string(bytes.TrimRight(sb[32:64], "\x00")),
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

// ReadArray reads the first n bytes of an md array's data straight from its
// members' disk files, undoing the striping of md's default layouts (RAID-1;
// RAID-0; RAID-10 near-2; RAID-5 and RAID-6 left-symmetric), so a test can
// check what a guest wrote without an md driver on the host.
func ReadArray(t testing.TB, members []MDMember, n int) []byte {
	t.Helper()
	if len(members) == 0 {
		t.Fatal("no md members")
	}
	bySlot := map[int]MDMember{}
	for _, m := range members {
		bySlot[m.Role] = m
	}
	m0 := members[0]
	read := func(slot int, off int64, c int) []byte {
		m, ok := bySlot[slot]
		if !ok {
			t.Fatalf("md member in slot %d missing", slot)
		}
		return ReadAt(t, m.Path, m.Start+m.DataOffset+off, c)
	}
	if m0.Level == 1 {
		return read(0, 0, n)
	}
	d, c := m0.Disks, m0.Chunk
	var out []byte
	for k := int64(0); len(out) < n; k++ {
		want := int(min(c, int64(n-len(out))))
		var slot int
		var off int64
		switch m0.Level {
		case 0:
			slot, off = int(k%int64(d)), k/int64(d)*c
		case 10:
			// near=2: each chunk on two adjacent slots, chunks in rows of d/2.
			slot, off = int(2*k%int64(d)), 2*k/int64(d)*c
		case 5, 6:
			parity := int64(m0.Level - 4) // data chunks per stripe: d-1 or d-2
			per := int64(d) - parity
			stripe := k / per
			p := int64(d) - 1 - stripe%int64(d)
			slot, off = int((p+parity+k%per)%int64(d)), stripe*c
		default:
			t.Fatalf("md level %d not supported", m0.Level)
		}
		out = append(out, read(slot, off, want)...)
	}
	return out
}
