package image

import (
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/goipa/goipa/image/download"
	"github.com/goipa/goipa/qemu"
	"github.com/goipa/goipa/tstest/benchimg"
)

// fleetSize is how many agents deploy at once in TestBenchFleet.
const fleetSize = 8

// TestBenchFleet is `make bench`'s fleet row: fleetSize goipa agents, each
// in its own network namespace with its own loop device, deploy the same
// raw image from one server on the host at once. It prints each node's
// time, the aggregate throughput and the bytes the server sent, beside what
// one client alone gets from the same server: with goipa's default (on
// this short path, one connection per node), with one connection forced,
// and with DefaultStreams parallel Range segments forced, so the default is
// seen not to slow a fleet down. It needs root and GOIPA_BENCH=1.
func TestBenchFleet(t *testing.T) {
	if os.Getenv("GOIPA_BENCH") == "" {
		t.Skip("set GOIPA_BENCH=1 (make bench)")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for loop devices and network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip (iproute2) not installed")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "random.raw")
	benchimg.Random(t, file, 1<<30)
	img := &benchImage{file: file, format: "raw", sum: qemu.FileSHA256(t, file), size: 1 << 30}
	srv := newBenchServer(file)
	defer srv.Close()
	nodes := make([]fleetNode, fleetSize)
	for i := range nodes {
		n := newBenchNode(t, i)
		nodes[i] = fleetNode{ns: n.ns, url: srv.url(t, n.hostIP), loop: benchLoop(t, filepath.Join(dir, fmt.Sprintf("node%d", i)), 2<<30)}
	}
	for _, mode := range []struct{ streams, label string }{
		{"", "default (connections by RTT)"},
		{"1", "one connection per node"},
		{fmt.Sprint(download.DefaultStreams), fmt.Sprintf("%d parallel Range segments per node", download.DefaultStreams)},
	} {
		streams, label := mode.streams, mode.label
		// Alone: node 0 by itself, through the same veth and server.
		alone, fleet := math.Inf(1), math.Inf(1)
		var per []float64
		var sent, reqs int64
		for range benchRounds {
			sec, _ := fleetRun(t, img, nodes[:1], streams)
			alone = min(alone, sec)
			before, beforeReqs := srv.sent.Load(), srv.reqs.Load()
			sec, times := fleetRun(t, img, nodes, streams)
			if sec < fleet {
				fleet, per, sent, reqs = sec, times, srv.sent.Load()-before, srv.reqs.Load()-beforeReqs
			}
		}
		one := float64(img.size) / 1e6 / alone
		agg := float64(img.size*fleetSize) / 1e6 / fleet
		var ts []string
		for _, s := range per {
			ts = append(ts, fmt.Sprintf("%.1f", s))
		}
		fmt.Printf("BENCH fleet of %d, %s: %.2f s for all, per node %s s | aggregate %.0f MB/s, one client alone %.0f MB/s (%.2f s), aggregate ÷ alone %.2f | server sent %d MiB (%.2f × the images) in %d requests\n",
			fleetSize, label, fleet, strings.Join(ts, " "), agg, one, alone, agg/one, sent>>20, float64(sent)/float64(img.size*fleetSize), reqs)
	}
}

type fleetNode struct{ ns, url, loop string }

// fleetRun deploys img on nodes at once, each device discarded first, and
// returns the time until the last finished and each node's own time.
func fleetRun(t *testing.T, img *benchImage, nodes []fleetNode, streams string) (float64, []float64) {
	t.Helper()
	for _, n := range nodes {
		benchDiscard(t, n.loop)
	}
	syscall.Sync()
	per := make([]float64, len(nodes))
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	start := time.Now()
	for i, n := range nodes {
		cmd := childCmd(n.url, img, n.loop, false, n.ns)
		if streams != "" {
			cmd.Env = append(cmd.Env, "GOIPA_BENCH_STREAMS="+streams)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := childRun(cmd)
			per[i], errs[i] = r.Seconds, err
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return time.Since(start).Seconds(), per
}
