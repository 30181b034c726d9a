package image

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/goipa/goipa/image/disk"
	"github.com/goipa/goipa/image/download"
	"github.com/goipa/goipa/qemu"
)

// memoryBudget is the goal for a deploy: peak RSS of the agent.
const memoryBudget = 64 << 20

// TestDeployMemory deploys each format, compression and failure path in a
// child process (the agent's memory limit set, as cmd/goipa does) and
// checks its peak RSS against the budget.
func TestDeployMemory(t *testing.T) {
	for _, tool := range []string{"qemu-img", "xz", "zstd"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	dir := t.TempDir()
	raw := filepath.Join(dir, "disk.raw")
	if err := os.WriteFile(raw, pattern(192<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(name string, args ...string) string {
		t.Helper()
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		return filepath.Join(dir, name)
	}
	gz := filepath.Join(dir, "disk.raw.gz")
	{
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestSpeed)
		data, _ := os.ReadFile(raw)
		zw.Write(data)
		zw.Close()
		os.WriteFile(gz, b.Bytes(), 0o644)
	}
	images := []struct {
		name, file, format string
		badSum             bool
	}{
		{"raw", raw, "raw", false},
		{"gzip", gz, "raw", false},
		{"zstd", run("disk.raw.zst", "zstd", "-q", "-3", "-f", raw, "-o", filepath.Join(dir, "disk.raw.zst")), "raw", false},
		{"xz", run("disk.raw.xz", "xz", "-k", "-f", "-T2", "-3", raw), "raw", false},
		{"qcow2", run("plain.qcow2", "qemu-img", "convert", "-O", "qcow2", raw, filepath.Join(dir, "plain.qcow2")), "qcow2", false},
		{"qcow2 zlib", run("zlib.qcow2", "qemu-img", "convert", "-c", "-O", "qcow2", raw, filepath.Join(dir, "zlib.qcow2")), "qcow2", false},
		{"qcow2 zstd", run("zstd.qcow2", "qemu-img", "convert", "-c", "-O", "qcow2", "-o", "compression_type=zstd", raw, filepath.Join(dir, "zstd.qcow2")), "qcow2", false},
		{"qcow2 512-byte clusters", run("c512.qcow2", "qemu-img", "convert", "-c", "-O", "qcow2", "-o", "cluster_size=512", raw, filepath.Join(dir, "c512.qcow2")), "qcow2", false},
		{"qcow2 bad checksum", filepath.Join(dir, "plain.qcow2"), "qcow2", true},
		{"raw bad checksum", raw, "raw", true},
	}
	for _, im := range images {
		t.Run(im.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.ServeFile(w, r, im.file)
			}))
			defer srv.Close()
			sum := qemu.FileSHA256(t, im.file)
			if im.badSum {
				sum = strings.Repeat("0", 64)
			}
			dev := target(t, 256<<20)
			cmd := exec.Command(os.Args[0], "-test.run", "^TestDeployMemoryChild$")
			cmd.Env = append(os.Environ(), "GOIPA_MEM_CHILD=1", "GOIPA_MEM_URL="+srv.URL+"/"+filepath.Base(im.file),
				"GOIPA_MEM_FORMAT="+im.format, "GOIPA_MEM_SHA256="+sum, "GOIPA_MEM_TARGET="+dev)
			start := time.Now()
			out, err := cmd.CombinedOutput()
			// VmHWM, read by the child at its end: the rusage of a child
			// counts the parent's pages at fork.
			var rss int64
			for _, l := range strings.Split(string(out), "\n") {
				if v, ok := strings.CutPrefix(l, "PEAK "); ok {
					fmt.Sscan(v, &rss)
				}
			}
			t.Logf("%s: peak RSS %.1f MiB in %v", im.name, float64(rss)/(1<<20), time.Since(start).Round(time.Millisecond))
			if ok := !im.badSum; (err == nil) != ok || !strings.Contains(string(out), "DEPLOY ") {
				t.Fatalf("child: %v (want success %v)\n%s", err, ok, out)
			}
			if rss > memoryBudget {
				t.Errorf("peak RSS %.1f MiB, budget %d MiB", float64(rss)/(1<<20), memoryBudget>>20)
			}
		})
	}
}

func TestDeployMemoryChild(t *testing.T) {
	if os.Getenv("GOIPA_MEM_CHILD") == "" {
		t.Skip("run by TestDeployMemory")
	}
	debug.SetMemoryLimit(MemoryLimit) // as cmd/goipa
	d := &Deployer{Log: quietLog(), Download: download.Options{Retries: 1, RetryInterval: 10 * time.Millisecond},
		PermittedFormats: []string{"raw", "qcow2"}, Disk: disk.Options{AllowFile: true}}
	in := &Info{ID: "mem", URLs: []string{os.Getenv("GOIPA_MEM_URL")}, DiskFormat: os.Getenv("GOIPA_MEM_FORMAT"),
		OSHashAlgo: "sha256", OSHashValue: os.Getenv("GOIPA_MEM_SHA256")}
	_, err := d.Write(context.Background(), in, os.Getenv("GOIPA_MEM_TARGET"), "")
	fmt.Printf("DEPLOY %v\nPEAK %d\n", err, peakRSS(t))
	if err != nil {
		t.Fatal(err)
	}
}

// peakRSS is this process's VmHWM in bytes.
func peakRSS(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &kb)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/self/status")
	return 0
}
