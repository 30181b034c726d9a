package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/goipa/goipa/e2e/ironiclab"
	"github.com/goipa/goipa/qemu"
)

// benchEnv enables the benchmark (`make bench` sets it).
const benchEnv = "GOIPA_BENCH"

// TestRealIronicBench prints the `make bench` rows for a whole-disk deploy
// of a 64 MiB raw image with each Ironic release (IPA 9.4 with 21.4: 12–14 s
// from the agent's start to active). It needs GOIPA_BENCH=1.
func TestRealIronicBench(t *testing.T) {
	if os.Getenv(benchEnv) == "" {
		t.Skipf("set %s=1 to measure", benchEnv)
	}
	forEachRelease(t, testRealIronicBench)
}

func testRealIronicBench(t *testing.T, rel ironiclab.Release) {
	w := newWorld(t, ironiclab.Options{Release: rel})
	img := qemu.DiskImage(64<<20, 3)
	url, sum := w.publish(t, "disk.raw", img)
	target := qemu.SparseDisk(t, 2<<30)
	m := w.enroll(t, ironiclab.NodeSpec{RootDevice: map[string]any{"serial": "target"}}, []qemu.Disk{{Path: target, Serial: "target"}})
	m.poll = 50 * time.Millisecond
	var heartbeat time.Time
	m.watch = func(n *ironiclab.Node) {
		if u, _ := n.DriverInternalInfo["agent_url"].(string); u != "" && heartbeat.IsZero() {
			heartbeat = time.Now()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	start := time.Now()
	if _, err := m.deployImage(ctx, url, sum, "raw", nil); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	end := time.Now()
	if !bytes.Equal(qemu.ReadAt(t, target, 0, len(img)), img) {
		t.Fatal("the target disk does not hold the image")
	}
	if heartbeat.IsZero() {
		t.Fatal("never saw the agent's first heartbeat")
	}
	fmt.Printf("BENCH deploy→active (real Ironic %s, 64 MiB raw) %.2f s\t(first heartbeat → active; IPA 12–14 s from its start)\n",
		rel.Version(), end.Sub(heartbeat).Seconds())
	fmt.Printf("BENCH deploy→active incl. ramdisk boot (real Ironic %s, 64 MiB raw) %.2f s\t(provision request → active, QEMU %s)\n",
		rel.Version(), end.Sub(start).Seconds(), qemu.Accel(w.kernel))
}
