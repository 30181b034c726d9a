package e2e

import (
	"os"
	"testing"

	"github.com/goipa/goipa/e2e/ironiclab"
	"github.com/goipa/goipa/tstest/ipa13"
)

// TestMain lets the test binary serve as the lab's chroot helper, which
// runs Ironic 35 in its root, and as IPA 13's sandbox helper.
func TestMain(m *testing.M) {
	ironiclab.RunChrootHelper()
	ipa13.RunHelper()
	os.Exit(m.Run())
}
