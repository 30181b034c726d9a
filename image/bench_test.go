package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goipa/goipa/image/disk"
	"github.com/goipa/goipa/image/download"
	"github.com/goipa/goipa/tstest/looptest"
)

// TestBench is `make bench`'s image part: goipa and the reference tool write
// the same image to the same loop device, side by side in one run, and the
// ratios are printed. It needs root and GOIPA_BENCH=1.
//
// Each pair runs benchRounds times, alternating, and each side's best time
// counts, so a burst of load elsewhere on the machine hits neither side
// alone. Every timed run starts from the same state: the page cache synced
// (writeback of the image files just made does not land in a run) and the
// loop device discarded, as the bench's fresh sparse file is at first.
// Without the discard, whoever runs after the other writes over the extents
// it left: qemu-img overwrites goipa's output in place, while goipa first
// zeroes the device, which on a loop device frees those extents (costly) and
// makes every later write allocate again.
//
// Each image also gets a floor row: goipa's download and checksum alone,
// into io.Discard, with the deploy's download options and the same server,
// best of the same rounds. Reference seconds over floor seconds is the best
// ratio this machine allows while the network and the hash cost what they do.
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

	raw := filepath.Join(dir, "random.raw")
	benchRandomFile(t, raw, 1<<30)
	rawSum := fileSHA256(t, raw)
	ddSec, ddCPU, g, fl := best(t, loop, func() float64 {
		return timeCmd(t, "dd", "if="+raw, "of="+loop, "bs=4M", "oflag=direct", "conv=fsync", "status=none")
	}, func(floor bool) childResult { return benchChild(t, raw, rawSum, loop, "raw", floor) })
	row("raw 1 GiB random", "dd oflag=direct bs=4M", ddSec, ddCPU, g)
	floorRow("raw 1 GiB random", ddSec, fl)

	sparse := filepath.Join(dir, "sparse.raw")
	benchSparseFile(t, sparse, 4<<30, 512<<20)
	for _, c := range []struct{ name, flags string }{{"qcow2 4 GiB/512 MiB data", ""}, {"qcow2 -c 4 GiB/512 MiB data", "-c"}} {
		q := filepath.Join(dir, "img.qcow2")
		args := []string{"convert", "-f", "raw", "-O", "qcow2"}
		if c.flags != "" {
			args = append(args, c.flags)
		}
		if out, err := exec.Command("qemu-img", append(args, sparse, q)...).CombinedOutput(); err != nil {
			t.Fatalf("qemu-img: %v %s", err, out)
		}
		qSum := fileSHA256(t, q)
		qSec, qCPU, g, fl := best(t, loop, func() float64 {
			return timeCmd(t, "qemu-img", "convert", "-n", "-t", "none", "-W", "-f", "qcow2", "-O", "raw", q, loop)
		}, func(floor bool) childResult { return benchChild(t, q, qSum, loop, "qcow2", floor) })
		row(c.name, "qemu-img convert -t none -W (local file)", qSec, qCPU, g)
		floorRow(c.name, qSec, fl)
	}

	// xz -T2: the multi-block file IPA's users make; the reference decodes
	// a local file into dd, goipa downloads, hashes and decodes it.
	x := filepath.Join(dir, "xz.raw")
	benchSparseFile(t, x, 1<<30, 512<<20)
	if out, err := exec.Command("xz", "-T2", "-6", "-f", x).CombinedOutput(); err != nil {
		t.Fatalf("xz: %v %s", err, out)
	}
	x += ".xz"
	xSum := fileSHA256(t, x)
	xSec, xCPU, g, fl := best(t, loop, func() float64 {
		return timePipe(t, []string{"xz", "-dc", x}, []string{"dd", "of=" + loop, "bs=4M", "iflag=fullblock", "oflag=direct", "conv=fsync", "status=none"})
	}, func(floor bool) childResult { return benchChild(t, x, xSum, loop, "raw", floor) })
	row("xz -T2 -6 raw 1 GiB/512 MiB data", "xz -dc | dd oflag=direct (local file)", xSec, xCPU, g)
	floorRow("xz raw 1 GiB", xSec, fl)
}

