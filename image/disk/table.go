package disk

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/goipa/goipa/internal/ptable"
)

// Table is the disk's partition table as found on disk.
type Table struct {
	Type string // "gpt" or "dos", as blkid's PTTYPE
	// ID is blkid's PTUUID: the GPT disk GUID, or the MBR signature as
	// eight hex digits.
	ID string
	// DiskSignature is the 32-bit MBR disk signature (bytes 440-443,
	// little-endian), also present in a GPT disk's protective MBR.
	DiskSignature uint32
	Partitions    []Partition
}

// Partition is one partition table entry.
type Partition struct {
	Number   int
	Start    int64  // bytes from the start of the disk
	Size     int64  // bytes
	Type     string // GPT type GUID, or MBR type as "0x83"
	PartUUID string // GPT unique GUID, or MBR "<signature>-<nn>"
	Name     string // GPT partition name
	ESP      bool   // EFI system partition
	Device   string // e.g. /dev/sda1, /dev/nvme0n1p1
}

// Partitions reads the partition table: GPT (primary, else backup) when
// the MBR is protective, else the MBR with its logical partitions.
func (d *Disk) Partitions() (*Table, error) {
	sector0, err := d.readAt(0, d.dev.LSS)
	if err != nil {
		return nil, err
	}
	sig := binary.LittleEndian.Uint32(sector0[ptable.MBRSigOff:])
	entries, ok := ptable.ParseMBR(sector0)
	if !ok {
		if err := d.checkSectorSize(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%s: %w", d.dev.Path, ErrNoPartitionTable)
	}
	for _, e := range entries {
		if e.Type != typeProtective {
			continue
		}
		g, _, err := d.readGPT()
		if err != nil {
			if serr := d.checkSectorSize(); serr != nil {
				return nil, serr
			}
			return nil, fmt.Errorf("%s: %w: %w", d.dev.Path, ErrNoPartitionTable, err)
		}
		return &Table{Type: "gpt", ID: g.DiskGUID(), DiskSignature: sig, Partitions: d.gptPartitions(g)}, nil
	}
	parts, err := d.mbrPartitions(entries, sig)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(parts, func(a, b Partition) int { return a.Number - b.Number })
	return &Table{Type: "dos", ID: fmt.Sprintf("%08x", sig), DiskSignature: sig, Partitions: parts}, nil
}

// partitionDevice names partition n the way the kernel does: a "p" goes
// between the disk name and the number when the name ends in a digit
// (nvme0n1p1, loop0p1, mmcblk0p1; sda1).
func (d *Disk) partitionDevice(n int) string {
	name := d.dev.Path
	if d.sysDir != "" {
		name = "/dev/" + filepath.Base(d.sysDir)
	}
	if c := name[len(name)-1]; c >= '0' && c <= '9' {
		name += "p"
	}
	return name + strconv.Itoa(n)
}
