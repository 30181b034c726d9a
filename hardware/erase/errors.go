package erase

import (
	"errors"

	"github.com/goipa/goipa/internal/blockdev"
)

var (
	// ErrVirtualMedia: the device is BMC virtual media (IPA's
	// ir-vfd-dev label, or a virtual CD/floppy/USB model). Skipped by the
	// *Devices functions.
	ErrVirtualMedia = errors.New("device is virtual media")
	// ErrRAIDMember: the device or one of its partitions is a member of an
	// active md RAID array. Skipped by the *Devices functions, as in IPA.
	ErrRAIDMember = errors.New("device is a member of an active md RAID array")
	// ErrReadOnly: the kernel marks the device read-only. Skipped by
	// MetadataDevices and Express, and by Devices with SkipReadOnly.
	ErrReadOnly = blockdev.ErrReadOnly
	// ErrHeld: the device or a partition is in use by device-mapper (LVM,
	// dm-crypt, multipath) or bcache, or another program holds it open
	// exclusively (a mounted filesystem, active swap).
	ErrHeld = blockdev.ErrHeld
	// ErrMounted: the device or one of its partitions has a mounted filesystem.
	ErrMounted = errors.New("device or one of its partitions is mounted")
	// ErrProtected: the device carries a shared-disk cluster filesystem
	// (IPA's ProtectedDeviceError, guard_special_filesystems).
	ErrProtected = errors.New("device holds a shared-disk cluster filesystem")
	// ErrNotBlockDevice: the path is not a block device.
	ErrNotBlockDevice = blockdev.ErrNotBlockDevice
	// ErrSecureErase: NVMe format or ATA secure erase failed or was refused
	// by the drive (IPA's BlockDeviceEraseError), and falling back to
	// overwriting is not enabled.
	ErrSecureErase = errors.New("secure erase failed")
	// ErrInvalidOption: a cleaning parameter in driver_internal_info has
	// the wrong type or an impossible value.
	ErrInvalidOption = errors.New("invalid erase option")
	// ErrNothingToWrite: overwriting was needed but the options ask for
	// zero random passes and no zero pass, which would erase nothing.
	ErrNothingToWrite = errors.New("agent_erase_devices_iterations is 0 and agent_erase_devices_zeroize is false: nothing would be erased")
)