// timePipe runs a | b and returns the seconds it took.
func timePipe(t *testing.T, a, b []string) float64 {
	t.Helper()
	start := time.Now()
	ca, cb := exec.Command(a[0], a[1:]...), exec.Command(b[0], b[1:]...)
	out, err := ca.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cb.Stdin = out
	if err := cb.Start(); err != nil {
		t.Fatal(err)
	}
	if err := ca.Run(); err != nil {
		t.Fatalf("%s: %v", a[0], err)
	}
	if err := cb.Wait(); err != nil {
		t.Fatalf("%s: %v", b[0], err)
	}
	return time.Since(start).Seconds()
}

// benchRounds is how many times each side of a pair runs.
const benchRounds = 3

// best runs the reference, goipa and goipa's floor (download and checksum
// only) benchRounds times, alternating, each write on a discarded loop
// device, and returns each one's fastest run (goipa's peak RSS is the
// highest seen).
func best(t *testing.T, loop string, ref func() float64, goipa func(floor bool) childResult) (refSec, refCPU float64, g, fl childResult) {
	prep := func() {
		if out, err := exec.Command("blkdiscard", loop).CombinedOutput(); err != nil {
			t.Fatalf("blkdiscard: %v %s", err, out)
		}
		syscall.Sync()
	}
	refSec, g, fl = math.Inf(1), childResult{Seconds: math.Inf(1)}, childResult{Seconds: math.Inf(1)}
	for range benchRounds {
		prep()
		busy := machineBusy(t)
		if sec := ref(); sec < refSec {
			refSec, refCPU = sec, machineBusy(t)-busy
		}
		prep()
		r := goipa(false)
		rss := max(g.MaxRSS, r.MaxRSS)
		if r.Seconds < g.Seconds {
			g = r
		}
		g.MaxRSS = rss
		if r := goipa(true); r.Seconds < fl.Seconds {
			fl = r
		}
	}
	return refSec, refCPU, g, fl
}

type childResult struct {
	Seconds float64 `json:"seconds"`
	Bytes   int64   `json:"bytes"`
	// CPU is how long the machine's CPUs were busy during the deploy: the
	// agent, the image server and the kernel (TCP, the loop device).
	CPU    float64 `json:"cpu"`
	MaxRSS int64   // KiB: the child's VmHWM (its rusage would count the parent's pages at fork)
}

// row prints a pair and the CPU each side kept the machine busy: on a
// machine of n cores no side can finish faster than its CPU ÷ n.
func row(name, ref string, refSec, refCPU float64, g childResult) {
	fmt.Printf("BENCH %-30s goipa %6.2f s (%7.1f MB/s)  %s %6.2f s  ratio %.2f  goipa peak RSS %d MiB  machine CPU goipa %.2f s, reference %.2f s (%d cores)\n",
		name, g.Seconds, float64(g.Bytes)/1e6/g.Seconds, ref, refSec, refSec/g.Seconds, g.MaxRSS/1024, g.CPU, refCPU, runtime.NumCPU())
}

// machineBusy is how long the machine's CPUs have been busy so far (not
// idle, not waiting for I/O), from /proc/stat in USER_HZ ticks.
func machineBusy(t testing.TB) float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal …
	if len(f) < 9 || f[0] != "cpu" {
		t.Fatalf("/proc/stat: %q", line)
	}
	var busy float64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			t.Fatal(err)
		}
		busy += v
	}
	return busy / 100
}

// floorRow prints the floor of an image: download and checksum only, and
// the ratio it allows.
func floorRow(name string, refSec float64, fl childResult) {
	fmt.Printf("BENCH floor %-30s download+checksum only %6.2f s (%7.1f MB/s)  ratio ceiling %.2f (reference / floor)  machine CPU %.2f s\n",
		name, fl.Seconds, float64(fl.Bytes)/1e6/fl.Seconds, refSec/fl.Seconds, fl.CPU)
}

