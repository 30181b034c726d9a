package looptest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	var dev, backing string
	t.Run("attach", func(t *testing.T) {
		dev, backing = New(t, 8<<20, "--sector-size", "4096")
		if !loopName.MatchString(dev) {
			t.Fatalf("New gave %q", dev)
		}
		if got := sysfs(t, dev, "loop/backing_file"); got != backing {
			t.Errorf("%s is backed by %q, want %q", dev, got, backing)
		}
		if got := sysfs(t, dev, "queue/logical_block_size"); got != "4096" {
			t.Errorf("%s has %s-byte sectors, want the 4096 asked for", dev, got)
		}
		if got := sysfs(t, dev, "size"); got != "16384" { // 512-byte units
			t.Errorf("%s has %s sectors of 512 bytes, want 16384 (8 MiB)", dev, got)
		}
	})
	if dev == "" {
		return // skipped
	}
	b, err := os.ReadFile(filepath.Join("/sys/block", filepath.Base(dev), "loop", "backing_file"))
	if err == nil && strings.TrimSpace(string(b)) == backing {
		t.Errorf("%s still attached to %s after the test's cleanup", dev, backing)
	}
}

func sysfs(t *testing.T, dev, attr string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/sys/block", filepath.Base(dev), attr))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
