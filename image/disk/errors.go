package disk

import (
	"errors"

	"github.com/goipa/goipa/internal/blockdev"
)

var (
	// ErrMounted: the device or one of its partitions has a mounted filesystem.
	ErrMounted = errors.New("device or one of its partitions is mounted")
	// ErrHeld: the device or a partition is in use by another block device
	// (md member, device-mapper/LVM, bcache) or opened exclusively (swap).
	ErrHeld = blockdev.ErrHeld
	// ErrReadOnly: the kernel marks the device read-only.
	ErrReadOnly = blockdev.ErrReadOnly
	// ErrTooSmall: the image (or a write) reaches past the end of the device.
	ErrTooSmall = errors.New("image does not fit on the device")
	// ErrNotBlockDevice: the path is neither a block device nor an allowed file.
	ErrNotBlockDevice = blockdev.ErrNotBlockDevice
	// ErrOutOfOrder: WriteAt was given an offset before data already written.
	ErrOutOfOrder = errors.New("write offset before the current position")
	// ErrNoPartitionTable: neither a GPT nor an MBR partition table was found.
	ErrNoPartitionTable = errors.New("no valid partition table")
	// ErrSectorSizeMismatch: the image's GPT was built for 512-byte sectors but
	// the disk uses larger logical sectors (4Kn), so firmware and kernel cannot
	// find the partitions.
	ErrSectorSizeMismatch = errors.New("image partition table does not match the disk's logical sector size")
	// ErrConfigDriveTooLarge: the config drive exceeds 64 MiB (IPA's limit).
	ErrConfigDriveTooLarge = errors.New("config drive larger than 64 MiB")
	// ErrNoPartitionSlot: no free partition entry (an MBR with 4 primary
	// partitions, or a full GPT entry array).
	ErrNoPartitionSlot = errors.New("no free partition table entry")
	// ErrNoSpace: not enough unpartitioned space at the end of the disk.
	ErrNoSpace = errors.New("not enough free space at the end of the disk")
	// ErrDuplicateConfigDrive: more than one partition is labelled config-2.
	ErrDuplicateConfigDrive = errors.New("more than one config-2 partition")
	// ErrZeroNotCheap: the device has no fast way to zero itself (no
	// write-zeroes offload, discard does not guarantee zeros, or zeroing ran
	// at write speed). The writer then writes zeros like any other data.
	ErrZeroNotCheap = errors.New("device cannot be zeroed cheaply")
)
