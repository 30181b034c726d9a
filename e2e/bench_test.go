package e2e

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goipa/goipa/e2e/ironiclab"
	"github.com/goipa/goipa/hardware"
	"github.com/goipa/goipa/qemu"
	"github.com/goipa/goipa/tstest/benchimg"
	"github.com/goipa/goipa/tstest/ipa13"
	"github.com/goipa/goipa/tstest/looptest"
)

// benchEnv enables the benchmark (`make bench` sets it).
const benchEnv = "GOIPA_BENCH"

// benchRounds is how many deploys each agent makes of each image.
const benchRounds = 3

// TestRealIronicBench prints `make bench`'s real-Ironic rows: Debian
// forky's Ironic 35.0.1 deploys each image to the same 8 GiB sparse loop
// device with goipa and with IPA 13.0.0 as host processes, alternating,
// best of benchRounds: from the provision request to active, the agent
// started when Ironic waits for its call-back (where a ramdisk would have
// booted), without the lab's soft power off wait (Options.NoPowerOffWait).
// goipa runs in this process with the loop device as its disk;
// IPA in its sandbox (tstest/ipa13), which shows it that device alone.
// It needs root, GOIPA_BENCH=1 and GOIPA_IRONIC35_ROOT.
func TestRealIronicBench(t *testing.T) {
	if os.Getenv(benchEnv) == "" {
		t.Skipf("set %s=1 to measure", benchEnv)
	}
	root := ironiclab.Require(t, ironiclab.Ironic35)
	looptest.Need(t)
	dir := t.TempDir()
	random := filepath.Join(dir, "random.raw")
	benchimg.Random(t, random, 1<<30)
	sparse := filepath.Join(dir, "sparse.raw")
	benchimg.Sparse(t, sparse, 4<<30, 512<<20)
	for _, f := range []string{random, sparse} {
		benchimg.GPT(t, f)
	}
	benchimg.QCOW2(t, sparse, filepath.Join(dir, "img.qcow2"), false)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(dir))}
	go srv.Serve(ln)
	defer srv.Close()
	imgURL := "http://" + ln.Addr().String()

	lab := ironiclab.Start(t, ironiclab.Options{Release: ironiclab.Ironic35, ImageURL: imgURL, NoPowerOffWait: true})
	loop, _ := looptest.New(t, 8<<30)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	hint := map[string]any{"name": loop}
	const goipaMAC = "52:54:00:00:b0:01"
	goipaNode, err := lab.Enroll(ctx, ironiclab.NodeSpec{Name: "bench-goipa", MAC: goipaMAC, RootDevice: hint})
	if err != nil {
		t.Fatal(err)
	}
	// IPA looks itself up with the host's NICs.
	ipaNode, err := lab.Enroll(ctx, ironiclab.NodeSpec{Name: "bench-ipa13", MAC: hostMAC(t), RootDevice: hint})
	if err != nil {
		t.Fatal(err)
	}
	disks := func(context.Context) ([]hardware.BlockDevice, error) {
		return []hardware.BlockDevice{{Name: loop, Size: 8 << 30, Type: "disk"}}, nil
	}
	agents := []struct {
		name  string
		node  *ironiclab.Node
		start func(t *testing.T) (stop func())
	}{
		{"goipa", goipaNode, func(t *testing.T) func() {
			startHostAgent(t, ctx, lab.URL, goipaMAC, disks)
			return func() {} // it exits at power off, or with the subtest
		}},
		{"IPA 13", ipaNode, func(t *testing.T) func() { return ipa13.Start(t, root, loop, "--api_url", lab.URL).Stop }},
	}
	for _, im := range []struct{ name, file, raw, format string }{
		{"raw 1 GiB random", "random.raw", random, "raw"},
		{"qcow2 4 GiB / 512 MiB data", "img.qcow2", sparse, "qcow2"},
	} {
		best := []float64{math.Inf(1), math.Inf(1)}
		for round := range benchRounds {
			for i, a := range agents {
				t.Run(fmt.Sprintf("%s/%s/%d", im.file, a.name, round), func(t *testing.T) {
					sec := benchDeploy(t, ctx, lab, a.node, imgURL+"/"+im.file, qemu.FileSHA256(t, filepath.Join(dir, im.file)), im.format,
						loop, a.start)
					// The device holds the image's data (past the GPT,
					// which the agents rewrite).
					if got, want := qemu.ReadAt(t, loop, 64<<10, 960<<10), qemu.ReadAt(t, im.raw, 64<<10, 960<<10); !bytes.Equal(got, want) {
						t.Fatalf("%s did not write %s", a.name, im.file)
					}
					best[i] = min(best[i], sec)
				})
			}
		}
		fmt.Printf("BENCH real Ironic 35, %s: provision request → active: goipa %.2f s | IPA 13 %.2f s | goipa÷IPA %.2f\n",
			im.name, best[0], best[1], best[0]/best[1])
	}
}

// benchDeploy deploys one image with a fresh agent on a discarded device
// and returns the seconds from the provision request to active; the node
// is undeployed again (no cleaning) before it returns.
func benchDeploy(t *testing.T, ctx context.Context, lab *ironiclab.Lab, node *ironiclab.Node, url, sum, format, loop string,
	start func(*testing.T) func()) float64 {
	t.Helper()
	if out, err := exec.Command("blkdiscard", loop).CombinedOutput(); err != nil {
		t.Fatalf("blkdiscard: %v %s", err, out)
	}
	if err := lab.SetInstanceInfo(ctx, node.UUID, map[string]any{"image_source": url, "image_os_hash_algo": "sha256",
		"image_os_hash_value": sum, "image_disk_format": format}); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	if err := lab.Provision(ctx, node.UUID, map[string]any{"target": "active"}, "wait call-back"); err != nil {
		t.Fatal(err)
	}
	stop := start(t)
	_, err := lab.WaitState(ctx, node.UUID, "active")
	sec := time.Since(begin).Seconds()
	stop()
	if err != nil {
		t.Fatal(err)
	}
	if err := lab.Provision(ctx, node.UUID, map[string]any{"target": "deleted"}, "available"); err != nil {
		t.Fatal(err)
	}
	return sec
}

// hostMAC is the address of a host NIC backed by a device, one IPA sends
// at lookup.
func hostMAC(t *testing.T) string {
	t.Helper()
	ifs, _ := filepath.Glob("/sys/class/net/*/device")
	for _, d := range ifs {
		b, err := os.ReadFile(filepath.Join(filepath.Dir(d), "address"))
		if mac := strings.TrimSpace(string(b)); err == nil && mac != "00:00:00:00:00:00" {
			return mac
		}
	}
	t.Skip("no host NIC with a device for IPA's lookup")
	return ""
}
