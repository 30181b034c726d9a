package e2e

import (
	"os"
	"testing"

	"github.com/goipa/goipa/e2e/ironiclab"
)

// TestMain lets the test binary serve as the lab's chroot helper, which
// runs Ironic 35 in its root.
func TestMain(m *testing.M) {
	ironiclab.RunChrootHelper()
	os.Exit(m.Run())
}
