package erase

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// Partition types IPA guards (_check_for_special_partitions_filesystems).
var guardedTypes = map[string]string{
	"37AFFC90-EF7D-4E96-91C3-2D7AE055B174": "IBM GPFS partition",
	"AA31E02A-400F-11DB-9590-000C2911D1B8": "VMware VMFS partition (GPT)",
}

const mbrTypeVMFS = 0xfb

// guard implements IPA's guard_special_filesystems: it refuses a device
// whose partition table or filesystem signatures show a shared-disk
// cluster filesystem, which other machines may be using through the same
// LUN. It looks at the device itself and at the start of every partition
// for GPFS and VMFS partition types and for GFS/GFS2, OCFS2 and VMFS
// superblocks. (IPA compares lsblk's FSTYPE with gfs2 but never asks lsblk
// for it, so only its partition-type checks take effect.) Node-local
// cluster formats such as a Ceph bluestore OSD are not guarded: wiping a
// retired storage node is what cleaning is for.
func guard(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	lss, err := unix.IoctlGetInt(int(f.Fd()), unix.BLKSSZGET)
	if err != nil {
		lss = 512 // a regular file standing in for a disk in tests
	}
	what, err := specialFilesystem(f, size, lss)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if what != "" {
		return fmt.Errorf("%s: %w: %s found", path, ErrProtected, what)
	}
	return nil
}

// specialFilesystem names the first guarded partition type or filesystem
// found on the device, or returns "".
func specialFilesystem(r io.ReaderAt, size int64, lss int) (string, error) {
	l, err := readLayout(r, size, lss)
	if err != nil {
		return "", err
	}
	starts := []int64{0}
	for _, p := range l.parts {
		if what, ok := guardedTypes[p.gptType]; ok {
			return what, nil
		}
		if p.mbrType == mbrTypeVMFS {
			return "VMware VMFS partition (MBR)", nil
		}
		starts = append(starts, p.start)
	}
	for _, start := range starts {
		if what, err := clusterSuperblock(r, start, size); what != "" || err != nil {
			return what, err
		}
	}
	return "", nil
}

// Cluster filesystem signatures, as libblkid finds them.
var clusterMagics = []struct {
	what  string
	off   int64
	magic []byte
}{
	// GFS and GFS2: big-endian magic 0x01161970 then metadata type 1
	// (superblock) at 64 KiB.
	{"GFS/GFS2 filesystem", 64 << 10, []byte{0x01, 0x16, 0x19, 0x70, 0, 0, 0, 1}},
	// OCFS2: "OCFSV2" at the start of block 2, for 512 B to 4 KiB blocks.
	{"OCFS2 filesystem", 1 << 10, []byte("OCFSV2")},
	{"OCFS2 filesystem", 2 << 10, []byte("OCFSV2")},
	{"OCFS2 filesystem", 4 << 10, []byte("OCFSV2")},
	{"OCFS2 filesystem", 8 << 10, []byte("OCFSV2")},
	// VMFS volume (LVM) header at 1 MiB, VMFS filesystem at 2 MiB.
	{"VMware VMFS volume", 1 << 20, binary.LittleEndian.AppendUint32(nil, 0xc001d00d)},
	{"VMware VMFS filesystem", 2 << 20, binary.LittleEndian.AppendUint32(nil, 0x2fabf15e)},
}

func clusterSuperblock(r io.ReaderAt, start, size int64) (string, error) {
	for _, m := range clusterMagics {
		off := start + m.off
		if off+int64(len(m.magic)) > size {
			continue
		}
		b, err := readFull(r, off, len(m.magic))
		if err != nil {
			return "", err
		}
		if bytes.Equal(b, m.magic) {
			return m.what, nil
		}
	}
	return "", nil
}
