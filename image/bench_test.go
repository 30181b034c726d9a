package image

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goipa/goipa/image/download"
	"github.com/goipa/goipa/tstest/ipa13"
)

// TestBench is `make bench`'s image part: goipa, IPA 13.0.0 (Debian
// forky's, a sandboxed host process, see tstest/ipa13) and the tool a user
// would reach for (qemu-img's curl driver for qcow2, curl into dd for raw)
// write the same image, served over HTTP from this process, to the same
// loop device, and the ratios are printed. It needs root and GOIPA_BENCH=1;
// IPA runs when GOIPA_IRONIC35_ROOT names the forky root.
//
// Each contender runs benchRounds times, alternating, and its best time
// counts, so a burst of load elsewhere on the machine hits no side alone.
// Every write starts from the same state: the page cache synced and the
// loop device discarded, as the bench's fresh sparse file is at first.
//
// Each row also has goipa's limit on this machine, measured in the same
// rounds: the larger of its download-and-checksum floor (the deploy's
// download into io.Discard) and the device's write floor (the image's data
// extents written from memory with O_DIRECT).
func TestBench(t *testing.T) {
	if os.Getenv("GOIPA_BENCH") == "" {
		t.Skip("set GOIPA_BENCH=1 (make bench)")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for a loop device")
	}
	// The ratios depend on what else the machine runs: say so.
	load := func() string { b, _ := os.ReadFile("/proc/loadavg"); return strings.TrimSpace(string(b)) }
	fmt.Printf("BENCH load average at start: %s\n", load())
	defer func() { fmt.Printf("BENCH load average at end: %s\n", load()) }()
	dir := t.TempDir()
	loop := benchLoop(t, filepath.Join(dir, "target"), 5<<30)
	var ipa *ipa13.Agent
	if root := os.Getenv("GOIPA_IRONIC35_ROOT"); root != "" {
		ipa = ipa13.Start(t, root, loop)
	}
	for _, img := range benchImages(t, dir) {
		benchRow(t, img, loop, ipa)
	}
}

// benchRounds is how many times each contender runs.
const benchRounds = 3

// benchRow measures one image and prints its row.
func benchRow(t *testing.T, img *benchImage, loop string, ipa *ipa13.Agent) {
	srv := newBenchServer(img.file)
	defer srv.Close()
	url := srv.url(t, "127.0.0.1")
	prep := func() {
		benchDiscard(t, loop)
		syscall.Sync()
	}
	// Each side keeps its fastest time and the highest peak seen.
	better := func(a, b run) run { return run{Seconds: min(a.Seconds, b.Seconds), Peak: max(a.Peak, b.Peak)} }
	inf := run{Seconds: math.Inf(1)}
	peer, agent, g, dl, wr := inf, inf, inf, inf, math.Inf(1)
	hangs := 0 // the peer's runs killed after peerLimit, run again
	peerCmd := peerCmds(img, url, loop)
	for i := range benchRounds {
		// A hung peer gets one more try per round.
		for range 2 {
			prep()
			r, hung := runPipeline(t, peerCmd)
			if !hung {
				peer = better(peer, r)
				break
			}
			hangs++
		}
		if ipa != nil && img.ipa {
			prep()
			agent = better(agent, ipaWrite(t, ipa, img, fmt.Sprintf("bench-%s-%d", img.key, i), url, loop))
		}
		prep()
		g = better(g, benchChild(t, childCmd(url, img, loop, false)))
		dl = better(dl, benchChild(t, childCmd(url, img, loop, true)))
		prep()
		wr = min(wr, writeFloor(t, img.raw, loop))
	}
	limit := max(dl.Seconds, wr)
	mib := func(b int64) int64 { return b >> 20 }
	ipaCol := "IPA 13 n/a"
	if agent.Seconds < math.Inf(1) {
		ipaCol = fmt.Sprintf("IPA 13 %.2f s (peak %d MiB) goipa÷IPA %.2f", agent.Seconds, mib(agent.Peak), g.Seconds/agent.Seconds)
	}
	peerCol := fmt.Sprintf("%s %.2f s (peak %d MiB) goipa÷peer %.2f", img.peer(), peer.Seconds, mib(peer.Peak), g.Seconds/peer.Seconds)
	if peer.Seconds == math.Inf(1) {
		peerCol = img.peer() + " never finished"
	}
	if hangs > 0 {
		peerCol += fmt.Sprintf(" (hung %d times: killed after %v, run again)", hangs, peerLimit)
	}
	fmt.Printf("BENCH %s: goipa %.2f s (%.0f MB/s, peak %d MiB) | %s | %s | limit %.2f s (download+sha256 %.2f s, device write %.2f s) goipa÷limit %.2f\n",
		img.name, g.Seconds, float64(img.size)/1e6/g.Seconds, mib(g.Peak), ipaCol, peerCol, limit, dl.Seconds, wr, g.Seconds/limit)
}

