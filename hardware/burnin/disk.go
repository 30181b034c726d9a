package burnin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/goipa/goipa/internal/blockdev"
	"github.com/goipa/goipa/internal/directio"

	"github.com/goipa/goipa/hardware/erase"
)

// DiskResult is one device's outcome of burnin_disk.
type DiskResult struct {
	Device   string `json:"device"`
	Status   string `json:"status"` // passed, failed or skipped
	Reason   string `json:"reason,omitempty"`
	Passes   int    `json:"passes"`
	Written  int64  `json:"bytes_written"`
	Verified int64  `json:"bytes_verified"`
}

// Disk statuses.
const (
	StatusPassed  = "passed"
	StatusFailed  = "failed"
	StatusSkipped = "skipped"
)

const (
	diskChunk     = 1 << 20
	defaultWindow = 256 << 20
)

// Disk is burnin_disk (IPA runs fio's verified readwrite job): every device
// is first checked as the erase steps check it (erase.Check with opts);
// virtual media, RAID members and read-only devices are skipped, any other
// refusal (mounted, in use, shared-disk filesystem) fails the step before
// anything is written. Then all devices are burnt in at once: each pass
// writes a fresh position-dependent pattern over the whole device, a
// window at a time, and reads every window back with O_DIRECT to compare.
// Passes are o.Loops, or as many as fit in o.Runtime. Every device gets a
// result; the error joins the failed devices' reasons.
func Disk(ctx context.Context, devs []erase.Device, check erase.Options, o DiskOptions, log *slog.Logger) ([]DiskResult, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	results := make([]DiskResult, len(devs))
	var todo []int
	var refused []error
	for i, d := range devs {
		results[i].Device = d.Path
		err := erase.Check(d, check)
		switch {
		case err == nil:
			todo = append(todo, i)
		case errors.Is(err, erase.ErrVirtualMedia), errors.Is(err, erase.ErrRAIDMember), errors.Is(err, erase.ErrReadOnly):
			log.Info("burn-in skips device", "device", d.Path, "error", err)
			results[i].Status, results[i].Reason = StatusSkipped, err.Error()
		default:
			refused = append(refused, err)
		}
	}
	if len(refused) > 0 {
		return nil, fmt.Errorf("refusing to burn in: %w", errors.Join(refused...))
	}
	if len(todo) == 0 {
		return results, ErrNoDevices
	}
	var wg sync.WaitGroup
	errs := make([]error, len(devs))
	for _, i := range todo {
		wg.Go(func() {
			errs[i] = burnDisk(ctx, devs[i].Path, o, &results[i])
			if errs[i] != nil {
				results[i].Status, results[i].Reason = StatusFailed, errs[i].Error()
				log.Error("disk burn-in failed", "device", devs[i].Path, "error", errs[i])
				return
			}
			results[i].Status = StatusPassed
			log.Info("disk burn-in passed", "device", devs[i].Path, "passes", results[i].Passes, "bytes", results[i].Verified)
		})
	}
	wg.Wait()
	return results, errors.Join(errs...)
}

// burnDisk runs the passes on one device, held open exclusively so nothing
// mounts or assembles it meanwhile.
func burnDisk(ctx context.Context, path string, o DiskOptions, res *DiskResult) error {
	d, err := openDisk(path)
	if err != nil {
		return err
	}
	defer d.File.Close()
	window := o.window
	if window == 0 {
		window = defaultWindow
	}
	var deadline time.Time
	if o.Runtime > 0 {
		deadline = time.Now().Add(o.Runtime)
	}
	expired := func() bool { return !deadline.IsZero() && time.Now().After(deadline) }
	buf, want := directio.Buffer(diskChunk), make([]byte, diskChunk)
	for pass := 1; ; pass++ {
		p := newPattern()
		for off := int64(0); off < d.Size; off += window {
			n := min(window, d.Size-off)
			written, err := d.write(ctx, p, buf, off, n, expired)
			res.Written += written
			if err != nil {
				return err
			}
			if o.beforeCheck != nil {
				o.beforeCheck(path, off, written)
			}
			verified, err := d.verify(ctx, p, buf, want, off, written)
			res.Verified += verified
			if err != nil {
				return fmt.Errorf("pass %d: %w", pass, err)
			}
			if expired() {
				return nil
			}
		}
		res.Passes = pass
		if deadline.IsZero() && pass >= o.Loops {
			return nil
		}
	}
}

// disk is a device burn-in writes and reads back, opened as erase opens it.
type disk struct{ *blockdev.File }

func openDisk(path string) (*disk, error) {
	d, err := blockdev.Open(path, false)
	if err != nil {
		return nil, err
	}
	return &disk{d}, nil
}

// write writes the pattern over [off, off+n), stopping early (at a chunk
// boundary) once stop says so, and makes it durable. It returns how much
// it wrote.
func (d *disk) write(ctx context.Context, p *pattern, buf []byte, off, n int64, stop func() bool) (int64, error) {
	var done int64
	for done < n {
		if err := ctx.Err(); err != nil {
			return done, err
		}
		c := min(int64(len(buf)), n-done)
		p.fill(buf[:c], off+done)
		if _, err := d.File.WriteAt(buf[:c], off+done); err != nil {
			return done, fmt.Errorf("write %s at %d: %w", d.Path, off+done, err)
		}
		done += c
		if stop() {
			break
		}
	}
	if err := d.File.Sync(); err != nil {
		return done, fmt.Errorf("fsync %s: %w", d.Path, err)
	}
	return done, nil
}

// verify reads [off, off+n) back and compares it with the pattern.
func (d *disk) verify(ctx context.Context, p *pattern, buf, want []byte, off, n int64) (int64, error) {
	if !d.Direct {
		if err := unix.IoctlSetInt(d.Fd, unix.BLKFLSBUF, 0); err != nil {
			return 0, fmt.Errorf("BLKFLSBUF %s: %w", d.Path, err)
		}
	}
	var done int64
	for done < n {
		if err := ctx.Err(); err != nil {
			return done, err
		}
		c := min(int64(len(buf)), n-done)
		if _, err := d.File.ReadAt(buf[:c], off+done); err != nil {
			return done, fmt.Errorf("read %s at %d: %w", d.Path, off+done, err)
		}
		p.fill(want[:c], off+done)
		if err := mismatch(buf[:c], want[:c], off+done); err != nil {
			return done, fmt.Errorf("%s: %w", d.Path, err)
		}
		done += c
	}
	return done, nil
}
