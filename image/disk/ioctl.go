package disk

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// ioctlPtr issues an ioctl whose argument is a pointer to *v.
func ioctlPtr[T any](fd int, req uint, v *T) error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(unsafe.Pointer(v)))
	if errno != 0 {
		return errno
	}
	return nil
}

// ioctlRange issues BLKZEROOUT/BLKDISCARD, which take {start, length} in bytes.
func ioctlRange(fd int, req uint, start, length int64) error {
	r := [2]uint64{uint64(start), uint64(length)}
	return ioctlPtr(fd, req, &r)
}