// benchDiscard discards the loop device, as a fresh sparse file is. Its
// exclusive open fails while udev or the kernel's partition scan still
// holds a device just attached or written: it tries again for a while.
func benchDiscard(t *testing.T, loop string) {
	t.Helper()
	for i := 0; ; i++ {
		out, err := exec.Command("blkdiscard", loop).CombinedOutput()
		if err == nil {
			return
		}
		if i == 50 || !strings.Contains(string(out), "busy") {
			t.Fatalf("blkdiscard %s: %v %s", loop, err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type childResult struct {
	Seconds float64 `json:"seconds"`
	MaxRSS  int64   // KiB: the child's VmHWM (its rusage would count the parent's pages at fork)
}

// childCmd deploys the image at url in a child process, so its peak RSS
// is the deploy's alone; with floor, the child only downloads and verifies
// it. GOIPA_BENCH_STREAMS in its environment sets its download streams;
// with netns, it runs in that network namespace.
func childCmd(url string, img *benchImage, loop string, floor bool, netns ...string) *exec.Cmd {
	argv := []string{os.Args[0], "-test.run", "^TestBenchChild$", "-test.v"}
	if len(netns) > 0 {
		argv = append([]string{"ip", "netns", "exec", netns[0]}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "GOIPA_BENCH_CHILD=1", "GOIPA_BENCH_URL="+url, "GOIPA_BENCH_TARGET="+loop,
		"GOIPA_BENCH_FORMAT="+img.format, "GOIPA_BENCH_SHA256="+img.sum)
	if floor {
		cmd.Env = append(cmd.Env, "GOIPA_BENCH_FLOOR=1")
	}
	cmd.Stderr = os.Stderr
	return cmd
}

// benchChild runs a child and returns its result.
func benchChild(t *testing.T, cmd *exec.Cmd) run {
	t.Helper()
	r, err := childRun(cmd)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func childRun(cmd *exec.Cmd) (run, error) {
	out, err := cmd.Output()
	if err != nil {
		return run{}, fmt.Errorf("bench child: %v\n%s", err, out)
	}
	var r childResult
	for _, l := range strings.Split(string(out), "\n") {
		if s, ok := strings.CutPrefix(l, "CHILD "); ok {
			if err := json.Unmarshal([]byte(s), &r); err != nil {
				return run{}, err
			}
		}
	}
	return run{Seconds: r.Seconds, Peak: r.MaxRSS << 10}, nil
}

func TestBenchChild(t *testing.T) {
	if os.Getenv("GOIPA_BENCH_CHILD") == "" {
		t.Skip("run by TestBench")
	}
	log := quietLog()
	if os.Getenv("GOIPA_BENCH_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if p := os.Getenv("GOIPA_BENCH_PROFILE"); p != "" {
		f, _ := os.Create(p)
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if p := os.Getenv("GOIPA_BENCH_TRACE"); p != "" {
		f, _ := os.Create(p)
		trace.Start(f)
		defer trace.Stop()
	}
	debug.SetMemoryLimit(MemoryLimit) // as cmd/goipa
	d := &Deployer{Log: log, Download: download.Options{Retries: 2}, PermittedFormats: []string{"raw", "qcow2"}}
	if n := os.Getenv("GOIPA_BENCH_STREAMS"); n != "" {
		d.Download.Streams, _ = strconv.Atoi(n)
	}
	in := &Info{ID: "bench", URLs: []string{os.Getenv("GOIPA_BENCH_URL")}, DiskFormat: os.Getenv("GOIPA_BENCH_FORMAT"),
		OSHashAlgo: "sha256", OSHashValue: os.Getenv("GOIPA_BENCH_SHA256")}
	start := time.Now()
	if os.Getenv("GOIPA_BENCH_FLOOR") != "" {
		if _, err := benchFloor(context.Background(), d, in); err != nil {
			t.Fatal(err)
		}
	} else if _, err := d.Write(context.Background(), in, os.Getenv("GOIPA_BENCH_TARGET"), ""); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(childResult{Seconds: time.Since(start).Seconds(), MaxRSS: peakRSS(t) >> 10})
	fmt.Printf("CHILD %s\n", b)
}

// benchFloor downloads and verifies in's image into io.Discard with the
// download options the deploy would use, and returns its size.
func benchFloor(ctx context.Context, d *Deployer, in *Info) (int64, error) {
	opts := d.downloadOptions(in)
	if in.DiskFormat == string(QCOW2) {
		opts = qcow2Download(opts)
	}
	v, err := download.ParseChecksum(ctx, download.ChecksumSpec{OSHashAlgo: in.OSHashAlgo, OSHashValue: in.OSHashValue,
		ImageURL: in.URLs[0]}, opts)
	if err != nil {
		return 0, err
	}
	s, err := download.Open(ctx, opts)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	s.Hash(v.Hash())
	n, err := io.Copy(io.Discard, s)
	if err != nil {
		return n, err
	}
	sum, err := s.Sum()
	if err != nil {
		return n, err
	}
	return n, v.Verify(sum)
}