// benchChild deploys the image from an HTTP server on 127.0.0.1 in a child
// process, so its peak RSS is the deploy's alone; with floor, the child
// only downloads and verifies it.
func benchChild(t *testing.T, image, sum, loop, format string, floor bool) childResult {
	t.Helper()
	// The image server runs here, not in the child: its CPU is not the
	// agent's. Each request gets its own file, served with sendfile.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(image)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer f.Close()
		http.ServeContent(w, r, "img", time.Unix(1700000000, 0), f)
	}))
	defer srv.Close()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestBenchChild$", "-test.v")
	cmd.Env = append(os.Environ(), "GOIPA_BENCH_CHILD=1", "GOIPA_BENCH_URL="+srv.URL+"/img", "GOIPA_BENCH_TARGET="+loop,
		"GOIPA_BENCH_FORMAT="+format, "GOIPA_BENCH_SHA256="+sum)
	if floor {
		cmd.Env = append(cmd.Env, "GOIPA_BENCH_FLOOR=1")
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bench child: %v\n%s", err, out)
	}
	var r childResult
	for _, l := range strings.Split(string(out), "\n") {
		if s, ok := strings.CutPrefix(l, "CHILD "); ok {
			if err := json.Unmarshal([]byte(s), &r); err != nil {
				t.Fatal(err)
			}
		}
	}
	return r
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
	start, busy := time.Now(), machineBusy(t)
	var bytes int64
	if os.Getenv("GOIPA_BENCH_FLOOR") != "" {
		n, err := benchFloor(context.Background(), d, in)
		if err != nil {
			t.Fatal(err)
		}
		bytes = n
	} else {
		res, err := d.Write(context.Background(), in, os.Getenv("GOIPA_BENCH_TARGET"), "")
		if err != nil {
			t.Fatal(err)
		}
		bytes = res.Stats.Image
	}
	b, _ := json.Marshal(childResult{Seconds: time.Since(start).Seconds(), Bytes: bytes, CPU: machineBusy(t) - busy,
		MaxRSS: peakRSS(t) >> 10})
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

// fileSHA256 is the hex SHA-256 of the file at path, the checksum Ironic
// would pass.
func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func benchLoop(t *testing.T, backing string, size int64) string {
	t.Helper()
	f, err := os.Create(backing)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(size)
	f.Close()
	dev := looptest.Attach(t, backing, "--direct-io=on")
	// The disk package refuses anything with holders or mounts; a fresh
	// loop device has neither.
	if _, err := disk.Open(dev, disk.Options{}); err != nil {
		t.Fatal(err)
	}
	return dev
}

func benchRandomFile(t *testing.T, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := rand.NewChaCha8([32]byte{1})
	buf := make([]byte, 4<<20)
	for n := int64(0); n < size; n += int64(len(buf)) {
		r.Read(buf)
		if _, err := f.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
}

// benchSparseFile writes data bytes in 1 MiB pieces spread over a sparse
// file of the given size. Each 4 KiB block is half random, half zeros: the
// data compresses about 2:1, like an OS image, so `-c` images hold real
// compressed clusters (random data would be stored uncompressed).
func benchSparseFile(t *testing.T, path string, size, data int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Truncate(size)
	r := rand.NewChaCha8([32]byte{2})
	buf := make([]byte, 1<<20)
	step := size / (data / int64(len(buf)))
	for off := int64(0); off+int64(len(buf)) <= size; off += step {
		r.Read(buf)
		for b := 0; b < len(buf); b += 4096 {
			clear(buf[b+2048 : b+4096])
		}
		if _, err := f.WriteAt(buf, off); err != nil {
			t.Fatal(err)
		}
	}
}

func timeCmd(t *testing.T, name string, args ...string) float64 {
	t.Helper()
	start := time.Now()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v %s", name, err, out)
	}
	return time.Since(start).Seconds()
}
