package qemu

import (
	"os"
	"testing"

	"github.com/goipa/goipa/e2e/ironiclab"
)

// TestMain lets the test binary serve as the chroot helper that runs
// Ironic 35's code in its root (the virtual media tests build their ISO
// with it).
func TestMain(m *testing.M) {
	ironiclab.RunChrootHelper()
	os.Exit(m.Run())
}
