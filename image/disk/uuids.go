package disk

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/goipa/goipa/internal/ptable"
)

// UUIDs is what standby.get_partition_uuids reports for a whole-disk image.
type UUIDs struct {
	// Root is IPA's whole-disk "root uuid": the MBR disk signature as
	// 0x%08x (what `hexdump -s 440 -n 4 -e '"0x%08x"'` prints).
	Root string
	// ESP is the PARTUUID of the EFI system partition, "" when none.
	ESP string
	// Partitions maps partition device paths to PARTUUIDs.
	Partitions map[string]string
}

// PartitionUUIDs reads the partition table and returns the UUIDs. A disk
// without a partition table still has a "root uuid": whatever bytes sit
// where an MBR keeps its signature, as IPA's hexdump reads them.
func (d *Disk) PartitionUUIDs() (*UUIDs, error) {
	t, err := d.Partitions()
	if errors.Is(err, ErrNoPartitionTable) {
		sector0, rerr := d.readAt(0, d.dev.LSS)
		if rerr != nil {
			return nil, rerr
		}
		return &UUIDs{Root: fmt.Sprintf("0x%08x", binary.LittleEndian.Uint32(sector0[ptable.MBRSigOff:])), Partitions: map[string]string{}}, nil
	}
	if err != nil {
		return nil, err
	}
	u := &UUIDs{Root: fmt.Sprintf("0x%08x", t.DiskSignature), Partitions: map[string]string{}}
	for _, p := range t.Partitions {
		u.Partitions[p.Device] = p.PartUUID
		if p.ESP && u.ESP == "" {
			u.ESP = p.PartUUID
		}
	}
	return u, nil
}

// Result is the get_partition_uuids command_result as IPA sends it for a
// whole-disk image: "root uuid" and, only when an ESP exists,
// "efi system partition uuid".
func (u *UUIDs) Result() map[string]any {
	r := map[string]any{"root uuid": u.Root}
	if u.ESP != "" {
		r["efi system partition uuid"] = u.ESP
	}
	return r
}
