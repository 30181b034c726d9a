package disk

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/goipa/goipa/internal/runner"
)

// BenchResult compares Writer with `dd bs=4M oflag=direct conv=fsync`
// writing the same random data to the same target (best of two runs each).
type BenchResult struct {
	Bytes      int64
	DD, Writer time.Duration
}

// DDMBps is dd's throughput in MB/s (10^6 bytes).
func (r *BenchResult) DDMBps() float64 { return float64(r.Bytes) / 1e6 / r.DD.Seconds() }

// WriterMBps is Writer's throughput in MB/s.
func (r *BenchResult) WriterMBps() float64 { return float64(r.Bytes) / 1e6 / r.Writer.Seconds() }

// Ratio is Writer's throughput relative to dd's (the goal is ≥ 0.95).
func (r *BenchResult) Ratio() float64 { return r.DD.Seconds() / r.Writer.Seconds() }

// BenchWrite writes size bytes of random data to target with dd and with
// Writer (fed in 1 MiB reads, like a download) and times both. It destroys
// target's contents, so it only accepts a loop device or a regular file.
func BenchWrite(ctx context.Context, r runner.Runner, target string, size int64) (*BenchResult, error) {
	if err := checkScratchTarget(target); err != nil {
		return nil, err
	}
	src, err := os.CreateTemp("", "goipa-bench-*.raw")
	if err != nil {
		return nil, err
	}
	defer os.Remove(src.Name())
	defer src.Close()
	if _, err := io.CopyN(src, rand.Reader, size); err != nil {
		return nil, err
	}

	res := &BenchResult{Bytes: size, DD: time.Duration(1<<63 - 1), Writer: time.Duration(1<<63 - 1)}
	for range 2 {
		start := time.Now()
		if _, err := r.Run(ctx, runner.Command("dd", "if="+src.Name(), "of="+target,
			"bs=4M", "oflag=direct", "conv=fsync,notrunc", "status=none")); err != nil {
			return nil, err
		}
		res.DD = min(res.DD, time.Since(start))

		start = time.Now()
		if err := benchWriter(ctx, src, target, size); err != nil {
			return nil, err
		}
		res.Writer = min(res.Writer, time.Since(start))
	}
	return res, nil
}

func benchWriter(ctx context.Context, src *os.File, target string, size int64) error {
	d, err := Open(target, Options{AllowFile: true})
	if err != nil {
		return err
	}
	defer d.Close()
	w, err := d.Writer(ctx, WriterOptions{ImageSize: size})
	if err != nil {
		return err
	}
	_, err = io.CopyBuffer(w, io.NewSectionReader(src, 0, size), make([]byte, 1<<20))
	_, ferr := w.Finish()
	return errors.Join(err, ferr)
}

// checkScratchTarget accepts only regular files and loop devices backed by a
// file, never a real disk.
func checkScratchTarget(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.Mode().IsRegular() {
		return nil
	}
	if st.Mode()&os.ModeDevice != 0 {
		rdev := st.Sys().(*syscall.Stat_t).Rdev
		backing := filepath.Join("/sys/dev/block", fmt.Sprintf("%d:%d", unix.Major(rdev), unix.Minor(rdev)), "loop", "backing_file")
		if b, err := os.ReadFile(backing); err == nil && len(b) > 1 {
			return nil
		}
	}
	return fmt.Errorf("%s: refusing to benchmark on anything but a loop device or a regular file", path)
}
