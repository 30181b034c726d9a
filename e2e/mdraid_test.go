package e2e

import (
	"bytes"
	"encoding/binary"
	"os"
	"testing"
)

// mdMember is an md RAID member found on a disk file: a GPT partition with
// a v1.2 superblock 4 KiB into it.
type mdMember struct {
	start      int64 // partition offset, bytes
	level      int32
	name       string
	dataOffset int64 // bytes from the partition start
}

func mdMembers(t *testing.T, path string) []mdMember {
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
	var out []mdMember
	for i := range int64(n) {
		e := make([]byte, esz)
		f.ReadAt(e, entries*512+i*int64(esz))
		first := int64(binary.LittleEndian.Uint64(e[32:]))
		if first == 0 {
			continue
		}
		sb := make([]byte, 256)
		f.ReadAt(sb, first*512+4096)
		if binary.LittleEndian.Uint32(sb) != 0xa92b4efc {
			continue
		}
		out = append(out, mdMember{start: first * 512, level: int32(binary.LittleEndian.Uint32(sb[72:])),
			name: string(bytes.TrimRight(sb[32:64], "\x00")), dataOffset: int64(binary.LittleEndian.Uint64(sb[128:])) * 512})
	}
	return out
}
