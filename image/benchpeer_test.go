package image

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/goipa/goipa/internal/directio"
	"github.com/goipa/goipa/tstest/ipa13"
	"github.com/goipa/goipa/tstest/peakmem"
)

// run is one timed run of a contender: seconds and peak memory in bytes
// (resident pages of its processes plus what it kept in tmpfs).
type run struct {
	Seconds float64
	Peak    int64
}

// peerCmds is the tool a user would reach for instead of an agent, reading
// the image over HTTP as the agents do: qemu-img's curl driver for qcow2,
// curl into dd (and xz) for raw.
func peerCmds(img *benchImage, url, loop string) [][]string {
	dd := []string{"dd", "of=" + loop, "bs=4M", "iflag=fullblock", "oflag=direct", "conv=fsync", "status=none"}
	if img.sparse {
		dd[len(dd)-2] = "conv=fsync,sparse"
	}
	curl := []string{"curl", "-sSf", url}
	switch {
	case img.format == "qcow2":
		src, _ := json.Marshal(map[string]any{"file": map[string]any{"driver": "http", "url": url}})
		// Without -W: qemu 7.2's curl driver hangs now and then with
		// out-of-order writes (about one run in six here).
		return [][]string{{"qemu-img", "convert", "-n", "-t", "none", "-f", "qcow2", "-O", "raw", "json:" + string(src), loop}}
	case img.xz:
		return [][]string{curl, {"xz", "-dc"}, dd}
	}
	return [][]string{curl, dd}
}

// peerLimit is how long a peer may take before the bench calls it hung
// (qemu-img's curl driver has waited forever, most on compressed images).
const peerLimit = time.Minute

// runPipeline runs cmds as a pipeline and returns its time and the sum of
// each process's peak memory; hung reports that it was killed after
// peerLimit.
func runPipeline(t *testing.T, cmds [][]string) (r run, hung bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), peerLimit)
	defer cancel()
	procs := make([]*exec.Cmd, len(cmds))
	for i, c := range cmds {
		procs[i] = exec.CommandContext(ctx, c[0], c[1:]...)
		procs[i].Stderr = os.Stderr
		if i > 0 {
			out, err := procs[i-1].StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			procs[i].Stdin = out
		}
	}
	start := time.Now()
	stops := make([]func() int64, len(procs))
	for i := len(procs) - 1; i >= 0; i-- {
		if err := procs[i].Start(); err != nil {
			t.Fatal(err)
		}
		stops[i] = peakmem.Watch(procs[i].Process.Pid)
	}
	var failed error
	for i, p := range procs {
		if err := p.Wait(); err != nil && failed == nil {
			failed = fmt.Errorf("%v: %w", cmds[i], err)
		}
	}
	r = run{Seconds: time.Since(start).Seconds()}
	for _, stop := range stops {
		r.Peak += stop()
	}
	if ctx.Err() != nil {
		return r, true
	}
	if failed != nil {
		t.Fatal(failed)
	}
	return r, false
}

// ipaWrite has IPA 13 write the image with the deploy step write_image,
// as Ironic asks it to; its peak counts the agent, the tools it starts
// (but the sandbox's lsblk filter, a Go binary ten times lsblk's size) and
// its TMPDIR tmpfs.
func ipaWrite(t *testing.T, a *ipa13.Agent, img *benchImage, id, url, loop string) run {
	t.Helper()
	info := map[string]any{"id": id, "urls": []string{url}, "disk_format": img.format, "container_format": "bare",
		"stream_raw_images": true, "os_hash_algo": "sha256", "os_hash_value": img.sum, "image_type": "whole-disk"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	stop := peakmem.Tree{Pid: a.Pid, Tmpfs: []string{a.TmpDir()}, Skip: "lsblk"}.Watch()
	start := time.Now()
	err := a.WriteImage(ctx, ipa13.Node(loop), info)
	r := run{Seconds: time.Since(start).Seconds(), Peak: stop()}
	if err != nil {
		t.Fatal(err)
	}
	// IPA leaves the image it cached in TMPDIR; one agent serves every
	// run, where a ramdisk's serves one deploy: the next run starts clean.
	tmp, _ := os.ReadDir(a.TmpDir())
	for _, e := range tmp {
		if err := os.RemoveAll(filepath.Join(a.TmpDir(), e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// writeFloor is the device's floor for an image: the time to write its
// data extents (those of its raw form) to the loop device with O_DIRECT
// from one buffer in memory, with nothing to download, hash or decode.
func writeFloor(t *testing.T, raw, loop string) float64 {
	t.Helper()
	src, err := os.Open(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(loop, os.O_WRONLY|unix.O_DIRECT, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	buf := directio.Buffer(4 << 20)
	fd := int(src.Fd())
	start := time.Now()
	for off := int64(0); ; {
		data, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if err != nil { // ENXIO: no data past off
			break
		}
		hole, err := unix.Seek(fd, data, unix.SEEK_HOLE)
		if err != nil {
			t.Fatal(err)
		}
		data &^= directio.Align - 1
		for p := data; p < hole; p += int64(len(buf)) {
			n := min(int64(len(buf)), (hole-p+directio.Align-1)&^(directio.Align-1))
			if _, err := dst.WriteAt(buf[:n], p); err != nil {
				t.Fatal(err)
			}
		}
		off = hole
	}
	if err := dst.Sync(); err != nil {
		t.Fatal(err)
	}
	return time.Since(start).Seconds()
}
