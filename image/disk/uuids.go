package disk

import "fmt"

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

// PartitionUUIDs reads the partition table and returns the UUIDs.
func (d *Disk) PartitionUUIDs() (*UUIDs, error) {
	t, err := d.Partitions()
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

// Result is the get_partition_uuids command_result: "root uuid", "partitions"
// and, only when an ESP exists, "efi system partition uuid".
func (u *UUIDs) Result() map[string]any {
	r := map[string]any{"root uuid": u.Root, "partitions": u.Partitions}
	if u.ESP != "" {
		r["efi system partition uuid"] = u.ESP
	}
	return r
}
