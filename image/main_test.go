package image

import (
	"os"
	"testing"

	"github.com/goipa/goipa/tstest/ipa13"
)

// TestMain lets the test binary serve as the sandbox helper that runs IPA
// 13 for TestBench.
func TestMain(m *testing.M) {
	ipa13.RunHelper()
	os.Exit(m.Run())
}
