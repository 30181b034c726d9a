// Package fakesys builds small fake sysfs trees for tests of code that reads
// /sys, laid out with the same symlinks the kernel uses.
package fakesys

import (
	"os"
	"path/filepath"
	"testing"
)

// NIC returns a sysfs root holding one physical NIC called name with the
// given MAC, so an agent under test looks itself up by a MAC of the test's
// choosing rather than the host's.
func NIC(t testing.TB, name, mac string) string {
	t.Helper()
	root := t.TempDir()
	dev := filepath.Join(root, "devices/pci0000:00/0000:00:03.0/net", name)
	must(t, os.MkdirAll(dev, 0o755))
	must(t, os.WriteFile(filepath.Join(dev, "address"), []byte(mac+"\n"), 0o644))
	must(t, os.Symlink("../../..", filepath.Join(dev, "device")))
	must(t, os.MkdirAll(filepath.Join(root, "class/net"), 0o755))
	must(t, os.Symlink(dev, filepath.Join(root, "class/net", name)))
	// Empty block and PCI trees: the inventory reads them.
	must(t, os.MkdirAll(filepath.Join(root, "block"), 0o755))
	must(t, os.MkdirAll(filepath.Join(root, "bus/pci/devices"), 0o755))
	return root
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
