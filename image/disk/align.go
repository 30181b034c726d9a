package disk

import "unsafe"

// bufAlign satisfies O_DIRECT's buffer alignment for any logical sector size
// up to 4 KiB.
const bufAlign = 4096

// alignedBuffer returns a zeroed n-byte slice whose first byte is 4 KiB
// aligned, carved out of a slightly larger allocation.
func alignedBuffer(n int) []byte {
	raw := make([]byte, n+bufAlign)
	skip := 0
	if r := int(uintptr(unsafe.Pointer(&raw[0])) % bufAlign); r != 0 {
		skip = bufAlign - r
	}
	return raw[skip : skip+n : skip+n]
}

func alignUp(n, a int) int { return (n + a - 1) / a * a }

func alignUp64(n, a int64) int64 { return (n + a - 1) / a * a }

func alignDown64(n, a int64) int64 { return n / a * a }

// aligned reports whether b starts at a 4 KiB boundary, as O_DIRECT needs.
func aligned(b []byte) bool {
	return len(b) == 0 || uintptr(unsafe.Pointer(unsafe.SliceData(b)))%bufAlign == 0
}
