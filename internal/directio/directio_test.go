package directio

import (
	"testing"
	"unsafe"
)

func TestBuffer(t *testing.T) {
	for _, n := range []int{0, 1, 511, 4096, 1 << 20, 3<<20 + 17} {
		b := Buffer(n)
		if len(b) != n || cap(b) != n {
			t.Errorf("Buffer(%d): len %d cap %d", n, len(b), cap(b))
		}
		if p := uintptr(unsafe.Pointer(unsafe.SliceData(b))); n > 0 && p%Align != 0 {
			t.Errorf("Buffer(%d) starts at %#x, not %d-aligned", n, p, Align)
		}
		for i, c := range b {
			if c != 0 {
				t.Fatalf("Buffer(%d)[%d] = %d, want zeroed", n, i, c)
			}
		}
	}
}
