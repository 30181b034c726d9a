// Package directio holds what O_DIRECT asks of memory: buffers whose first
// byte sits on a boundary the kernel accepts for any logical sector size.
package directio

import "unsafe"

// Align satisfies O_DIRECT's buffer alignment for logical sectors up to
// 4 KiB (512e and 4Kn disks).
const Align = 4096

// Buffer returns a zeroed n-byte slice starting on an Align boundary,
// carved out of a slightly larger allocation. Its capacity is n, so an
// append cannot walk into the slack.
func Buffer(n int) []byte {
	raw := make([]byte, n+Align)
	skip := (Align - int(uintptr(unsafe.Pointer(unsafe.SliceData(raw)))%Align)) % Align
	return raw[skip : skip+n : skip+n]
}
