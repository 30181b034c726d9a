package disk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/diskfs/go-diskfs/filesystem"
	"github.com/diskfs/go-diskfs/filesystem/fat12"
	"github.com/diskfs/go-diskfs/filesystem/fat16"
	"github.com/diskfs/go-diskfs/filesystem/iso9660"
)

// The vfat config drive is laid out in 512-byte sectors with every region a
// multiple of 4 KiB (8 reserved sectors, 4 KiB clusters, a 16 KiB root
// directory, FATs rounded to 4 KiB). go-diskfs fills it through its 512-byte
// FAT12/16 code, then the boot sector is rescaled to 4096-byte sectors for
// 4Kn disks: byte offsets and cluster numbers stay the same. FAT16 keeps the
// cluster count in its valid range (FAT32 would need at least 256 MiB with
// 4 KiB clusters).
const (
	vfatSector      = 512
	vfatPerCluster  = 8
	vfatReserved    = 8
	vfatRootEntries = 512
	vfatRootSectors = vfatRootEntries * 32 / vfatSector
	vfatMinFAT16    = 17 << 20 // comfortably above 4085 clusters
	vfatMaxFAT12    = 15 << 20 // comfortably below 4085 clusters
	vfatMinSize     = 1 << 20
	vfatLabel       = "CONFIG-2"
)

// buildVFAT returns a FAT12/16 image of at most size bytes labelled
// CONFIG-2 with the files of the ISO9660 image iso, using sectorSize-byte
// sectors; hidden is the partition's start in those sectors.
func buildVFAT(iso []byte, size int64, sectorSize int, hidden uint32) ([]byte, error) {
	src, err := iso9660.Read(&memStorage{b: iso}, int64(len(iso)), 0, 2048)
	if err != nil {
		return nil, fmt.Errorf("read config drive ISO: %w", err)
	}
	size = alignDown64(min(size, maxConfigDrive), 4096)
	fat16Type := size >= vfatMinFAT16
	if !fat16Type {
		size = min(size, vfatMaxFAT12)
	}
	if size < vfatMinSize {
		return nil, fmt.Errorf("%w: %d bytes is too small for a vfat config drive", ErrNoSpace, size)
	}
	img := &memStorage{b: make([]byte, size)}
	formatFAT(img.b, fat16Type)
	var dst filesystem.FileSystem
	if fat16Type {
		dst, err = fat16.Read(img, size, 0, vfatSector)
	} else {
		dst, err = fat12.Read(img, size, 0, vfatSector)
	}
	if err != nil {
		return nil, fmt.Errorf("open new vfat image: %w", err)
	}
	if err := dst.SetLabel(vfatLabel); err != nil {
		return nil, err
	}
	if err := copyTree(dst, src); err != nil {
		return nil, fmt.Errorf("copy config drive files to vfat: %w", err)
	}
	rescaleBPB(img.b, sectorSize, hidden)
	return img.b, nil
}

// formatFAT writes an empty FAT12/16 filesystem (mkfs.fat's job) into b.
func formatFAT(b []byte, fat16Type bool) {
	total := uint32(len(b) / vfatSector)
	entryBits := uint32(12)
	if fat16Type {
		entryBits = 16
	}
	// Grow the FAT until it covers the clusters left beside it.
	fatSectors := uint32(vfatPerCluster)
	for {
		clusters := (total - vfatReserved - 2*fatSectors - vfatRootSectors) / vfatPerCluster
		need := uint32(alignUp(int((clusters+2)*entryBits/8+1), 4096) / vfatSector)
		if need <= fatSectors {
			break
		}
		fatSectors = need
	}
	le := binary.LittleEndian
	copy(b[0:], []byte{0xeb, 0x3c, 0x90})
	copy(b[3:11], "MSWIN4.1")
	le.PutUint16(b[11:], vfatSector)
	b[13] = vfatPerCluster
	le.PutUint16(b[14:], vfatReserved)
	b[16] = 2 // FATs
	le.PutUint16(b[17:], vfatRootEntries)
	if total < 1<<16 {
		le.PutUint16(b[19:], uint16(total))
	} else {
		le.PutUint32(b[32:], total)
	}
	b[21] = 0xf8 // fixed disk
	le.PutUint16(b[22:], uint16(fatSectors))
	le.PutUint16(b[24:], 63)  // sectors per track
	le.PutUint16(b[26:], 255) // heads
	b[36] = 0x80              // drive number
	b[38] = 0x29              // extended boot signature
	le.PutUint32(b[39:], uint32(time.Now().UnixNano()))
	copy(b[43:54], fmt.Sprintf("%-11s", "NO NAME"))
	if fat16Type {
		copy(b[54:62], "FAT16   ")
	} else {
		copy(b[54:62], "FAT12   ")
	}
	b[510], b[511] = 0x55, 0xaa
	for i := range uint32(2) {
		fat := b[(vfatReserved+i*fatSectors)*vfatSector:]
		if fat16Type {
			copy(fat, []byte{0xf8, 0xff, 0xff, 0xff})
		} else {
			copy(fat, []byte{0xf8, 0xff, 0xff})
		}
	}
}

// rescaleBPB switches the boot sector to sectorSize-byte sectors and records
// the partition offset (hidden sectors), as mkfs.fat does.
func rescaleBPB(b []byte, sectorSize int, hidden uint32) {
	le := binary.LittleEndian
	f := uint32(sectorSize / vfatSector)
	total := uint32(le.Uint16(b[19:]))
	if total == 0 {
		total = le.Uint32(b[32:])
	}
	total /= f
	le.PutUint16(b[11:], uint16(sectorSize))
	b[13] = byte(vfatPerCluster / f)
	le.PutUint16(b[14:], uint16(vfatReserved/f))
	le.PutUint16(b[19:], 0)
	le.PutUint32(b[32:], 0)
	if total < 1<<16 {
		le.PutUint16(b[19:], uint16(total))
	} else {
		le.PutUint32(b[32:], total)
	}
	le.PutUint16(b[22:], uint16(uint32(le.Uint16(b[22:]))/f))
	le.PutUint32(b[28:], hidden)
}

// copyTree copies every directory and regular file of src into dst.
func copyTree(dst filesystem.FileSystem, src fs.FS) error {
	return fs.WalkDir(src, ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil || p == "." {
			return err
		}
		if e.IsDir() {
			return dst.Mkdir(p)
		}
		if !e.Type().IsRegular() {
			return nil
		}
		in, err := src.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := dst.OpenFile(p, os.O_CREATE|os.O_RDWR|os.O_TRUNC)
		if err != nil {
			return err
		}
		_, err = io.Copy(out, in)
		return errors.Join(err, out.Close())
	})
}
