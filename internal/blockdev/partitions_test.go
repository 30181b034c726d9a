package blockdev

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// Sysfs counts partition geometry in 512-byte units on every disk; the
// extents come back in bytes.
func TestKernelPartitions(t *testing.T) {
	_, disk := fakeSysfs(t)
	got, err := KernelPartitions(disk)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]Extent{1: {Start: 1 << 20, Size: 100 << 20}, 2: {Start: 101 << 20, Size: 512 << 10}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("KernelPartitions = %v, want %v", got, want)
	}
	if err := os.Remove(filepath.Join(disk, "sdz2", "size")); err != nil {
		t.Fatal(err)
	}
	if _, err := KernelPartitions(disk); err == nil {
		t.Error("a partition without its size was read without error")
	}
}
