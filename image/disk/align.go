package disk

import (
	"unsafe"

	"github.com/goipa/goipa/internal/directio"
)

func alignUp(n, a int) int { return (n + a - 1) / a * a }

func alignUp64(n, a int64) int64 { return (n + a - 1) / a * a }

func alignDown64(n, a int64) int64 { return n / a * a }

// aligned reports whether b starts at a 4 KiB boundary, as O_DIRECT needs.
func aligned(b []byte) bool {
	return len(b) == 0 || uintptr(unsafe.Pointer(unsafe.SliceData(b)))%directio.Align == 0
}
